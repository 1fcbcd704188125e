"""The agent protocol every agent in the zoo implements.

An agent never sees an env's answer table. It gets the env's ``TaskCard``
(config space, fidelity metadata, demonstrations) at ``reset``, then plays
text: ``act`` returns the action string for ``env.step`` and ``observe``
receives what the env answered. Agents that learn from lower fidelities
implement ``fit``: they are handed a
:class:`~gymnasium_llmconfig.training_data.TrainingSet` (the benchmark runner
builds it from a suite's training envs only) and never load envs themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import gymnasium

if TYPE_CHECKING:
    from pathlib import Path

    from gymnasium_llmconfig.card import TaskCard
    from gymnasium_llmconfig.training_data import TrainingSet


@runtime_checkable
class Agent(Protocol):
    """Minimal interface: usable with a plain ``gymnasium.make`` loop."""

    name: str

    def reset(self, card: TaskCard, seed: int | None = None) -> None:
        """Start an episode on the env described by ``card``."""

    def act(self, observation: str) -> str:
        """Return the next action text (a JSON config or an ``exec_config`` tool call)."""

    def observe(self, observation: str, reward: float, info: dict[str, Any]) -> None:
        """Receive the env's answer to the last action."""


@runtime_checkable
class LearningAgent(Agent, Protocol):
    """An agent that learns from training (lower-fidelity) envs before it plays."""

    def fit(self, training_set: TrainingSet) -> None:
        """Learn from the training envs' runs (never a test env's)."""

    def save(self, path: str | Path) -> Any:
        """Write the fitted agent into directory ``path`` (no pickles: results directories are shared)."""

    @classmethod
    def load(cls, path: str | Path) -> LearningAgent:
        """The agent :meth:`save` wrote into ``path``."""


def run_episode(env: gymnasium.Env, agent: Agent, seed: int | None = None) -> list[dict[str, Any]]:
    """Play one episode of ``agent`` on ``env`` through reset/step; returns every step's ``info``."""
    observation, _ = env.reset(seed=seed)
    agent.reset(env.unwrapped.card, seed=seed)
    infos: list[dict[str, Any]] = []
    done = False
    while not done:
        observation, reward, terminated, truncated, info = env.step(agent.act(observation))
        agent.observe(observation, reward, info)
        infos.append(info)
        done = terminated or truncated
    return infos
