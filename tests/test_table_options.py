"""The table format's registry keys: parsed into dataclasses, typos refused with the file and the closest key."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import gymnasium
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import gymnasium_llmconfig  # noqa: F401 (registers the envs)
from gymnasium_llmconfig.errors import RegistryError
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.registry import PACKAGE_REGISTRY, ProblemBuilder, check_keys, load_registry
from gymnasium_llmconfig.tasks import table
from gymnasium_llmconfig.tasks.arch import builder as hwgpt
from gymnasium_llmconfig.tasks.table_options import TableOptions

MICRO = PACKAGE_REGISTRY.parent / "tables" / "micro"


def test_mixture_options_parse_into_typed_fields() -> None:
    opts = TableOptions.parse(load_registry().task("Mixture"))
    assert opts.show_configs is True and opts.metric.direction == "maximize"
    assert opts.metric.column == "metric_avg_id+ood" and opts.parameters == ()
    assert opts.parameter_pattern is not None and opts.parameter_pattern.shared["abs_tol"] == 0.0001
    assert [d.column for d in opts.details] == ["metric_avg_id", "metric_avg_ood", "train_time"]


def test_a_typo_in_a_task_key_names_the_file_the_key_and_the_fix() -> None:
    task, fidelity = load_registry().env("LLMConfig-Micro-S-D250K-v0")
    options = {k: v for k, v in task.options.items()}
    options["show_config"] = True
    typo = dataclasses.replace(task, options=options)
    with pytest.raises(RegistryError) as caught:
        table.build_problem(typo, fidelity)
    message = str(caught.value)
    assert str(task.origin) in message and "unknown key 'show_config'" in message
    assert "Did you mean 'show_configs'?" in message and "parameter_pattern" in message


def test_a_typo_in_a_nested_key_is_refused_too() -> None:
    task, fidelity = load_registry().env("LLMConfig-Micro-S-D250K-v0")
    params = [dict(p) for p in task.options["parameters"]]
    params[0]["rel_tl"] = 0.1
    typo = dataclasses.replace(task, options={**task.options, "parameters": params})
    with pytest.raises(RegistryError, match=r"parameters\[0\]: unknown key 'rel_tl'.*Did you mean 'rel_tol'"):
        table.build_problem(typo, fidelity)


def test_a_typo_in_a_fidelity_key_of_the_hwgpt_format_is_refused() -> None:
    task, fidelity = load_registry().env("LLMConfig-Arch-GPTS-v0")
    typo = dataclasses.replace(fidelity, options={**fidelity.options, "scael": "s"})
    with pytest.raises(RegistryError, match=r"env 'LLMConfig-Arch-GPTS-v0': unknown key 'scael'.*'scale'"):
        hwgpt.build_problem(task, typo)


def test_both_builders_have_the_protocol_signature() -> None:
    wanted = inspect.signature(ProblemBuilder.__call__).parameters
    for build in (table.build_problem, hwgpt.build_problem):
        got = inspect.signature(build).parameters
        assert list(got) == [p for p in wanted if p != "self"]
        assert all(got[name].kind == wanted[name].kind and got[name].default == wanted[name].default for name in got)


def test_a_user_registry_with_a_typo_fails_loudly_end_to_end(tmp_path: Path) -> None:
    doc = yaml.safe_load((MICRO / "registry.yaml").read_text())
    task = doc["tasks"][0]
    task["name"] = "MyMicro"
    task["show_config"] = True
    task["sources"] = [{"name": "my-runs", "file": str(MICRO / "runs.csv")}]
    for fid in task["fidelities"]:
        fid["env_id"] = fid["env_id"].replace("Micro", "MyMicro")
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["envs", "--task", "MyMicro"], env={"LLMCONFIG_REGISTRY": str(tmp_path)})
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "unknown key 'show_config'" in flat and "Did you mean 'show_configs'?" in flat
    assert "LLMConfig-Micro-S-D250K-v0" in gymnasium.registry  # the package's own envs are untouched


ALLOWED = [f.name for f in dataclasses.fields(TableOptions)]


@given(st.sets(st.sampled_from(ALLOWED)), st.text(min_size=1, max_size=12))
def test_check_keys_accepts_allowed_keys_and_refuses_any_other(keys: set[str], other: str) -> None:
    check_keys(dict.fromkeys(keys), ALLOWED, "here")
    if other not in ALLOWED:
        with pytest.raises(RegistryError, match=f"here: unknown key {re.escape(repr(other))}; allowed keys are"):
            check_keys(dict.fromkeys([*keys, other]), ALLOWED, "here")
