"""The TaskCard: everything a structured (non-text) agent may know about an env.

It carries the config space, the task and fidelity descriptions, the budget
and any lower-fidelity demonstrations, but never the env's answer table: an
agent learns the outcome of a config only by spending budget on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gymnasium_llmconfig.config_space import Config, ConfigSpace
from gymnasium_llmconfig.problem import FidelityInfo, TaskInfo


@dataclass(frozen=True)
class Demonstration:
    """Top configs of one lower-fidelity env, with their metric values."""

    env_id: str
    fidelity: FidelityInfo
    configs: tuple[tuple[Config, float], ...]


@dataclass(frozen=True)
class TaskCard:
    """Public description of one env instance."""

    env_id: str
    task: TaskInfo
    fidelity: FidelityInfo
    space: ConfigSpace
    budget: int
    demonstrations: tuple[Demonstration, ...] = ()
