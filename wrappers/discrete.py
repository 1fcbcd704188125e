"""DiscreteConfigActions: a ``Discrete(n)`` action per config and a numeric history observation.

So that stable-baselines3 and other non-text agents can act on the same env,
with the same rewards, budget and repeat rule as text agents (action ``k``
sends config ``k``'s canonical text to the env).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gymnasium_llmconfig.config_space import Config, InvalidConfig


class DiscreteConfigActions(gym.Wrapper[np.ndarray, np.int64, str, str], gym.utils.RecordConstructorArgs):
    """``Discrete(n)`` over a finite space's configs; observations as a ``Box(0, 1, (2n + 1,), float32)``.

    Observation layout (the episode so far, Markov for the budget-limited search):

    - ``obs[0:n]``: 1 where config ``k`` was evaluated this episode, else 0;
    - ``obs[n:2n]``: its score ``1 - normalized regret`` (1 = the env's best), 0 if not evaluated;
    - ``obs[2n]``: the fraction of the budget left.

    Args:
        env: an LLMConfig env (text actions), possibly wrapped.
        candidates: the configs the actions stand for; default: every config of a
            finite space (``space.enumerate()`` order). Required on an infinite space,
            e.g. ``[space.sample(rng) for _ in range(256)]``.
    """

    def __init__(self, env: gym.Env, candidates: Sequence[Mapping[str, Any]] | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, candidates=candidates)
        gym.Wrapper.__init__(self, env)
        if not isinstance(env.action_space, spaces.Text):
            raise TypeError(f"DiscreteConfigActions needs text actions underneath, got {env.action_space}")
        base = env.unwrapped
        space = base.card.space
        self.configs = _candidates(space, candidates, base.card.env_id)
        self._texts = [space.canonical_text(c) for c in self.configs]
        self._index = {space.key(c): k for k, c in enumerate(self.configs)}
        if len(self._index) != len(self.configs):
            raise ValueError("candidates contain the same config twice")
        n = len(self.configs)
        self.action_space = spaces.Discrete(n)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2 * n + 1,), dtype=np.float32)
        self._obs = np.zeros(2 * n + 1, dtype=np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(**kwargs)
        self._obs[:] = 0.0
        self._obs[-1] = 1.0
        return self._obs.copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        n = int(self.action_space.n)
        try:
            k = operator.index(action.item() if isinstance(action, np.ndarray) else action)
        except (TypeError, ValueError):
            k = -1
        if not 0 <= k < n:
            raise ValueError(f"action must be an integer in [0, {n}), got {action!r}")
        _, reward, terminated, truncated, info = self.env.step(self._texts[k])
        problem = self.env.unwrapped.problem
        evaluated = self._index.get(problem.space.key(info["config"])) if info["valid"] else None
        if evaluated is not None:
            self._obs[evaluated] = 1.0
            self._obs[n + evaluated] = 1.0 - problem.normalized_regret(info["metric"])
        self._obs[-1] = info["budget_left"] / self.env.unwrapped.budget
        return self._obs.copy(), reward, terminated, truncated, info


def _candidates(space: Any, candidates: Sequence[Mapping[str, Any]] | None, env_id: str) -> list[Config]:
    if candidates is None:
        if not space.is_finite:
            raise TypeError(
                f"DiscreteConfigActions needs a finite config space, and {env_id} has an infinite one: "
                "pass candidates=[space.sample(rng) for _ in range(n)] to act on sampled configs, "
                "or keep text actions and use MostSimilarConfig"
            )
        return space.enumerate()
    out = []
    for k, config in enumerate(candidates):
        try:
            out.append(space.canonicalize(config))
        except InvalidConfig as exc:
            raise ValueError(f"candidate {k} is not in the space of {env_id}: {exc}") from None
    if not out:
        raise ValueError("candidates is empty")
    return out
