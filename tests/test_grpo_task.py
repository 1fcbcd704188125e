"""The shipped GRPO task: envs that exist with no data, answered from the collected table, in the suites."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest
import yaml

import gymnasium_llmconfig
from gymnasium_llmconfig.curation import resolve_suite

TABLE_DIR = Path(gymnasium_llmconfig.__file__).parent / "tables" / "grpo"
FRAGMENT = yaml.safe_load((TABLE_DIR / "registry.yaml").read_text())["tasks"][0]
IDS = [f["env_id"] for f in FRAGMENT["fidelities"]]
with (TABLE_DIR / "table.csv").open() as _fh:
    ROWS = list(csv.DictReader(_fh))


def test_shape_of_the_shipped_table() -> None:
    spec = yaml.safe_load((TABLE_DIR / "sweep.yaml").read_text())
    n_configs = len(spec["grid"]["lr"]) * len(spec["grid"]["batch_size"]) * len(spec["grid"]["kl_coef"])
    assert n_configs == 18 and len(spec["seeds"]) >= 2 and len(IDS) >= 8
    assert len(ROWS) == n_configs * len(IDS)
    with (TABLE_DIR / "runs.csv").open() as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == len(ROWS) * len(spec["seeds"])
    roles = [f["role"] for f in FRAGMENT["fidelities"]]
    assert {"low", "medium", "high"} == set(roles)


@pytest.mark.parametrize("env_id", IDS)
def test_best_config_beats_the_initial_accuracy(env_id: str) -> None:
    """Played through gymnasium.make: the table's best config scores above the SFT start it was trained from."""
    fidelity = next(f for f in FRAGMENT["fidelities"] if f["env_id"] == env_id)
    rows = [r for r in ROWS if r["fidelity"] == fidelity["select"]["fidelity"]]
    best = max(rows, key=lambda r: float(r["test_accuracy"]))
    env = gymnasium.make(env_id, budget=1)
    env.reset(seed=0)
    config = {"lr": float(best["lr"]), "batch_size": int(best["batch_size"]), "kl_coef": float(best["kl_coef"])}
    _, reward, _, _, info = env.step(json.dumps(config))
    assert info["valid"] and info["direction"] == "maximize"
    assert info["metric"] == pytest.approx(float(best["test_accuracy"])) == pytest.approx(info["best_metric"])
    assert info["normalized_regret"] == 0.0 and reward == 0.0
    assert info["metric"] > info["details"]["initial_accuracy"] == fidelity["metadata"]["initial_accuracy"]
    assert len(json.loads(best["test_accuracy_seeds"])) >= 2


def test_every_grpo_env_exists_with_no_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LLMCONFIG_DATA_DIR", "LLMCONFIG_REGISTRY")}
    env["LLMCONFIG_CACHE_DIR"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path)
    code = (
        "import gymnasium, json, sys, gymnasium_llmconfig\n"
        "ids = [i for i in gymnasium_llmconfig.register_envs() if i.startswith('LLMConfig-GRPO-')]\n"
        "for i in ids:\n"
        "    e = gymnasium.make(i, budget=3)\n"
        "    e.reset(seed=0)\n"
        "    _, _, _, _, info = e.step(json.dumps({'lr': 0.00025, 'batch_size': 32, 'kl_coef': 0.1}))\n"
        "    assert info['valid'], info\n"
        "print(json.dumps([ids, 'torch' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    ids, torch_imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert ids == IDS and not torch_imported


def test_grpo_joins_the_l2h_and_smoke_suites() -> None:
    high = {f["env_id"] for f in FRAGMENT["fidelities"] if f["role"] == "high"}
    lower = set(IDS) - high
    for name in ("l2h", "smoke"):
        suite = resolve_suite(name)
        assert high <= set(suite.test) and lower <= set(suite.train), name
        assert not high & set(suite.train)
