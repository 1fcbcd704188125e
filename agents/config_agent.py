"""A base for agents that think in configs rather than text.

Classical agents (random search, Optuna, BO, meta-learners) choose a config
from the card's space; this base turns that choice into the env's action
text, records what the env answered (the matched config when a wrapper
repaired the proposal) and never proposes the same config twice.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from agents.candidates import Candidates, candidates_for
from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.config_space import Config, ConfigSpace

#: Draws before giving up on finding an untried config of an infinite space by sampling.
MAX_SAMPLE_TRIES = 1_000


class ConfigAgent(ABC):
    """Implements the text protocol on top of :meth:`propose`; subclasses choose configs."""

    name: str = "config-agent"

    def __init__(self) -> None:
        self.card: TaskCard | None = None
        self.rng = np.random.default_rng()
        self.history: list[tuple[Config, float]] = []
        self._tried: set[Hashable] = set()

    # --- the Agent protocol ---------------------------------------------------------------
    def reset(self, card: TaskCard, seed: int | None = None) -> None:
        self.card = card
        self.rng = np.random.default_rng(seed)
        self.history = []
        self._tried = set()
        self.start_episode()

    def act(self, observation: str) -> str:
        config = self.propose()
        self._tried.add(self.space.key(config))
        return json.dumps(config)

    def observe(self, observation: str, reward: float, info: Mapping[str, Any]) -> None:
        config = info.get("matched_config") or info.get("config")
        if config is None or info.get("metric") is None or not info.get("valid", False):
            return
        self._tried.add(self.space.key(config))
        self.history.append((dict(config), float(info["metric"])))
        self.learn(config, float(info["metric"]))

    # --- hooks ------------------------------------------------------------------------------
    def start_episode(self) -> None:  # noqa: B027 (an optional hook: doing nothing is the default)
        """Called after :meth:`reset` has set the card and the rng."""

    @abstractmethod
    def propose(self) -> Config:
        """The next config to evaluate (canonical, untried when possible)."""

    def learn(self, config: Config, metric: float) -> None:  # noqa: B027 (an optional hook)
        """Called with every evaluated config and its metric value."""

    # --- helpers --------------------------------------------------------------------------
    @property
    def space(self) -> ConfigSpace:
        if self.card is None:
            raise RuntimeError(f"{type(self).__name__}: call reset(card, seed) before act()")
        return self.card.space

    @property
    def maximize(self) -> bool:
        return self.card is not None and self.card.task.direction == "maximize"

    def utility(self, metric: float) -> float:
        """The metric with its sign set so that higher is better."""
        return self.card.task.utility(metric)

    def candidates(self, n_incumbents: int) -> Candidates:
        """What model-based agents maximize an acquisition over: the untried configs of a finite space, or
        random architectures plus mutants of the ``n_incumbents`` best configs seen so far (best first)."""
        incumbents = [c for c, _ in sorted(self.history, key=lambda h: -self.utility(h[1]))[:n_incumbents]]
        return candidates_for(self.space, self.rng, incumbents, self._tried.__contains__)

    def tried(self, config: Mapping[str, Any]) -> bool:
        return self.space.key(config) in self._tried

    def untried_indices(self) -> np.ndarray:
        """Indices into ``space.enumerate()`` of the configs not proposed yet (finite spaces)."""
        configs = self.space.enumerate()
        return np.array([i for i, c in enumerate(configs) if self.space.key(c) not in self._tried], dtype=np.int64)

    def random_untried(self) -> Config:
        """A uniformly drawn config not proposed yet (a repeat only if the space is exhausted)."""
        space = self.space
        if space.is_finite:
            left = self.untried_indices()
            configs = space.enumerate()
            pick = left[int(self.rng.integers(len(left)))] if len(left) else int(self.rng.integers(len(configs)))
            return dict(configs[pick])
        for _ in range(MAX_SAMPLE_TRIES):
            config = space.sample(self.rng)
            if not self.tried(config):
                return config
        return space.sample(self.rng)
