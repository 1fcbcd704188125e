"""``llmconfig zero compare`` end to end on live GRPO phases (tiny steps), and its refusals of bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gymnasium_llmconfig.lab.cli import app

runner = CliRunner()
TINY = ["--iterations", "2", "--steps", "4", "--full-steps", "4", "--val-every", "2", "--samples", "64",
        "--val-size", "32", "--test-size", "32", "--workers", "0"]


@pytest.mark.slow
def test_compare_two_methods_two_seeds_through_the_cli(tmp_path):
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["zero", "compare", "--methods", "llmzero,grid", "--seeds", "2", "--out", str(out),
                                 *TINY], env={"COLUMNS": "200", "OMP_NUM_THREADS": "1"})
    assert result.exit_code == 0, result.output
    assert "grid seed 1: 2 phases" in result.output and "llmzero: test at best validation" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["runs"]) == {"llmzero", "grid"} and set(summary["runs"]["grid"]) == {"0", "1"}
    for method in ("llmzero", "grid"):
        for seed in (0, 1):
            job = out / method / f"seed{seed}"
            tree = json.loads((job / "tree.json").read_text())
            assert len(tree["nodes"]) == 2 and (job / "done.json").is_file() and (job / "report.html").is_file()
            assert all(0 <= n["score"] <= 1 for n in tree["nodes"] if n["score"] is not None)
    assert json.loads((out / "grid" / "seed0" / "tree.json").read_text())["nodes"][1]["steps"] == 4
    assert summary["table"]["grid"]["test_at_best"]["n"] == 2 and summary["vs_grid"]["llmzero"]["best_val"]["n"] == 2
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4
    assert (out / "base").is_dir()  # the base built once in the driver, shared by every job
    again = runner.invoke(app, ["zero", "compare", "--methods", "llmzero,grid", "--seeds", "2", "--out", str(out),
                                *TINY])
    assert again.exit_code == 0 and "4 of 4 jobs already done" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "llmzero,bogus"], "unknown method(s) ['bogus']"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--workers", "2", "--address", "auto"], "not both"),
    (["--proposer", "oracle"], "proposer"),
    (["--family", "nope"], "nope"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, args, message):
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["zero", "compare", "--out", str(out), *TINY, *args], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (out / "base").exists() and not any(out.rglob("tree.json"))


def test_the_stoppers_noise_estimate_uses_the_runs_validation_size(tmp_path, monkeypatch):
    """As in ``zero run``: the extrapolation stopper's SE is over --val-size problems, unless an agent-arg says."""
    from gymnasium_llmconfig.lab.zero import compare

    seen = {}
    monkeypatch.setattr(compare, "compare", lambda *a, **kw: seen.update(kw) or {"methods": []})
    result = runner.invoke(app, ["zero", "compare", "--out", str(tmp_path / "cmp"), *TINY])
    assert result.exit_code == 0, result.output
    assert seen["stopper_args"]["val_size"] == 32 and seen["proposer_args"] is seen["stopper_args"]
    result = runner.invoke(app, ["zero", "compare", "--out", str(tmp_path / "cmp"), *TINY,
                                 "--agent-arg", "val_size=64"])
    assert result.exit_code == 0, result.output
    assert seen["stopper_args"]["val_size"] == 64
