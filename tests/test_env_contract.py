"""The env contract (README, "The env contract"): reward, on_invalid, info keys, names, budget."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401

ENV = "LLMConfig-Pretrain-N429M-D50B-v0"
INFO_KEYS = {"config", "valid", "repeat", "matched_config", "metric", "metric_name", "direction", "best_config",
             "best_metric", "normalized_regret", "budget_left", "fidelity", "details"}


def _configs(env, n: int, seed: int) -> list[dict]:
    configs = env.unwrapped.problem.space.enumerate()
    rng = np.random.default_rng(seed)
    return [configs[i] for i in rng.choice(len(configs), size=n, replace=False)]


@settings(max_examples=40, deadline=None)
@given(budget=st.integers(1, 6), seed=st.integers(0, 10_000),
       env_id=st.sampled_from([ENV, "LLMConfig-Mixture-Qwen3B-v0", "LLMConfig-PileMix-60M-v0"]))
def test_return_equals_equation_3(budget: int, seed: int, env_id: str) -> None:
    env = gymnasium.make(env_id, budget=budget)
    env.reset(seed=seed)
    problem = env.unwrapped.problem
    total, values, truncated = 0.0, [], False
    for config in _configs(env, budget, seed):
        assert not truncated
        _, reward, terminated, truncated, info = env.step(json.dumps(config))
        assert not terminated and info["valid"]
        total += reward
        values.append(info["metric"])
    assert truncated
    y_best, y_worst = problem.best_value, problem.worst_value
    expected = -(budget * y_best - sum(values)) / (budget * y_best - budget * y_worst)
    assert total == pytest.approx(expected, abs=1e-12)
    assert -1.0 <= total <= 0.0


def test_info_keys_on_reset_and_step() -> None:
    env = gymnasium.make(ENV, budget=2)
    _, info = env.reset(seed=1)
    assert info.keys() >= INFO_KEYS and info["budget_left"] == 2
    _, _, _, _, info = env.step('{"lr": 0.00195, "bs": 128}')
    assert info.keys() >= INFO_KEYS
    assert info["config"] == {"lr": 2**-9, "bs": 128} and info["valid"] and not info["repeat"]
    assert info["budget_left"] == 1 and info["fidelity"]["N"] == 429260800
    assert info["details"]["tokens_per_step"] == 128 * 2048


def test_terminate_on_invalid_gives_total_minus_one() -> None:
    env = gymnasium.make(ENV, budget=3)
    env.reset(seed=0)
    _, r1, *_ = env.step('{"lr": 0.00195, "bs": 128}')
    obs, r2, terminated, truncated, info = env.step("no idea")
    assert terminated and not truncated and not info["valid"]
    assert r1 + r2 == pytest.approx(-1.0)
    assert "no JSON object" in obs
    with pytest.raises(RuntimeError, match="reset"):
        env.step('{"lr": 0.00195, "bs": 128}')


def test_repeat_is_flagged_and_terminates() -> None:
    env = gymnasium.make(ENV, budget=3)
    env.reset(seed=0)
    env.step('{"lr": 0.00195, "bs": 128}')
    obs, _, terminated, _, info = env.step('{"lr": 0.001953125, "bs": 128.0}')
    assert terminated and info["repeat"] and "already evaluated" in obs


def test_out_of_space_value_explains_the_space() -> None:
    env = gymnasium.make(ENV, budget=3, on_invalid="penalize")
    env.reset(seed=0)
    obs, reward, terminated, _truncated, info = env.step('{"lr": 0.5, "bs": 128}')
    assert not info["valid"] and not terminated and reward == pytest.approx(-1 / 3)
    assert "lr=0.5 is not an allowed value" in obs and "0.001953" in obs
    assert info["budget_left"] == 2


def test_penalize_all_invalid_sums_to_minus_one() -> None:
    env = gymnasium.make(ENV, budget=4, on_invalid="penalize")
    env.reset(seed=0)
    rewards, done = [], False
    while not done:
        _, r, terminated, truncated, _ = env.step("?")
        rewards.append(r)
        done = terminated or truncated
    assert len(rewards) == 4 and sum(rewards) == pytest.approx(-1.0)


def test_ignore_costs_nothing_but_is_bounded() -> None:
    env = gymnasium.make(ENV, budget=2, on_invalid="ignore")
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step('{"lr": 7}')
    assert reward == 0.0 and not (terminated or truncated) and info["budget_left"] == 2
    steps = 1
    while not truncated:
        _, _, _, truncated, _ = env.step("x")
        steps += 1
    assert steps == 8


def test_config_id_selects_the_listed_config() -> None:
    env = gymnasium.make("LLMConfig-Mixture-Qwen0.5B-v0", budget=2)
    env.reset(seed=0)
    space = env.unwrapped.problem.space
    _, _, _, _, info = env.step('{"name": "exec_config", "arguments": {"config_id": 5}}')
    assert info["config"] == space.enumerate()[5]


def test_mixture_omitted_zero_ratios_are_accepted() -> None:
    env = gymnasium.make("LLMConfig-PileMix-1B-v0", budget=2)
    env.reset(seed=0)
    best = env.unwrapped.problem.best_config
    nonzero = {k: v for k, v in best.items() if v != 0}
    _, reward, _, _, info = env.step(json.dumps(nonzero))
    assert info["valid"] and reward == 0.0


def test_names_are_withheld_by_default() -> None:
    hidden, _ = gymnasium.make("LLMConfig-Mixture-Qwen3B-v0").reset(seed=0)
    shown, _ = gymnasium.make("LLMConfig-Mixture-Qwen3B-v0", reveal_names=True).reset(seed=0)
    for name in ("Qwen", "Tulu", "gsm8k", "coconot", "flan"):
        assert name.lower() not in hidden.lower()
    assert "Qwen2.5-3B" in shown and "coconot_converted" in shown
    pile_hidden, _ = gymnasium.make("LLMConfig-PileMix-60M-v0").reset(seed=0)
    assert "pile" not in pile_hidden.lower() and "arxiv" not in pile_hidden.lower()


def test_prompt_has_task_context_instructions_and_is_deterministic() -> None:
    env = gymnasium.make(ENV, budget=4)
    first, _ = env.reset(seed=0)
    second, _ = env.reset(seed=123)
    assert first == second
    for part in ("# Task", "# Context", "# Instructions", "Budget: 4 trial(s)", "exec_config", "N=429260800"):
        assert part in first


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="budget"):
        gymnasium.make(ENV, budget=0)
    with pytest.raises(ValueError, match="on_invalid"):
        gymnasium.make(ENV, on_invalid="explode")


def test_task_card_does_not_expose_outcomes() -> None:
    card = gymnasium.make(ENV).unwrapped.card
    public = {name for name in dir(card) if not name.startswith("_")}
    assert "problem" not in public and "evaluate" not in dir(card.space)
    assert card.space.contains({"lr": 2**-9, "bs": 128})
    assert card.space.encode({"lr": 2**-9, "bs": 128}).shape == (2,)
    sample = card.space.sample(np.random.default_rng(0))
    assert card.space.contains(sample)
