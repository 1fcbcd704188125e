"""What learning agents draw from a training env: its runs as (configs, signed utilities).

``fit`` may use every outcome of a training env (they are the cheap runs);
every learner samples them here, so they all read tables and sample
architectures the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import Config
from gymnasium_llmconfig.training_data import TrainingEnv


def training_runs(env: TrainingEnv, rng: np.random.Generator, *, arch_samples: int,
                  limit: int | None = None) -> tuple[list[Config], np.ndarray]:
    """Configs of a training env and their utilities (the metric signed so that higher is better).

    A table gives its rows, an infinite space ``arch_samples`` distinct
    sampled configs answered by its surrogate; ``limit`` subsamples at random.
    """
    if env.space.is_finite:
        configs, utility = env.runs()
    else:
        configs = _distinct_samples(env.space, rng, arch_samples)
        utility = env.utilities(configs)
    if limit is not None and len(configs) > limit:
        rows = rng.choice(len(configs), size=limit, replace=False)
        configs, utility = [configs[i] for i in rows], utility[rows]
    return configs, utility


def _distinct_samples(space: Any, rng: np.random.Generator, n: int) -> list[Config]:
    configs: dict[Any, Config] = {}
    for _ in range(10 * n):
        config = space.sample(rng)
        configs.setdefault(space.key(config), config)
        if len(configs) == n:
            break
    return list(configs.values())
