"""``llmconfig zero run`` end to end: a real 3-phase search on the tiny GRPO trainer, its files, a resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gymnasium_llmconfig.lab.cli import app

cli = CliRunner()
#: A search small enough for a test: 2-step phases validated at every step, 32 problems per split.
SMALL = ["--steps", "2", "--val-every", "1", "--samples", "32", "--val-size", "32", "--test-size", "32",
         "--no-progress"]


def zero_run(out: Path, cache: Path, *extra: str) -> tuple[int, str]:
    result = cli.invoke(app, ["zero", "run", "--out", str(out), "--cache-dir", str(cache), *SMALL, *extra],
                        env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("zero")
    code, output = zero_run(root / "search", root / "cache", "--iterations", "3")
    assert code == 0, output
    return root / "search", root / "cache", output


@pytest.mark.slow
def test_a_three_phase_search_writes_the_tree_traces_and_report(searched: tuple[Path, Path, str]) -> None:
    out, _, output = searched
    tree = json.loads((out / "tree.json").read_text())
    nodes = tree["nodes"]
    assert [n["id"] for n in nodes] == ["n0", "n1", "n2"]
    for node in nodes:  # the contract keys
        assert {"id", "parent", "resume_step", "config", "status", "score"} <= set(node)
        assert node["status"] in ("completed", "early-stopped", "failed")
        rows = [json.loads(line) for line in (out / node["trace"]).read_text().splitlines()]
        assert rows and all("step" in row for row in rows)
        assert f"{node['id']:>4} {node['kind']}" in output  # one progress line per finished phase
    root = nodes[0]
    assert root["parent"] is None and root["kind"] == "root" and root["resume_step"] == 0
    assert root["status"] == "completed" and root["score"] is not None
    for node in nodes[1:]:
        assert node["kind"] == "evolve" and node["proposer"] == "heuristic"
        if node["parent"] is not None:
            assert node["resume_step"] in next(n for n in nodes if n["id"] == node["parent"])["checkpoints"]
    assert tree["settings"]["iterations"] == 3 and tree["best"] in {n["id"] for n in nodes}
    assert (out / "report.md").read_text().startswith("# LLMZero search")
    assert "<img" in (out / "report.html").read_text()
    assert "Done: 3 phases" in output


@pytest.mark.slow
def test_rerunning_resumes_and_other_settings_are_refused(searched: tuple[Path, Path, str]) -> None:
    out, cache, _ = searched
    before = json.loads((out / "tree.json").read_text())["nodes"]
    code, output = zero_run(out, cache, "--iterations", "3", "--seed", "1")
    assert code == 2 and "started with --seed 0" in output and "new --out" in output
    code, output = zero_run(out, cache, "--iterations", "3", "--steps", "3")
    assert code == 2 and "--steps 2" in output
    code, output = zero_run(out, cache, "--iterations", "4")
    assert code == 0, output
    after = json.loads((out / "tree.json").read_text())["nodes"]
    assert after[:3] == before and len(after) == 4  # the finished phases untouched, one more run


@pytest.mark.slow
def test_a_root_over_the_memory_budget_is_debugged_and_the_fix_hangs_under_it(
        searched: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, cache, _ = searched
    out = tmp_path / "search"
    # the practitioner root needs 16 x 4 x 6 = 384 token slots; the heuristic's fix reads the budget off the
    # failure and shrinks the batch (most room above its minimum 4) to 100 // (4 x 6) = 4: 96 slots fit
    code, output = zero_run(out, cache, "--iterations", "3", "--memory-budget", "100")
    assert code == 0, output
    n0, n1, n2 = json.loads((out / "tree.json").read_text())["nodes"]
    assert n0["status"] == "failed" and n0["failure"].startswith("memory")
    assert (n1["kind"], n1["status"], n1["anchor"], n1["parent"]) == ("debug", "completed", "n0", None)
    assert (n1["config"]["batch_size"], n1["config"]["rollouts"], n1["config"]["max_response_length"]) == (4, 4, 6)
    assert (n2["kind"], n2["parent"]) == ("evolve", "n1")  # the fix is a live node the search builds on
    assert (out / "report.html").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--proposer", "oracle"], "unknown proposer 'oracle'; choose one of heuristic, llm"),
    (["--stopper", "never"], "unknown early stopper 'never'"),
    (["--agent-arg", "novalue"], "--agent-arg must be key=value"),
    (["--agent-arg", "colour=red"], "unknown --agent-arg key(s) colour"),
    (["--family", "nosuch"], "nosuch"),
    (["--iterations", "0"], "--iterations"),
])
def test_bad_input_is_refused_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = zero_run(tmp_path / "search", tmp_path / "cache", *args)
    assert code == 2 and message in output
    assert not (tmp_path / "search").exists() and not (tmp_path / "cache").exists()


def test_ctrl_c_leaves_a_valid_tree_and_a_rerun_finishes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zero_fakes import FakeRunner

    import gymnasium_llmconfig.lab.zero.run as run_module

    monkeypatch.setattr(run_module, "LivePhaseRunner",
                        lambda settings, out: FakeRunner(out, kill_at="n2", kill_with=KeyboardInterrupt))
    out = tmp_path / "search"
    code, output = zero_run(out, tmp_path / "cache", "--iterations", "4")
    assert code == 130 and "Interrupted" in output and "rerun the same command" in output
    assert [n["id"] for n in json.loads((out / "tree.json").read_text())["nodes"]] == ["n0", "n1"]
    monkeypatch.setattr(run_module, "LivePhaseRunner", lambda settings, out: FakeRunner(out))
    code, output = zero_run(out, tmp_path / "cache", "--iterations", "4")
    assert code == 0 and "Done: 4 phases" in output
    assert "partial" not in (out / "nodes" / "n2" / "trace.jsonl").read_text()  # the killed phase was rerun


def test_an_unreachable_llm_endpoint_stops_with_one_message_and_keeps_the_tree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zero_fakes import FakeRunner

    import gymnasium_llmconfig.lab.zero.factory as factory
    import gymnasium_llmconfig.lab.zero.run as run_module
    from gymnasium_llmconfig.errors import BackendConnectionError

    class Unreachable:
        name = "llm"

        def propose(self, ctx: object) -> None:
            raise BackendConnectionError("could not reach the chat endpoint http://localhost:9/v1")

    monkeypatch.setattr(run_module, "LivePhaseRunner", lambda settings, out: FakeRunner(out))
    monkeypatch.setattr(factory, "make_proposer", lambda kind, args: Unreachable())
    out = tmp_path / "search"
    code, output = zero_run(out, tmp_path / "cache", "--iterations", "3", "--proposer", "llm")
    assert code == 2 and output.count("error:") == 1
    assert "could not reach the chat endpoint" in output and "keeps its 1 finished phase(s)" in output
    assert len(json.loads((out / "tree.json").read_text())["nodes"]) == 1


def test_a_missing_dependency_is_one_message_with_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scipy" else real(name, *a))
    code, output = zero_run(tmp_path / "search", tmp_path / "cache")
    assert code == 2 and "llmconfig zero needs scipy, not installed here" in output
    assert "pip install 'gymnasium-llmconfig[bench]'" in output and not (tmp_path / "search").exists()
