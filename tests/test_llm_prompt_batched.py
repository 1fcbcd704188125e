"""``llmconfig bench --agents llm-prompt --agent-arg model=CHECKPOINT``: the episodes play batched, rows as usual."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_lm import save_tiny_lm
from typer.testing import CliRunner

import agents.llm.sampling as sampling
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore

ENV = "LLMConfig-Micro-M-D750K-v0"


def test_bench_plays_a_checkpoints_episodes_in_one_batch_and_resumes(tmp_path, monkeypatch) -> None:
    checkpoint = save_tiny_lm(tmp_path / "tiny")
    sizes: list[int] = []
    plain = sampling._sample_group

    def recording(model, prompts, *args):
        sizes.append(len(prompts))
        return plain(model, prompts, *args)

    monkeypatch.setattr(sampling, "_sample_group", recording)
    args = ["bench", "--suite", "smoke", "--env", ENV, "--agents", "llm-prompt", "--budgets", "1-2", "--seeds", "2",
            "--workers", "0", "--no-progress", "--out", str(tmp_path / "out"), "--agent-arg", f"model={checkpoint}",
            "--agent-arg", "max_new_tokens=6"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = ResultStore(tmp_path / "out").rows()
    assert sorted((r.budget, r.seed) for r in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert sizes[0] == 4  # the first turn of all four episodes in one generation batch
    for row in rows:
        assert row.text_agent and row.agent_record is not None and row.agent_record["model"] == str(checkpoint)
        assert len(row.agent_record["turns"]) == len(row.steps) >= 1
        assert row.episode_return == pytest.approx(sum(t["reward"] for t in row.agent_record["turns"]))
    sizes.clear()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert sizes == [] and len(ResultStore(tmp_path / "out").rows()) == 4  # nothing replayed
