"""Multi-turn GRPO on the tiny LM: the gradient is eq. 1/eq. 2 by hand on engine rollouts; the CLI trains,
exports a checkpoint llm-prompt plays, and resumes without redoing steps."""

from __future__ import annotations

import json

import gymnasium
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tiny_lm import save_tiny_lm, tiny_lm
from typer.testing import CliRunner

from agents.base import run_episode
from agents.llm import LLMPromptAgent
from agents.llm.hf import TransformersBackend
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.rl.objective import group_advantages
from gymnasium_llmconfig.lab.rollout import EpisodeSpec, RolloutEngine
from gymnasium_llmconfig.lab.train.grpo import GRPOSettings, grpo_step, step_specs


def test_group_advantages_of_engine_returns_match_a_hand_computation() -> None:
    # group (-1, -0.5): mean -0.75, sample std sqrt(0.125) = 0.353553; group (-0.2, -0.2): std 0 -> advantage 0
    advantages = group_advantages(torch.tensor([-1.0, -0.5, -0.2, -0.2]), 2)
    assert advantages.tolist() == pytest.approx([-0.707105, 0.707105, 0.0, 0.0], abs=1e-5)


def test_grpo_step_gradient_is_the_hand_written_masked_objective() -> None:
    model, tokenizer = tiny_lm()
    backend = TransformersBackend.from_loaded(model, tokenizer, name="tiny")
    pair = resolve_suite("smoke").train_pairs[0]
    specs = [EpisodeSpec.from_pair(pair, 2, seed=0, sample_seed=s) for s in (0, 8, 16, 24)]
    rollouts = RolloutEngine(backend, max_new_tokens=6, temperature=1.0, most_similar=True).play(specs)
    for rollout, ret in zip(rollouts, (-1.0, -0.5, -0.25, -0.75), strict=True):
        rollout.rewards = [ret]  # returns with spread, so the advantages are not all 0
    settings = GRPOSettings(group_size=2, micro_batch=3, kl_coef=0.0, temperature=1.0)
    grpo_step(model, None, rollouts, settings, tokenizer.pad_token_id)
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # by hand: L = -(1/B) sum_i A_i / |M_i| sum_{t in M_i} log pi(x_t | x_<t), full logits, one sequence at a time
    advantages = [-0.707105, 0.707105, 0.707105, -0.707105]
    total = 0.0
    for rollout, advantage in zip(rollouts, advantages, strict=True):
        ids = torch.tensor([rollout.token_ids])
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1).gather(-1, ids[0, 1:, None])[:, 0]
        mask = torch.tensor(rollout.action_mask[1:], dtype=torch.float32)
        assert mask.sum() == sum(rollout.reply_tokens) > 0
        total = total - advantage * (logp * mask).sum() / mask.sum() / len(rollouts)
    total.backward()
    for name, param in model.named_parameters():
        assert torch.allclose(got[name], param.grad, atol=1e-6, rtol=1e-4), name


def test_step_specs_cover_every_sample_once_per_epoch_in_groups() -> None:
    pairs = resolve_suite("smoke").train_pairs
    samples = [(p, b) for p in pairs for b in (1, 2)]
    settings = GRPOSettings(batch_size=2, group_size=3)
    seen = []
    for step in (1, 2):
        specs = step_specs(samples, settings, step)
        assert len(specs) == 6 and specs == step_specs(samples, settings, step)
        groups = [specs[i:i + 3] for i in range(0, 6, 3)]
        for group in groups:
            assert len({(s.env_id, s.budget, s.seed) for s in group}) == 1 and len({s.sample_seed for s in group}) == 3
            seen.append((group[0].env_id, group[0].budget))
    assert sorted(seen) == sorted((p.target, b) for p, b in samples)


def _train(out, checkpoint, steps: int, *extra: str):
    args = ["train", "grpo", "--suite", "smoke", "--model", str(checkpoint), "--out", str(out), "--steps", str(steps),
            "--batch-size", "1", "--group-size", "2", "--budgets", "1", "--eval-every", "2", "--eval-envs", "1",
            "--eval-seeds", "1", "--max-new-tokens", "6", "--lr", "1e-3", "--no-progress", *extra]
    return CliRunner().invoke(app, args)


def test_train_grpo_cli_writes_metrics_plot_and_a_checkpoint_llm_prompt_plays(tmp_path) -> None:
    base = save_tiny_lm(tmp_path / "tiny")
    result = _train(tmp_path / "run", base, 2)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and "test_regret_mean3" in rows[1]
    for key in ("critic_score_mean", "critic_score_min", "response_length_mean", "execution_rate",
                "unique_config_rate", "step_s"):
        assert key in rows[0]
    assert (tmp_path / "run" / "metrics.png").stat().st_size > 1000
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "tokenizer.json").is_file()
    agent = LLMPromptAgent(model=str(tmp_path / "run"), max_new_tokens=6, device="cpu")
    infos = run_episode(gymnasium.make("LLMConfig-Micro-M-D750K-v0", budget=2), agent, seed=0)
    assert infos and len(agent.record.turns) == len(infos)


def test_a_killed_grpo_run_resumes_without_redoing_steps(tmp_path) -> None:
    base = save_tiny_lm(tmp_path / "tiny")
    out = tmp_path / "run"
    assert _train(out, base, 2).exit_code == 0
    first = (out / "metrics.jsonl").read_text().splitlines()
    # a kill during step 3: its metrics line is written, its checkpoint is half-written
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"step": 3, "critic_score_mean": 99.0}) + "\n")
    (out / "train_state" / ".step-000003.partial").mkdir()
    result = _train(out, base, 3)
    assert result.exit_code == 0, result.output
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert lines[:2] == first and [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert json.loads(lines[2])["critic_score_mean"] != 99.0
    other = _train(out, base, 4, "--group-size", "3")
    assert other.exit_code == 2 and "group_size" in other.output
