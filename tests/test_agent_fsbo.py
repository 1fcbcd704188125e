"""FSBO: meta-training on the shipped Micro sweeps helps on a held-out fidelity, and a fitted agent travels."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from conftest import require_data
from scipy.stats import spearmanr

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents import run_episode
from agents.fsbo import FSBO, conditioned
from agents.gp import copula, posterior_mean_std
from agents.gp_bo import GPBO
from gymnasium_llmconfig.registry import load_problem
from gymnasium_llmconfig.training_data import TrainingSet

TRAIN = ("LLMConfig-Micro-S-D250K-v0", "LLMConfig-Micro-S-D750K-v0", "LLMConfig-Micro-M-D250K-v0",
         "LLMConfig-Micro-L-D250K-v0")
HELD_OUT = ("LLMConfig-Micro-M-D750K-v0", "LLMConfig-Micro-L-D750K-v0")
META_STEPS = 200


@pytest.fixture(scope="module")
def fitted() -> FSBO:
    agent = FSBO(meta_steps=META_STEPS, seed=0)
    agent.fit(TrainingSet.from_env_ids(TRAIN))
    return agent


def proposals(agent: FSBO, env_id: str, seed: int, budget: int = 5) -> list[dict]:
    return [info["config"] for info in run_episode(gymnasium.make(env_id, budget=budget), agent, seed=seed)]


def test_episode_has_valid_distinct_proposals_and_falling_regret(fitted: FSBO) -> None:
    infos = run_episode(gymnasium.make(HELD_OUT[0], budget=5), fitted, seed=3)
    assert len(infos) == 5
    assert all(i["valid"] and not i["repeat"] for i in infos)
    assert len({tuple(sorted(i["config"].items())) for i in infos}) == 5
    regrets = [i["normalized_regret"] for i in infos]
    assert regrets == sorted(regrets, reverse=True) and 0.0 <= regrets[-1] <= 1.0
    assert set(fitted.tasks) == {"Micro"} and len(fitted.tasks["Micro"].envs) == len(TRAIN)


@pytest.mark.parametrize("env_id", HELD_OUT)
def test_warm_start_lands_in_the_top_quarter_of_a_held_out_env(fitted: FSBO, env_id: str) -> None:
    problem = load_problem(env_id)
    first = run_episode(gymnasium.make(env_id, budget=1), fitted, seed=0)[0]
    # Random search's first proposal has median rank 19.5 of 40; the meta-trained warm start must do far better.
    assert problem.rank_of(first["metric"]) < len(problem.space) // 4


def test_meta_training_makes_few_shot_predictions_rank_the_held_out_env(fitted: FSBO) -> None:
    untrained = FSBO(meta_steps=0, seed=0)
    untrained.fit(TrainingSet.from_env_ids(TRAIN))
    problem = load_problem(HELD_OUT[0])
    configs = problem.space.enumerate()
    truth = -np.array([problem.evaluate(c).metric for c in configs])
    rng = np.random.default_rng(0)
    shots = [rng.choice(len(configs), 5, replace=False) for _ in range(10)]

    def mean_rank_correlation(agent: FSBO) -> float:
        task = agent.tasks["Micro"]
        x = task.encoder(problem.space, configs)
        rhos = [spearmanr(posterior_mean_std(conditioned(task.state, x[i], copula(truth[i]), 32, 0, 1e-3), x)[0],
                          truth).statistic for i in shots]
        return float(np.mean(rhos))

    trained, baseline = mean_rank_correlation(fitted), mean_rank_correlation(untrained)
    assert trained > 0.6
    assert trained > baseline + 0.2


def test_saved_agent_proposes_the_same_configs(fitted: FSBO, tmp_path: Path) -> None:
    """save/load is JSON plus safetensors (no pickle) and restores every fitted number exactly."""
    expected = proposals(fitted, HELD_OUT[1], seed=1)
    loaded = FSBO.load(fitted.save(tmp_path / "fsbo"))
    assert sorted(p.name for p in (tmp_path / "fsbo").iterdir()) == ["agent.json", "tensors.safetensors"]
    assert proposals(loaded, HELD_OUT[1], seed=1) == expected
    task, again = fitted.tasks["Micro"], loaded.tasks["Micro"]
    for env, reloaded in zip(task.envs, again.envs, strict=True):
        assert np.array_equal(env.x, reloaded.x) and env.metadata == reloaded.metadata


def test_same_seed_same_proposals(fitted: FSBO) -> None:
    again = FSBO(meta_steps=META_STEPS, seed=0)
    again.fit(TrainingSet.from_env_ids(TRAIN))
    assert proposals(again, HELD_OUT[0], seed=2) == proposals(fitted, HELD_OUT[0], seed=2)
    other = FSBO(meta_steps=META_STEPS, seed=1)
    other.fit(TrainingSet.from_env_ids(TRAIN))
    state, other_state = fitted.tasks["Micro"].state, other.tasks["Micro"].state
    assert any(not np.array_equal(state[k].numpy(), other_state[k].numpy()) for k in state)


def test_unfitted_task_plays_like_gp_bo() -> None:
    env_id = HELD_OUT[0]
    assert proposals(FSBO(), env_id, seed=4) == proposals(GPBO(), env_id, seed=4)


def test_architecture_task_uses_sampled_training_configs(tmp_path: Path) -> None:
    require_data("hwgpt/perplexity_s.pt")
    agent = FSBO(meta_steps=30, arch_samples=64, seed=0)
    agent.fit(TrainingSet.from_env_ids(["LLMConfig-Arch-GPTS-v0"]))
    assert agent.tasks["Arch"].envs[0].x.shape == (64, 6)
    infos = run_episode(gymnasium.make("LLMConfig-Arch-GPTM-v0", budget=3), agent, seed=0)
    assert all(i["valid"] and not i["repeat"] for i in infos)
    assert infos[-1]["normalized_regret"] < 0.5
    loaded = FSBO.load(agent.save(tmp_path / "arch"))  # per-layer parameters in the encoder save too
    assert proposals(loaded, "LLMConfig-Arch-GPTM-v0", seed=0, budget=3) == [i["config"] for i in infos]
