"""What a new user meets at the command line: data, extras and their own agents (issue 17 items 3-5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gymnasium_llmconfig.extras import extras_providing, install_hint
from gymnasium_llmconfig.lab import cli
from gymnasium_llmconfig.lab.leaderboard import runner as runner_module

TINY = ["bench", "--suite", "smoke", "--budgets", "1", "--seeds", "1", "--workers", "0", "--no-progress"]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _squashed(text: str) -> str:
    """Text without whitespace: the terminal may wrap a long path anywhere."""
    return "".join(text.split())


def test_missing_data_is_one_message_before_any_worker_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner_module, "make_executor",
                        lambda *a, **k: pytest.fail("Ray started before the data check"))
    result = CliRunner().invoke(cli.app, ["bench", "--suite", "l2h", "--out", str(tmp_path / "out"), "--workers", "2"])
    text = _one_line(result.output)
    assert result.exit_code == 2, result.output
    assert text.startswith("error: The 'l2h' suite needs data that is not here: hwgpt-perplexity-s, ")
    assert _squashed(f"not found ($LLMCONFIG_DATA_DIR={tmp_path / 'mirror'} does not have them;") in _squashed(text)
    assert "Fix: `llmconfig data pull hwgpt-perplexity-s hwgpt-perplexity-m " in text and "steplaw-dense" in text
    assert "Traceback" not in text and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("module", "extra"), [("matplotlib", "bench"), ("transformers", "llm"), ("torch", "arch"),
                                               ("stable_baselines3", "rl"), ("optuna", "bench")])
def test_each_optional_module_maps_to_the_extra_that_installs_it(module: str, extra: str) -> None:
    assert extra in extras_providing(module) and "test" not in extras_providing(module)
    hint = install_hint(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert hint == f"No module named {module!r}, which comes with an optional extra. " \
                   f"Fix: pip install 'gymnasium-llmconfig[{extra}]'"
    assert install_hint(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None  # a core dependency


def test_bench_without_matplotlib_names_the_bench_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("gymnasium_llmconfig.lab.leaderboard.runner", "gymnasium_llmconfig.lab.leaderboard.report",
                 "gymnasium_llmconfig.lab.leaderboard.plots"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(cli.app, [*TINY, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert _one_line(result.output) == ("error: import of matplotlib halted; None in sys.modules, which comes with an "
                                        "optional extra. Fix: pip install 'gymnasium-llmconfig[bench]'")


def test_llm_agent_without_the_llm_extra_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    result = CliRunner().invoke(cli.app, [*TINY, "--agents", "llm-prompt", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "pip install 'gymnasium-llmconfig[llm]'" in _one_line(result.output)
    assert len(result.output.strip().splitlines()) <= 3, result.output


def test_agent_module_in_the_current_directory_is_found_and_labelled_by_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "issue17_agent.py").write_text(
        "from agents.random_search import RandomSearch\n\n\nclass Mine(RandomSearch):\n    name = 'mine'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "issue17_agent", raising=False)
    result = CliRunner().invoke(cli.app, [*TINY, "--agents", "issue17_agent:Mine", "--out", "out"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out" / "episodes.jsonl").read_text().splitlines()]
    assert rows and {r["agent"] for r in rows} == {"mine"}


def test_agent_module_that_is_nowhere_says_where_it_was_looked_for(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, [*TINY, "--agents", "no_such_module:Agent", "--out", "out"])
    assert result.exit_code == 2
    assert _squashed(f"cannot import module 'no_such_module' for agent 'no_such_module:Agent': no no_such_module.py "
                     f"in the current directory ({tmp_path}), on PYTHONPATH or among installed packages.") \
        in _squashed(result.output)
    assert "pip install" not in result.output


def test_envs_and_data_status_say_where_data_is_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    envs = CliRunner().invoke(cli.app, ["envs", "--task", "Pretrain"])
    assert envs.exit_code == 0 and "data missing" in envs.output
    assert _squashed(f"$LLMCONFIG_DATA_DIR={tmp_path / 'nowhere'}, which does not exist.") in _squashed(envs.output)
    assert "Fix: `llmconfig data pull` downloads the missing files" in _one_line(envs.output)
    monkeypatch.delenv("LLMCONFIG_DATA_DIR")
    status = CliRunner().invoke(cli.app, ["data", "status"])
    assert status.exit_code == 0 and "$LLMCONFIG_DATA_DIR is not set" in _one_line(status.output)


def test_data_pull_asks_for_consent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    off_terminal = CliRunner().invoke(cli.app, ["data", "pull", "steplaw-dense"])
    assert off_terminal.exit_code == 2 and "re-run with --yes to consent" in _one_line(off_terminal.output)
    monkeypatch.setattr(cli, "_on_terminal", lambda: True)
    pulled: list[str] = []
    monkeypatch.setattr(cli.data, "pull", lambda source, force: pulled.append(source.name) or tmp_path)
    refused = CliRunner().invoke(cli.app, ["data", "pull", "steplaw-dense"], input="n\n")
    assert refused.exit_code == 1 and "no consent" in refused.output and not pulled
    assert "licence" in refused.output
    consented = CliRunner().invoke(cli.app, ["data", "pull", "steplaw-dense", "--yes"])
    assert consented.exit_code == 0 and pulled == ["steplaw-dense"]


def test_play_stopped_early_shows_the_best_so_far() -> None:
    result = CliRunner().invoke(cli.app, ["play", "LLMConfig-Micro-S-D250K-v0", "--budget", "3"],
                                input='{"lr": 0.002, "batch_size": 16}\n')
    assert result.exit_code == 0, result.output
    text = _one_line(result.output)
    assert 'Stopped. Your best: {"lr": 0.001953125, "batch_size": 16} -> final smoothed training loss = ' in text
    assert "; normalized regret 0." in text
