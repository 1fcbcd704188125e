"""Budgets: ``BudgetTruncation`` (TimeLimit for trials, with the env as the one holder of the budget T) and
``parse_budgets`` (the command line's budget lists, shared by ``bench`` and ``train``).

``T`` appears in three places that must agree: the prompt ("Budget: T
trial(s)"), the reward scale (``1/T`` per trial, so an episode sums to the
paper's equation 3) and the truncation. The env owns ``T`` and counts the
proposals that consumed budget (``info["budget_left"]``); this wrapper keeps no
copy of either. It sets ``T`` through ``LLMConfigEnv.set_budget`` and turns the
env's count into ``truncated=True`` for the whole wrapper stack, so no stack
(whatever sits between it and the env) lets a proposal past the budget.
``gymnasium.make(env_id, budget=T)`` applies it (see the registration in
``gymnasium_llmconfig``), so it is part of the env contract and lives in the
core; ``wrappers`` re-exports it with the other wrappers.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from gymnasium_llmconfig.errors import InvalidArgument


class BudgetTruncation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """``truncated=True`` once ``T`` proposals have consumed budget; stepping further raises.

    A proposal consumes budget when the env counts it as a trial: every valid
    one, and with ``on_invalid="penalize"`` every invalid one too (with
    ``"ignore"`` invalid steps are free, and the env bounds them itself).

    Args:
        env: an LLMConfig env, possibly wrapped.
        budget: sets the env's ``T`` (between episodes); ``None`` keeps the env's own.
    """

    def __init__(self, env: gym.Env, budget: int | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, budget=budget)
        gym.Wrapper.__init__(self, env)
        if not callable(getattr(env.unwrapped, "set_budget", None)):
            raise TypeError(f"BudgetTruncation needs an LLMConfig env (one with set_budget), got {env.unwrapped}")
        if budget is not None:
            env.unwrapped.set_budget(budget)
        self._finished = False

    @property
    def budget(self) -> int:
        """``T``, read from the env (never stored here)."""
        return self.env.unwrapped.budget

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._finished = False
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._finished:
            raise RuntimeError(f"the episode is over (budget of {self.budget} trial(s)); call reset() before step()")
        observation, reward, terminated, truncated, info = self.env.step(action)
        truncated = truncated or (not terminated and info["budget_left"] <= 0)
        self._finished = terminated or truncated
        return observation, reward, terminated, truncated, info


def parse_budgets(text: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"1,3,5"`` -> [1, 3, 5]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            values = range(int(low), int(high) + 1) if sep else [int(part)]
        except ValueError:
            raise InvalidArgument(f"budgets must look like 1-5 or 1,3,5; got {text!r}") from None
        if sep and not values:
            raise InvalidArgument(f"budget range {part!r} is descending; write it low to high, "
                                  f"e.g. {high.strip()}-{low.strip()}")
        out.extend(values)
    if not out or min(out) < 1:
        raise InvalidArgument(f"budgets must be positive integers, got {text!r}")
    return sorted(set(out))
