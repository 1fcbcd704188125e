"""Simulated BO episodes on training envs: what the RL-trained acquisition policies (``metabo``, ``nap``) train on.

Both MetaBO (Volpp et al., ICLR 2020, §4) and NAP (Maraval et al., NeurIPS
2023, §4) meta-train a policy by playing BO episodes on the training tasks,
where every evaluation is answered from the recorded runs. A
:class:`TrainingTable` lists a training env once (configs, GP encodings and
the task-wide transfer features of :mod:`agents.features`); a
:class:`BOEpisode` tracks one episode on it: which configs were tried, their
utilities, the normalized simple regret of the best so far (the reward of both
papers is its negative), and draws the candidate set the policy chooses from.
A finite table offers untried configs at random; a space too large to list
(Arch) offers random members plus neighbours of the incumbent, as the test-time
candidate sets of :mod:`agents.candidates` do.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from scipy.stats import norm

from agents.features import TransferEncoder
from agents.training import training_runs
from gymnasium_llmconfig.config_space import Config, concat_batches
from gymnasium_llmconfig.training_data import TrainingEnv


class TrainingTable:
    """A training env with its configs, GP encodings (``x``), transfer features and utility reference listed once.

    ``reference`` holds the sorted utilities of the table (or of
    ``arch_samples`` sampled architectures for an infinite space): it turns a
    utility into a normal quantile of its rank (:meth:`quantile`), a scale
    that means the same in every env of a task.
    """

    def __init__(self, env: TrainingEnv, encoder: TransferEncoder, rng: np.random.Generator, arch_samples: int = 512):
        self.env = env
        self.encoder = encoder
        self.finite = env.space.is_finite
        self.configs = env.space.enumerate() if self.finite else []
        self.keys = [env.space.key(c) for c in self.configs]
        self.x = env.space.encode_all() if self.finite else np.zeros((0, env.space.dim))
        self.features = encoder(env.space, self.configs) if self.finite else np.zeros((0, encoder.dim))
        self.reference = np.sort(training_runs(env, rng, arch_samples=arch_samples)[1])

    def quantile(self, utilities: np.ndarray) -> np.ndarray:
        """Normal quantiles of the utilities' mid-ranks within the reference (a Gaussian copula, as FSBO's)."""
        u = np.asarray(utilities, dtype=np.float64)
        below = np.searchsorted(self.reference, u, side="left")
        upto = np.searchsorted(self.reference, u, side="right")
        return norm.ppf((0.5 * (below + upto) + 0.5) / (len(self.reference) + 1))


class BOEpisode:
    """One BO episode on a training table with a fixed budget; all draws use ``rng``."""

    def __init__(self, table: TrainingTable, budget: int, rng: np.random.Generator, neighbour_share: float = 0.25):
        self.table = table
        self.budget = budget
        self.rng = rng
        self.neighbour_share = neighbour_share
        self.tried: set[Hashable] = set()
        self.x_seen: list[np.ndarray] = []
        self.features_seen: list[np.ndarray] = []
        self.utilities: list[float] = []
        self.incumbent: Config | None = None

    @property
    def done(self) -> bool:
        return len(self.utilities) >= self.budget

    @property
    def used(self) -> float:
        """Fraction of the budget spent (MetaBO's and NAP's t / T)."""
        return len(self.utilities) / self.budget

    @property
    def regret(self) -> float:
        """Normalized simple regret of the best config so far (1 before any evaluation)."""
        return self.table.env.normalized_regret(max(self.utilities)) if self.utilities else 1.0

    def candidates(self, n: int) -> tuple[list[Config], np.ndarray, np.ndarray]:
        """``n`` untried configs (repeats only when fewer are left): configs, GP encodings, transfer features."""
        table, space, rng = self.table, self.table.env.space, self.rng
        if table.finite:
            left = np.array([i for i, key in enumerate(table.keys) if key not in self.tried])
            rows = rng.choice(left, size=n, replace=len(left) < n)
            return [table.configs[i] for i in rows], table.x[rows], table.features[rows]
        n_neighbours = int(n * self.neighbour_share) if self.incumbent is not None else 0
        batches = [space.sample_batch(rng, n - n_neighbours)]
        if n_neighbours:
            batches.append(space.neighbours(self.incumbent, rng, n_neighbours))
        batch = concat_batches(batches)
        if len(batch) != n:  # a space may return fewer neighbours than asked for: draw rows to get exactly n
            batch = batch.take(rng.choice(len(batch), size=n, replace=len(batch) < n))
        configs = batch.configs()
        return configs, space.encode_batch(batch), table.encoder(space, configs)

    def evaluate(self, config: Config, x: np.ndarray, features: np.ndarray) -> float:
        """Spend one evaluation; returns the config's utility (higher is better)."""
        utility = self.table.env.utility(config)
        if not self.utilities or utility > max(self.utilities):
            self.incumbent = config
        self.tried.add(self.table.env.space.key(config))
        self.x_seen.append(np.asarray(x, dtype=np.float64))
        self.features_seen.append(np.asarray(features, dtype=np.float64))
        self.utilities.append(utility)
        return utility


def standardized(utilities: list[float] | np.ndarray) -> np.ndarray:
    """Utilities standardized within the episode (zero when they do not vary), as both agents see them."""
    y = np.asarray(utilities, dtype=np.float64)
    if not len(y):
        return y
    spread = y.std()
    return (y - y.mean()) / (spread if spread > 0 else 1.0)
