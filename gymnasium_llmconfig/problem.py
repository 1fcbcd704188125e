"""A problem: the fixed facts behind one env (space, outcomes, reference values).

Task modules build problems from data; the env, the TaskCard, the paper-style
API and the benchmarks only ever talk to this interface. The outcome oracle is
private to the env: nothing here is handed to agents except through the env's
``step`` (which spends budget) or, for lower-fidelity demonstrations, through
:meth:`Problem.top_configs`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gymnasium_llmconfig.config_space import Config, ConfigSpace, FiniteConfigSpace

Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class Outcome:
    """What one run of a config produced: the target metric and experiment details."""

    metric: float
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskInfo:
    """Text and target of a task, as the prompt presents it."""

    name: str
    title: str
    description: str
    metric_name: str
    direction: Direction
    metric_description: str = ""

    def better(self, a: float, b: float) -> bool:
        """True when metric value ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "minimize" else a > b

    def utility(self, metric: float) -> float:
        """The metric signed so that larger is better: the one home of that sign flip."""
        return metric if self.direction == "maximize" else -metric

    def metric(self, utility: float) -> float:
        """The inverse of :meth:`utility`."""
        return self.utility(utility)


@dataclass(frozen=True)
class FidelityInfo:
    """Where an env sits on its task's fidelity ladder, as data."""

    name: str
    role: str  # "low" | "medium" | "high"
    metadata: Mapping[str, Any]
    description: str


class Problem(ABC):
    """One (task, fidelity) pair: config space, oracle and reference best/worst."""

    env_id: str
    task: TaskInfo
    fidelity: FidelityInfo
    space: ConfigSpace
    best_value: float
    worst_value: float
    best_config: Config

    @abstractmethod
    def evaluate(self, canonical: Mapping[str, Any]) -> Outcome:
        """Outcome of a canonical config (one that ``space.canonicalize`` returned)."""

    @abstractmethod
    def top_configs(self, k: int) -> list[tuple[Config, float]]:
        """The ``k`` best configs with their metric, best first (demonstrations)."""

    def describe_space(self) -> str:
        """The config space as the prompt shows it."""
        return self.space.describe()

    def normalized_regret(self, value: float) -> float:
        """Simple regret of ``value`` in [0, 1]: 0 at the env's best, 1 at its worst."""
        span = self.best_value - self.worst_value
        if span == 0:
            return 0.0
        regret = (self.best_value - value) / span
        return min(1.0, max(0.0, regret))


class TableProblem(Problem):
    """A problem answered from a finite table of real runs."""

    def __init__(
        self,
        env_id: str,
        task: TaskInfo,
        fidelity: FidelityInfo,
        space: FiniteConfigSpace,
        outcomes: Sequence[Outcome],
    ):
        if len(outcomes) != len(space):
            raise ValueError(f"{env_id}: {len(outcomes)} outcomes for {len(space)} configs")
        if not outcomes:
            raise ValueError(f"{env_id}: no runs")
        self.env_id = env_id
        self.task = task
        self.fidelity = fidelity
        self.space = space
        configs = space.enumerate()
        self._outcomes: dict[Hashable, Outcome] = {space.key(c): o for c, o in zip(configs, outcomes, strict=True)}
        order = sorted(range(len(configs)), key=lambda i: -task.utility(outcomes[i].metric))
        self._ranked = [(configs[i], outcomes[i].metric) for i in order]
        self.best_config, self.best_value = dict(self._ranked[0][0]), self._ranked[0][1]
        self.worst_value = self._ranked[-1][1]

    def evaluate(self, canonical: Mapping[str, Any]) -> Outcome:
        return self._outcomes[self.space.key(canonical)]

    def top_configs(self, k: int) -> list[tuple[Config, float]]:
        return [(dict(c), v) for c, v in self._ranked[:k]]

    def rank_of(self, value: float) -> int:
        """How many configs in the table are strictly better than ``value`` (0 = best)."""
        return sum(1 for _, v in self._ranked if self.task.better(v, value))
