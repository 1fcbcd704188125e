"""Which runs of a training env a stress suite shows (paper 000 §6: sparse coverage, reversed optimum).

A suite may thin its training envs' tables before any learning agent sees
them; its test envs never change. Two rules, applied in this order:

- ``reversed`` (Challenge 3, "reversed optimal region"): a training run is kept
  only when its configuration was also run in the suite's test envs of the same
  task and ladder and, there, ranks in the worse part: its mean rank percentile
  over the test envs that ran it is below ``below`` (1 = a test env's best
  run, 0 = its worst). The training env's optimum is then, by construction, a
  configuration that is poor at test time. A training env with no such run is
  left out of the fit.
- ``fraction`` (Challenge 2, "sparse coverage"): keep a seeded ``fraction`` of
  the runs (at least one). The draw depends only on ``seed``, the env id and
  its number of runs, so it is the same in every process and every re-run.

Infinite spaces (Arch) have no runs to drop and are never thinned.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gymnasium_llmconfig.errors import InvalidConfig, RegistryError
from gymnasium_llmconfig.metrics import rank_percentile
from gymnasium_llmconfig.problem import Problem


@dataclass(frozen=True)
class TrainSelection:
    """A suite's thinning of its training envs (registry keys ``train_subsample`` and ``train_filter``)."""

    fraction: float | None = None
    seed: int = 0
    reversed_below: float | None = None

    def __post_init__(self) -> None:
        if self.fraction is not None and not 0.0 < self.fraction <= 1.0:
            raise RegistryError(f"train_subsample fraction must be in (0, 1], got {self.fraction}")
        if self.reversed_below is not None and not 0.0 < self.reversed_below <= 1.0:
            raise RegistryError(f"train_filter reversed below must be in (0, 1], got {self.reversed_below}")

    def rows(self, problem: Problem, tests: Sequence[Problem]) -> np.ndarray:
        """Indices (in ``problem.space.enumerate()`` order, ascending) of the runs this selection keeps."""
        rows = np.arange(len(problem.space))
        if self.reversed_below is not None:
            rows = reversed_rows(problem, tests, self.reversed_below)
        if self.fraction is not None:
            rows = rows[subsample_rows(problem.env_id, len(rows), self.fraction, self.seed)]
        return rows


def subsample_rows(env_id: str, n: int, fraction: float, seed: int) -> np.ndarray:
    """``max(1, round(fraction * n))`` of ``range(n)`` drawn without replacement, ascending; seeded by env id."""
    if n == 0:
        return np.arange(0)
    rng = np.random.default_rng([seed, zlib.crc32(env_id.encode())])
    return np.sort(rng.choice(n, size=max(1, round(fraction * n)), replace=False))


def reversed_rows(problem: Problem, tests: Sequence[Problem], below: float) -> np.ndarray:
    """Runs of ``problem`` whose config ran in ``tests`` with a mean test rank percentile below ``below``."""
    kept = []
    for i, config in enumerate(problem.space.enumerate()):
        scores = []
        for test in tests:
            try:
                canonical = test.space.canonicalize(config)
            except InvalidConfig:
                continue  # not run at this test fidelity
            scores.append(rank_percentile(test, test.evaluate(canonical).metric))
        if scores and float(np.mean(scores)) < below:
            kept.append(i)
    return np.array(kept, dtype=np.int64)
