"""``llmconfig collect grpo`` end to end on a tiny sweep: bad specs, resume after a kill, the served envs."""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

from gymnasium_llmconfig.errors import CollectError
from gymnasium_llmconfig.lab.collect.cli import collect_app
from gymnasium_llmconfig.lab.collect.runner import read_records
from gymnasium_llmconfig.lab.grpo import sweep as sweep_mod
from gymnasium_llmconfig.lab.grpo.sweep import RUN_COLUMNS, TABLE_COLUMNS, collect, parse_spec

TINY: dict[str, Any] = {
    "task": {"name": "TinyRL", "title": "tiny GRPO sweep", "description": "a test sweep"},
    "models": {"A": {"n_layer": 1, "d_model": 16, "n_head": 2}},
    "sft": {"target_accuracy": 0.2, "max_steps": 60, "pool": 200},
    "eval": {"val_size": 16, "test_size": 32},
    "train": {"group_size": 2},
    "grid": {"lr": [1e-3, 1e-2], "batch_size": [4], "kl_coef": [0.0]},
    "seeds": [0, 1],
    "fidelities": [{"family": "rev3", "samples": 8, "epochs": 1, "role": "low"},
                   {"family": "rev3", "samples": 16, "epochs": 1, "role": "high"}],
}
N_RUNS = 2 * 2 * 2  # fidelities x lrs x seeds
runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = spec
        for key in path:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**TINY, "grdi": {}}, r"unknown key\(s\) in spec: \['grdi'\]; allowed: \['eval', 'fidelities', 'grid'"),
        (_with(grid__momentum=[0.9]), r"unknown key\(s\) in grid: \['momentum'\]; allowed: \['batch_size', "
                                      r"'group_size', 'kl_coef', 'lr', 'temperature'\]"),
        (_with(grid__lr=[]), r"'grid.lr' must be a non-empty list"),
        (_with(grid__kl_coef=[]), r"'grid.kl_coef' must be a non-empty list of numbers >= 0"),
        (_with(grid__lr=[1e-3, 0.0]), r"'grid.lr' must hold distinct positive numbers, got \[0.001, 0.0\]"),
        (_with(grid__lr=[-1e-3]), r"'grid.lr' must hold distinct positive numbers"),
        (_with(grid__kl_coef=[-0.1]), r"'grid.kl_coef' must hold distinct numbers >= 0"),
        (_with(grid__batch_size=[4, 16]), r"grid.batch_size 16 is larger than the 8 training samples of fidelity "
                                          r"rev3/N8; batch sizes \(prompts per step\) must be <= every fidelity"),
        (_with(fidelities__0__family="gsm8k"), r"unknown task family 'gsm8k'; allowed: <kind><difficulty 1-9> "
                                               r"with kind one of \['add', 'mod', 'mul', 'rev', 'sort', 'word'\]"),
        (_with(fidelities__0__role="top"), r"fidelities\[0\].role 'top' must be one of \('low', 'medium', 'high'\)"),
        (_with(fidelities__0__dataset="x"), r"unknown key\(s\) in fidelities\[0\]: \['dataset'\]; allowed: "),
        (_with(fidelities__1__model="B"), r"fidelities\[1\].model 'B' is not one of the spec's models \['A'\]"),
        (_with(sft__steps=10), r"unknown key\(s\) in sft: \['steps'\]; allowed: \['batch_size', 'check_every'"),
        (_with(grid__group_size=[1]), r"'grid.group_size' values must be >= 2"),
        (_with(seeds=[]), r"'seeds' must be a non-empty list of distinct integers >= 0"),
        (_with(fidelities=[]), r"'fidelities' must be a non-empty list"),
        ({k: v for k, v in TINY.items() if k != "grid"}, r"missing key\(s\) in spec: \['grid'\]"),
    ],
)
def test_bad_spec_names_the_key_and_the_allowed_values(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CollectError, match=message):
        parse_spec(spec)


def test_bad_spec_through_the_cli_exits_2_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(grid__lr=[0])))
    result = runner.invoke(collect_app, ["grpo", "--spec", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "'grid.lr' must hold distinct positive numbers" in result.output
    missing = runner.invoke(collect_app, ["grpo", "--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "spec file not found" in missing.output


def test_grid_and_ids() -> None:
    spec = parse_spec(TINY)
    runs = spec.runs()
    assert len(runs) == len({rid for rid, _ in runs}) == N_RUNS
    assert [spec.label(f) for f in spec.fidelities] == ["Rev3-N8-E1", "Rev3-N16-E1"]
    assert parse_spec(TINY).runs() == runs  # ids are stable
    assert {r.steps for _, r in runs} == {2, 4}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep killed after 3 runs, then resumed through the CLI: the output dir."""
    out = tmp_path_factory.mktemp("grpo") / "out"
    seen: list[str] = []

    def kill_after_three(rid: str, rec: dict[str, Any]) -> None:
        seen.append(rid)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(parse_spec(TINY), out, on_result=kill_after_three)
    assert len(read_records(out / "runs.jsonl")) == 3
    spec_path = out.parent / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(TINY))
    result = runner.invoke(collect_app, ["grpo", "--spec", str(spec_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{N_RUNS} runs: 3 already done, {N_RUNS - 3} ran" in " ".join(result.output.split())
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_resume_after_a_kill_redoes_no_run(swept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = read_records(swept / "runs.jsonl")
    assert len(records) == N_RUNS and sum(1 for _ in (swept / "runs.jsonl").open()) == N_RUNS
    monkeypatch.setattr(sweep_mod, "run_grpo", lambda *a, **k: pytest.fail("a finished run was redone"))
    summary = collect(parse_spec(TINY), swept)
    assert (summary.ran, summary.skipped) == (0, N_RUNS)


def test_runs_and_table(swept: Path) -> None:
    runs = _csv(swept / "runs.csv")
    assert len(runs) == N_RUNS and tuple(runs[0]) == RUN_COLUMNS
    for r in runs:
        assert r["status"] in ("ok", "diverged") and r["error"] == "" and r["device"] == "cpu"
        assert 0 <= float(r["test_accuracy"]) <= 1 and 0 <= float(r["initial_accuracy"]) <= 1
        assert len(json.loads(r["reward_curve"])) == int(r["steps_done"]) and r["torch_version"] == torch.__version__
    table = _csv(swept / "table.csv")
    assert len(table) == N_RUNS // 2 and tuple(table[0]) == TABLE_COLUMNS
    for row in table:
        seeds = [float(r["test_accuracy"]) for r in runs
                 if (r["fidelity"], r["lr"]) == (row["fidelity"], row["lr"])]
        assert json.loads(row["test_accuracy_seeds"]) == seeds and len(seeds) == 2
        assert float(row["test_accuracy"]) == pytest.approx(sum(seeds) / 2, abs=1e-5)
    assert len(list((swept / "base").glob("*.safetensors"))) == 1  # one base for the family, built once


def test_registry_fragment_serves_the_table(swept: Path) -> None:
    code = (
        "import gymnasium, json, gymnasium_llmconfig\n"
        "gymnasium_llmconfig.register_envs()\n"
        "env = gymnasium.make('LLMConfig-TinyRL-Rev3-N16-E1-v0', budget=2)\n"
        "prompt, _ = env.reset(seed=0)\n"
        "_, _, _, _, info = env.step(json.dumps({'lr': 0.01, 'batch_size': 4, 'kl_coef': 0}))\n"
        "print(json.dumps([info['metric'], info['details'], info['fidelity'], info['role'], 'maximize' in prompt]))\n"
    )
    env = {**os.environ, "LLMCONFIG_REGISTRY": str(swept)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    metric, details, fidelity, role, maximize = json.loads(result.stdout.strip().splitlines()[-1])
    row = next(r for r in _csv(swept / "table.csv") if r["fidelity"] == "Rev3-N16-E1" and float(r["lr"]) == 0.01)
    assert metric == pytest.approx(float(row["test_accuracy"])) and role == "high" and maximize
    assert details["initial_accuracy"] == pytest.approx(float(row["initial_accuracy"]))
    assert fidelity["training_samples"] == 16 and fidelity["family"] == "rev"
    listed = runner.invoke(collect_app, ["--help"])
    assert "grpo" in listed.output
