"""Evaluation on the cluster (issue 13, item 3): an OpenRLHF checkpoint plays in ``llm-prompt``, and
``llmconfig bench --address`` ships the project to the cluster's workers.

OpenRLHF's ``save_model`` writes a Hugging Face directory (``save_pretrained`` weights and config,
``tokenizer.save_pretrained``); the tiny LM saved the same way stands in for a trained policy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.executor import RayExecutor, cluster_runtime_env


def test_a_hugging_face_checkpoint_plays_on_the_leaderboard_as_llm_prompt(tmp_path):
    pytest.importorskip("transformers")
    from tiny_lm import save_tiny_lm

    checkpoint = save_tiny_lm(tmp_path / "model")
    env_id = resolve_suite("smoke").test[0]
    result = CliRunner().invoke(app, [
        "bench", "--suite", "smoke", "--agents", "llm-prompt", "--agent-arg", f"model={checkpoint}",
        "--agent-arg", "max_new_tokens=8", "--budgets", "1", "--seeds", "1", "--workers", "0", "--env", env_id,
        "--out", str(tmp_path / "results"), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "results" / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["env_id"] == env_id and f"model={checkpoint}" in rows[0]["agent"]


def test_bench_address_ships_the_project_and_llmconfig_variables(monkeypatch):
    ray = pytest.importorskip("ray")
    seen = {}
    monkeypatch.setattr(ray, "init", lambda **kwargs: seen.update(kwargs))
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", "/shared/llmconfig-data")
    RayExecutor(address="10.0.0.1:6379")
    env = seen["runtime_env"]
    assert seen["address"] == "10.0.0.1:6379" and env == cluster_runtime_env()
    assert [Path(p).name for p in env["py_modules"]] == ["gymnasium_llmconfig", "agents", "wrappers"]
    assert env["env_vars"]["LLMCONFIG_DATA_DIR"] == "/shared/llmconfig-data" and "pip" not in env
