"""Other views of the same episodes: the paper's §5 regret and its footnote-2 aggregate.

The leaderboard's main number normalizes by the env's *table* (best and worst
run ever recorded). Paper 000 §5 normalizes instead by the best and worst scores
*found by any method in the comparison* on each env; its footnote 2 then
averages tasks with a configuration-space shift (Tasks 1 and 4: Arch and the
instruction-tuning Mixture) with random search standing in for Top-K warm
start, which cannot transfer configurations to a disjoint space. Both views
return rows with ``normalized_regret`` replaced, so the report summarizes them
exactly like the main view.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.metrics import comparison_regret
from gymnasium_llmconfig.registry import Registry, load_registry

#: Footnote 2: on shifted tasks this agent's rows are replaced by its stand-in's before averaging.
FOOTNOTE2_SUBSTITUTES = {"topk": "random"}


def comparison_bounds(rows: Iterable[LeaderboardRow]) -> dict[str, tuple[float, float]]:
    """Per env, the best and worst score any agent evaluated (every step of every episode, any budget or seed).

    The metric's direction is read from the episodes themselves: an episode's
    ``best_metric`` is the minimum of its scores on a minimize task and the
    maximum on a maximize task (envs where no episode tells them apart have one
    score, so direction does not matter there).
    """
    scores: dict[str, list[float]] = {}
    votes: dict[str, int] = {}
    for row in rows:
        values = [v for v in (*(s.get("metric") for s in row.steps), row.best_metric) if _finite(v)]
        scores.setdefault(row.env_id, []).extend(values)
        if _finite(row.best_metric) and min(values) != max(values):
            votes[row.env_id] = votes.get(row.env_id, 0) + (1 if row.best_metric == min(values) else -1)
    bounds = {}
    for env_id, values in scores.items():
        if values:
            low, high = min(values), max(values)
            bounds[env_id] = (low, high) if votes.get(env_id, 0) >= 0 else (high, low)
    return bounds


def comparison_regret_rows(rows: Sequence[LeaderboardRow]) -> list[LeaderboardRow]:
    """The rows with ``normalized_regret`` set to §5's regret against :func:`comparison_bounds`."""
    bounds = comparison_bounds(rows)
    out = []
    for row in rows:
        best, worst = bounds.get(row.env_id, (math.nan, math.nan))
        found = row.best_metric if _finite(row.best_metric) else None
        regret = comparison_regret(found, best, worst) if row.env_id in bounds else 1.0
        out.append(dataclasses.replace(row, normalized_regret=regret))
    return out


def shifted_tasks(tasks: Collection[str], registry: Registry | None = None) -> set[str]:
    """The tasks among ``tasks`` whose registry entry declares ``space_shift: true``.

    The train and test configuration spaces of such a task are disjoint (paper
    000, Table 2, "configuration space shift"); a task the registry does not
    know (a custom problem) is taken to have none.
    """
    registry = registry or load_registry()
    known = {name.lower(): spec for name, spec in registry.tasks.items()}
    return {t for t in tasks if t.lower() in known and known[t.lower()].options.get("space_shift") is True}


def footnote2_rows(rows: Sequence[LeaderboardRow], shifted: Collection[str],
                   substitutes: Mapping[str, str] = FOOTNOTE2_SUBSTITUTES) -> list[LeaderboardRow]:
    """Footnote 2's aggregate: on ``shifted`` tasks each substituted agent's rows become its stand-in's rows.

    An agent keeps its own rows where the stand-in did not play (nothing to substitute).
    """
    stand_in: dict[tuple[str, str], list[LeaderboardRow]] = {}  # (stand-in agent, task) -> its rows
    for row in rows:
        if row.task in shifted and row.agent in set(substitutes.values()):
            stand_in.setdefault((row.agent, row.task), []).append(row)
    out = []
    for row in rows:
        source = substitutes.get(row.agent)
        if row.task in shifted and source is not None and (source, row.task) in stand_in:
            continue
        out.append(row)
    for agent, source in substitutes.items():
        if any(r.agent == agent for r in rows):
            out += [dataclasses.replace(r, agent=agent) for task in shifted for r in stand_in.get((source, task), [])]
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
