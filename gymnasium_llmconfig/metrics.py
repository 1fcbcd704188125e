"""Metrics of the benchmark and of training, in one place.

- normalized regret at budget T (the env's ``info["normalized_regret"]`` at the
  end of an episode), summarized per env / task / overall with mean and spread
  over seeds (:func:`summarize`);
- the paper's cumulative-regret outcome reward, its equation 3, with -1 for
  repeats and invalid outputs (:func:`outcome_reward`);
- execution rate and unique-configuration rate, its Table 4
  (:func:`execution_rate`, :func:`unique_config_rate`);
- rank percentile of the best config found (:func:`rank_percentile`), which
  stays informative where a table has diverged runs: one huge worst value
  squeezes every sensible config's normalized regret towards 0, ranks do not move;
- the paper's own regret (§5, :func:`comparison_regret`), normalized by the best
  and worst scores that any method of a comparison found, not by the table's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from gymnasium_llmconfig.problem import Problem

StepInfo = Mapping[str, Any]


def outcome_reward(values: Sequence[float], *, budget: int, best: float, worst: float, valid: bool = True) -> float:
    """Equation 3: ``-(T*y_best - sum(y)) / (T*y_best - T*y_worst)`` for ``T`` distinct valid proposals, else -1.

    ``values`` are the metric values of the proposals in order; ``valid`` is False
    when any output was invalid or a repeat. The formula holds for both
    directions (for maximize tasks ``best > worst``).
    """
    if not valid or len(values) != budget:
        return -1.0
    span = budget * best - budget * worst
    return 0.0 if span == 0 else -(budget * best - math.fsum(values)) / span


def episode_outcome_reward(step_infos: Sequence[StepInfo], problem: Problem, budget: int) -> float:
    """Equation 3 from an episode's step infos.

    A proposal MostSimilarConfig matched counts with its matched config's value,
    as in the paper's training (that is what makes the reward dense).
    """
    valid = all(info["valid"] for info in step_infos)
    values = [info["metric"] for info in step_infos]
    return outcome_reward(values, budget=budget, best=problem.best_value, worst=problem.worst_value, valid=valid)


def _executed(info: StepInfo) -> bool:
    """A successful call: the agent's own proposal named a config of the space (a repeat still counts).

    A proposal that ``MostSimilarConfig`` replaced is not one: the call ran, but
    not a config the agent wrote (the paper's Section 5.1.2 measures instruction
    following, which a repair would hide).
    """
    own = info.get("config") is not None and info.get("matched_config") is None
    return own and bool(info["valid"] or info["repeat"])


def executed_calls(step_infos: Sequence[StepInfo]) -> int:
    """Number of successful calls (see :func:`execution_rate`)."""
    return sum(map(_executed, step_infos))


def unique_configs(step_infos: Sequence[StepInfo]) -> int:
    """Number of distinct configs among the successful calls."""
    return len({json.dumps(info["config"], sort_keys=True, default=str) for info in step_infos if _executed(info)})


def execution_rate(step_infos: Sequence[StepInfo], budget: int) -> float:
    """Table 4's execution rate: successful calls over the budget, capped at 1 (0 for no budget).

    A successful call is the agent's own well-formed proposal of a config in the
    space, a repeat included; one fixed by ``MostSimilarConfig`` is not.
    """
    return min(1.0, executed_calls(step_infos) / budget) if budget > 0 else 0.0


def unique_config_rate(step_infos: Sequence[StepInfo], budget: int) -> float:
    """Table 4's unique-config rate: distinct configs among the successful calls over the budget, capped at 1."""
    return min(1.0, unique_configs(step_infos) / budget) if budget > 0 else 0.0


def rank_percentile(problem: Problem, value: float | None) -> float:
    """Share of the env's other configs that ``value`` beats or ties: 1 at the table's best, 0 at its worst.

    ``None`` (nothing valid found) scores 0. NaN for problems without a finite
    table to rank against.
    """
    rank_of = getattr(problem, "rank_of", None)
    if rank_of is None or not problem.space.is_finite:
        return math.nan
    if value is None:
        return 0.0
    n = len(problem.space)
    return 1.0 if n == 1 else max(0.0, 1.0 - rank_of(value) / (n - 1))


def comparison_regret(found: float | None, best: float, worst: float) -> float:
    """Paper 000 §5: ``(y*_best - f) / (y*_best - y*_worst)``, clipped to [0, 1].

    ``best`` and ``worst`` are the best and worst scores found by *any method in
    the comparison* on this env (not the table's extremes), so the value depends
    on which agents are compared. Direction-free: for a maximize task ``best >
    worst`` and the ratio is the same. ``None`` (nothing found) scores 1; a
    comparison where every method found the same score (zero span) scores 0.
    """
    if found is None:
        return 1.0
    span = best - worst
    if span == 0:
        return 0.0
    return min(1.0, max(0.0, (best - found) / span))


@dataclass(frozen=True)
class EpisodeResult:
    """The numbers one episode contributes to a leaderboard."""

    env_id: str
    task: str
    seed: int | None
    budget: int
    normalized_regret: float
    rank_percentile: float
    outcome_reward: float
    episode_return: float
    execution_rate: float
    unique_config_rate: float
    best_metric: float | None


def episode_result(
    problem: Problem, budget: int, step_infos: Sequence[StepInfo], rewards: Sequence[float], seed: int | None = None
) -> EpisodeResult:
    """Score one finished episode from its step infos and rewards."""
    best = step_infos[-1]["best_metric"] if step_infos else None
    return EpisodeResult(
        env_id=problem.env_id,
        task=problem.task.name,
        seed=seed,
        budget=budget,
        normalized_regret=1.0 if best is None else problem.normalized_regret(best),
        rank_percentile=rank_percentile(problem, best),
        outcome_reward=episode_outcome_reward(step_infos, problem, budget),
        episode_return=math.fsum(rewards),
        execution_rate=execution_rate(step_infos, budget),
        unique_config_rate=unique_config_rate(step_infos, budget),
        best_metric=best,
    )


def summarize(results: Iterable[EpisodeResult | Mapping[str, Any]], metric: str = "normalized_regret") -> pd.DataFrame:
    """Mean and spread over seeds of ``metric`` per env, per task and overall, at each budget.

    Episodes of one (env, seed, budget) are averaged first. A task's value for a
    seed is the mean over its envs, the overall value the mean over tasks (each
    task weighs the same); ``mean`` and ``std`` (sample, NaN for one seed) are
    then taken over seeds. Columns: ``level`` (env | task | overall), ``name``,
    ``budget``, ``mean``, ``std``, ``n_seeds``.
    """
    rows = [asdict(r) if isinstance(r, EpisodeResult) else dict(r) for r in results]
    columns = ["level", "name", "budget", "mean", "std", "n_seeds"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].fillna(-1)
    per_env = frame.groupby(["task", "env_id", "budget", "seed"], as_index=False)[metric].mean()
    per_task = per_env.groupby(["task", "budget", "seed"], as_index=False)[metric].mean()
    overall = per_task.groupby(["budget", "seed"], as_index=False)[metric].mean().assign(name="overall")
    levels = [("env", per_env, "env_id"), ("task", per_task, "task"), ("overall", overall, "name")]
    out = []
    for level, table, name in levels:
        stats = table.groupby([name, "budget"])[metric].agg(["mean", "std", "count"]).reset_index()
        out.append(stats.rename(columns={name: "name", "count": "n_seeds"}).assign(level=level))
    return pd.concat(out, ignore_index=True)[columns]
