"""What learning agents read from their training envs: the problems per task and their runs.

``fit`` may use every outcome of a training env (they are the cheap runs);
these helpers are the one place that loads them, so every learner groups
tasks and signs utilities the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import Config
from gymnasium_llmconfig.registry import load_problem


def problems_by_task(train_env_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The training envs' problems grouped by task name, in the order given."""
    grouped: dict[str, list[Any]] = {}
    for env_id in train_env_ids:
        problem = load_problem(env_id)
        grouped.setdefault(problem.task.name, []).append(problem)
    return grouped


def training_runs(problem: Any, rng: np.random.Generator, *, arch_samples: int,
                  limit: int | None = None) -> tuple[list[Config], np.ndarray]:
    """Configs of a training env and their utilities (the metric signed so that higher is better).

    A table gives its rows, an infinite space ``arch_samples`` distinct
    sampled configs answered by its surrogate; ``limit`` subsamples at random.
    """
    space = problem.space
    configs = space.enumerate() if space.is_finite else _distinct_samples(space, rng, arch_samples)
    if limit is not None and len(configs) > limit:
        configs = [configs[i] for i in rng.choice(len(configs), size=limit, replace=False)]
    sign = 1.0 if problem.task.direction == "maximize" else -1.0
    return configs, sign * np.array([problem.evaluate(c).metric for c in configs], dtype=np.float64)


def _distinct_samples(space: Any, rng: np.random.Generator, n: int) -> list[Config]:
    configs: dict[Any, Config] = {}
    for _ in range(10 * n):
        config = space.sample(rng)
        configs.setdefault(space.key(config), config)
        if len(configs) == n:
            break
    return list(configs.values())
