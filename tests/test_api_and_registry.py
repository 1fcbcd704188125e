"""The paper's LMConfigGym facade and user registries (a new env without code)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gymnasium_llmconfig import LMConfigGym
from gymnasium_llmconfig.registry import RegistryError, _load


def test_lmconfiggym_flow() -> None:
    gym = LMConfigGym()
    assert {"Arch", "Pretrain", "Mixture", "PileMix"} <= set(gym.list_tasks())
    with pytest.raises(RuntimeError, match="set_task"):
        gym.show_envs()
    gym.set_task("Pretrain")
    assert any(e["env_id"] == "LLMConfig-Pretrain-N429M-D50B-v0" for e in gym.show_envs())
    assert gym.set_env(N=429260800, D=50_000_000_000) == "LLMConfig-Pretrain-N429M-D50B-v0"
    space = gym.show_configuration_space()
    assert [p["name"] for p in space["parameters"]] == ["lr", "bs"]
    by_dict = gym.query({"lr": 2**-9, "bs": 128})
    by_id = gym.query(0)
    assert by_dict["metric"] == pytest.approx(2.2729953887574346) and "metric" in by_id
    with pytest.raises(ValueError, match="not an allowed value"):
        gym.query({"lr": 1.0, "bs": 128})
    with pytest.raises(ValueError, match="matches"):
        gym.set_env(N=1)
    split = gym.init_datasets("l2h")
    assert "LLMConfig-Mixture-Qwen7B-v0" in split["test"] and "LLMConfig-Mixture-Qwen3B-v0" in split["train"]
    assert not set(split["train"]) & set(split["test"])


def _user_registry(tmp_path: Path) -> Path:
    (tmp_path / "runs.csv").write_text(
        "model,lr,bs,loss,note\n" + "".join(
            f"tiny,{lr},{bs},{1 + abs(lr - 0.01) * 10 + bs / 1000},r{i}\n"
            for i, (lr, bs) in enumerate([(lr, bs) for lr in (0.001, 0.01, 0.1) for bs in (8, 16)])
        )
    )
    yaml_text = textwrap.dedent("""
        tasks:
          - name: MySweep
            title: "My sweep"
            description: "A user sweep."
            format: table
            sources: [{name: my-runs, file: runs.csv}]
            metric: {column: loss, name: loss, direction: minimize}
            parameters:
              - {name: lr, kind: float, log: true, rel_tol: 0.01}
              - {name: bs, kind: int}
            details: [note]
            fidelities:
              - {env_id: LLMConfig-MySweep-Tiny-v0, role: low, select: {model: tiny}, metadata: {n: 1}}
    """)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml_text)
    return path


def test_user_registry_env_appears_in_gymnasium(tmp_path: Path) -> None:
    _user_registry(tmp_path)
    code = ("import gymnasium, gymnasium_llmconfig\n"
            "env = gymnasium.make('LLMConfig-MySweep-Tiny-v0', budget=1)\n"
            "env.reset(seed=0)\n"
            "obs, r, *_ , info = env.step('{\"lr\": 0.01, \"bs\": 8}')\n"
            "print(r, info['metric'], info['details']['note'])\n")
    env = {"LLMCONFIG_REGISTRY": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    reward, metric, note = out.stdout.split()
    assert float(reward) == 0.0 and float(metric) == pytest.approx(1.008) and note == "r2"


def test_malformed_registry_is_explained(tmp_path: Path) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text("tasks:\n  - name: X\n    format: table\n")
    with pytest.raises(RegistryError, match="missing required key 'description'"):
        _load((bad,))
    bad.write_text("tasks: [ {")
    with pytest.raises(RegistryError, match="not valid YAML"):
        _load((bad,))
    bad.write_text("tasks:\n  - {name: X, description: d, format: table, fidelities: [{env_id: A, role: top}]}\n")
    with pytest.raises(RegistryError, match="role must be one of"):
        _load((bad,))
