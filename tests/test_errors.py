"""One base class for user errors, importable from where each class lived before, caught once by the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import agents.llm
import agents.llm.backend
import agents.zoo
import gymnasium_llmconfig
import gymnasium_llmconfig.config_space
import gymnasium_llmconfig.data
import gymnasium_llmconfig.data.sources
import gymnasium_llmconfig.lab.collect.sweep
import gymnasium_llmconfig.registry
import gymnasium_llmconfig.storage
from gymnasium_llmconfig import errors
from gymnasium_llmconfig.lab.cli import app

OLD_HOMES = [
    (gymnasium_llmconfig.registry, "RegistryError", ValueError),
    (gymnasium_llmconfig.config_space, "InvalidConfig", ValueError),
    (gymnasium_llmconfig.storage, "StoreError", ValueError),
    (gymnasium_llmconfig.lab.collect.sweep, "CollectError", ValueError),
    (gymnasium_llmconfig.data.sources, "DataError", RuntimeError),
    (gymnasium_llmconfig.data, "DataNotFoundError", FileNotFoundError),
    (gymnasium_llmconfig.data, "DataIntegrityError", RuntimeError),
    (agents.zoo, "UnknownAgentError", ValueError),
    (agents.llm.backend, "BackendError", RuntimeError),
    (agents.llm, "BackendUnavailable", RuntimeError),
    (agents.llm, "BackendAuthError", RuntimeError),
    (agents.llm, "BackendConnectionError", RuntimeError),
]


@pytest.mark.parametrize(("module", "name", "builtin"), OLD_HOMES)
def test_each_error_keeps_its_old_home_and_builtin_base(module: object, name: str, builtin: type) -> None:
    cls = getattr(module, name)
    assert cls is getattr(errors, name)
    assert issubclass(cls, errors.LLMConfigError) and issubclass(cls, builtin)


def test_base_is_exported_from_the_package() -> None:
    assert gymnasium_llmconfig.LLMConfigError is errors.LLMConfigError


def test_unknown_name_is_a_key_error_with_a_readable_message() -> None:
    with pytest.raises(KeyError) as caught:
        gymnasium_llmconfig.registry.load_registry().env("LLMConfig-Nope-v0")
    assert isinstance(caught.value, errors.LLMConfigError)
    assert str(caught.value).startswith("No LLMConfig env 'LLMConfig-Nope-v0'")


@pytest.mark.parametrize(("args", "message"), [
    (["play", "LLMConfig-Nope-v0"], "No LLMConfig env 'LLMConfig-Nope-v0'"),
    (["bench", "--suite", "nope", "--agents", "random", "--workers", "0"], "No suite named 'nope'"),
    (["bench", "--suite", "smoke", "--agents", "random", "--workers", "0", "--on-invalid", "explode"],
     "on_invalid must be one of"),
])
def test_cli_prints_the_one_line_message_and_exits_2(tmp_path: object, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, [*args, *(["--out", str(tmp_path)] if args[0] == "bench" else [])])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in " ".join(result.output.split())
    assert "Traceback" not in result.output
