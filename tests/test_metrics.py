"""Metrics: equation 3, Table 4 rates, rank percentile and the per env / task / overall summary."""

from __future__ import annotations

import json
import math

import gymnasium
import numpy as np
import pytest

import gymnasium_llmconfig  # noqa: F401
from gymnasium_llmconfig.metrics import (
    EpisodeResult,
    episode_result,
    execution_rate,
    outcome_reward,
    rank_percentile,
    summarize,
    unique_config_rate,
)
from wrappers import MostSimilarConfig

ENV = "LLMConfig-Pretrain-N429M-D50B-v0"


def test_outcome_reward_is_equation_3_in_both_directions() -> None:
    assert outcome_reward([2.0, 3.0], budget=2, best=2.0, worst=4.0) == pytest.approx(-(4 - 5) / (4 - 8))
    assert outcome_reward([0.9, 0.5], budget=2, best=0.9, worst=0.1) == pytest.approx(-(1.8 - 1.4) / (1.8 - 0.2))
    assert outcome_reward([2.0, 2.0], budget=2, best=2.0, worst=4.0) == 0.0
    assert outcome_reward([4.0], budget=1, best=2.0, worst=4.0) == -1.0
    assert outcome_reward([2.0], budget=2, best=2.0, worst=4.0) == -1.0  # fewer than T proposals
    assert outcome_reward([2.0, 3.0], budget=2, best=2.0, worst=4.0, valid=False) == -1.0  # a repeat or invalid


def _play(env: gymnasium.Env, actions: list[str]) -> tuple[list[dict], list[float]]:
    infos, rewards = [], []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        infos.append(info)
        rewards.append(reward)
        if terminated or truncated:
            break
    return infos, rewards


def test_rates_count_calls_and_distinct_configs() -> None:
    env = MostSimilarConfig(gymnasium.make(ENV, budget=4, on_invalid="ignore"))
    env.reset(seed=0)
    a, b = '{"lr": 0.00195, "bs": 128}', '{"lr": 0.00276, "bs": 256}'
    infos, _ = _play(env, [a, "oops", a, '{"lr": 0.0021, "bs": 130}', b, '{"lr": 0.00098, "bs": 64}'])
    # a (call), oops (no), a again (call, repeat), matched (no: the agent's own text was invalid), b, third
    assert execution_rate(infos, 4) == pytest.approx(4 / 4)
    assert unique_config_rate(infos, 4) == pytest.approx(3 / 4)
    assert execution_rate(infos[:2], 4) == pytest.approx(1 / 4)


def test_rank_percentile_of_the_table() -> None:
    problem = gymnasium.make(ENV).unwrapped.problem
    values = sorted(problem.evaluate(c).metric for c in problem.space.enumerate())
    assert rank_percentile(problem, problem.best_value) == 1.0
    assert rank_percentile(problem, problem.worst_value) == 0.0
    assert rank_percentile(problem, values[10]) == pytest.approx(1 - 10 / (len(values) - 1))
    assert rank_percentile(problem, None) == 0.0


def test_episode_result_matches_the_env() -> None:
    env = gymnasium.make(ENV, budget=3)
    env.reset(seed=0)
    problem = env.unwrapped.problem
    configs = problem.space.enumerate()[:3]
    infos, rewards = _play(env, [json.dumps(c) for c in configs])
    result = episode_result(problem, 3, infos, rewards, seed=0)
    values = [problem.evaluate(c).metric for c in configs]
    best = min(values)
    assert result.outcome_reward == pytest.approx(sum(rewards))
    assert result.outcome_reward == pytest.approx(
        outcome_reward(values, budget=3, best=problem.best_value, worst=problem.worst_value))
    assert result.normalized_regret == pytest.approx(infos[-1]["normalized_regret"])
    span = problem.best_value - problem.worst_value
    assert result.normalized_regret == pytest.approx((problem.best_value - best) / span)
    assert result.best_metric == best and result.execution_rate == result.unique_config_rate == 1.0
    assert result.task == "Pretrain" and 0.0 <= result.rank_percentile <= 1.0

    env.reset(seed=1)
    infos, rewards = _play(env, [json.dumps(configs[0]), json.dumps(configs[0])])
    assert episode_result(problem, 3, infos, rewards).outcome_reward == -1.0 == pytest.approx(sum(rewards))


def _result(env_id: str, task: str, seed: int, value: float, budget: int = 5) -> EpisodeResult:
    return EpisodeResult(env_id, task, seed, budget, value, math.nan, -value, -value, 1.0, 1.0, None)


def test_summarize_means_and_spread_over_seeds() -> None:
    results = [
        _result("A1", "A", 0, 0.1), _result("A1", "A", 1, 0.3),
        _result("A2", "A", 0, 0.5), _result("A2", "A", 1, 0.7),
        _result("B1", "B", 0, 0.0), _result("B1", "B", 1, 0.2),
        _result("B1", "B", 1, 0.4),  # two episodes of one seed are averaged first
    ]
    table = summarize(results).set_index(["level", "name"])
    assert table.loc[("env", "A1"), "mean"] == pytest.approx(0.2)
    assert table.loc[("env", "A1"), "std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert table.loc[("env", "B1"), "mean"] == pytest.approx((0.0 + 0.3) / 2)
    task_a = [np.mean([0.1, 0.5]), np.mean([0.3, 0.7])]  # per seed, then over seeds
    assert table.loc[("task", "A"), "mean"] == pytest.approx(np.mean(task_a))
    assert table.loc[("task", "A"), "std"] == pytest.approx(np.std(task_a, ddof=1))
    overall = [np.mean([task_a[0], 0.0]), np.mean([task_a[1], 0.3])]  # tasks weigh the same
    assert table.loc[("overall", "overall"), "mean"] == pytest.approx(np.mean(overall))
    assert table.loc[("overall", "overall"), "n_seeds"] == 2
    by_budget = summarize([*results, _result("A1", "A", 0, 0.9, budget=1)])
    assert set(by_budget["budget"]) == {1, 5}
    assert summarize([], "rank_percentile").empty


class _Scripted:
    """A chat backend that replies from a script (no model)."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)

    def generate(self, messages: object, max_new_tokens: int, temperature: float, seed: int | None) -> str:
        return self.replies.pop(0)


def test_llm_record_rates_are_the_metrics_rates_when_matching_fixed_a_proposal() -> None:
    from agents.base import run_episode
    from agents.llm import LLMPromptAgent

    a, b = '{"lr": 0.00195, "bs": 128}', '{"lr": 0.00276, "bs": 256}'
    near_miss = '{"lr": 0.0021, "bs": 300}'  # not in the space: MostSimilarConfig runs the closest config
    agent = LLMPromptAgent(backend=_Scripted([a, near_miss, a, b]))
    env = MostSimilarConfig(gymnasium.make(ENV, budget=4, on_invalid="penalize"))  # the repeat costs a trial
    infos = run_episode(env, agent, seed=0)
    assert [i["matched_config"] is not None for i in infos] == [False, True, False, False]
    assert [(i["valid"], i["repeat"]) for i in infos][::2] == [(True, False), (False, True)]
    # Successful calls: a, a again (a repeat), b; the fixed near miss is not one. Distinct among them: a, b.
    # (Counting the fixed proposal, as the record did before, gave 4/4 and 3/4.)
    record = agent.record
    assert (record.executed_calls, record.unique_configs) == (3, 2)
    assert (record.execution_rate, record.unique_config_rate) == (3 / 4, 2 / 4)
    assert (execution_rate(infos, 4), unique_config_rate(infos, 4)) == (3 / 4, 2 / 4)
