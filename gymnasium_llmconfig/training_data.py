"""What a learning agent's ``fit`` is handed: the training envs, typed and read-only.

The low-to-high protocol (paper 000, §3: learn from cheap runs, optimize
expensive ones) lets an agent read every outcome of a *training* env before it
plays a test env. The top layer builds a :class:`TrainingSet` from a suite's
training env ids and passes it to ``fit``, so agents never call the registry
themselves and can never reach a test env's table. Outcomes are given as
signed utilities (:meth:`TaskInfo.utility`: larger is better), the one place
the metric's direction is read for that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import Config, ConfigSpace, FiniteConfigSpace
from gymnasium_llmconfig.curation import Suite
from gymnasium_llmconfig.problem import Problem, TaskInfo
from gymnasium_llmconfig.registry import Registry, load_problem, load_registry


@dataclass(frozen=True)
class TrainingEnv:
    """One training env: where it sits (task, role, fidelity metadata), its space and its answers.

    A table env's runs are all listed by :meth:`runs`; an infinite space (Arch)
    has no list, and :meth:`utilities` answers any of its configs from the
    env's surrogate, as cheap as a table lookup.
    """

    env_id: str
    task: TaskInfo
    role: str
    metadata: Mapping[str, Any]
    space: ConfigSpace
    _problem: Problem = field(repr=False, compare=False)
    #: Best and worst signed utility of the kept runs when the table was thinned (else the problem's own).
    _span: tuple[float, float] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, problem: Problem, keep: Sequence[int] | None = None) -> TrainingEnv:
        """The env of ``problem``; ``keep`` (indices into its runs) hides every other run, as if never run.

        A thinned env's :attr:`space` lists the kept configs only, :meth:`utility`
        refuses the others and :meth:`normalized_regret` spans the kept runs.
        """
        metadata = MappingProxyType(dict(problem.fidelity.metadata))
        if keep is None:
            return cls(problem.env_id, problem.task, problem.fidelity.role, metadata, problem.space, problem)
        if not isinstance(problem.space, FiniteConfigSpace) or not len(keep):
            raise ValueError(f"{problem.env_id}: only a table env can be thinned, and to at least one run")
        configs = problem.space.enumerate()
        space = FiniteConfigSpace(problem.space.parameters, [configs[i] for i in keep])
        utilities = [problem.task.utility(problem.evaluate(configs[i]).metric) for i in keep]
        return cls(problem.env_id, problem.task, problem.fidelity.role, metadata, space, problem,
                   (max(utilities), min(utilities)))

    @property
    def direction(self) -> str:
        return self.task.direction

    def utility(self, config: Config) -> float:
        """The signed utility (larger is better) of a canonical config of :attr:`space`."""
        if self._span is not None and not self.space.contains(config):
            raise KeyError(f"{self.env_id}: {config} is held out of this training set")
        return self.task.utility(self._problem.evaluate(config).metric)

    def utilities(self, configs: Sequence[Config]) -> np.ndarray:
        """:meth:`utility` of each config."""
        return np.array([self.utility(c) for c in configs], dtype=np.float64)

    def runs(self) -> tuple[list[Config], np.ndarray]:
        """Every config of a finite space with its signed utility (rows in ``space.enumerate()`` order)."""
        if not self.space.is_finite:
            raise ValueError(f"{self.env_id}: an infinite space has no list of runs; sample configs from "
                             "env.space and answer them with env.utilities(configs)")
        configs = self.space.enumerate()
        return configs, self.utilities(configs)

    def normalized_regret(self, utility: float) -> float:
        """Simple regret in [0, 1] of a signed utility (paper 000, eq. 2): 0 at the env's best, 1 at its worst."""
        if self._span is None:
            return self._problem.normalized_regret(self.task.metric(utility))
        best, worst = self._span
        return 0.0 if best == worst else min(1.0, max(0.0, (best - utility) / (best - worst)))


@dataclass(frozen=True)
class TrainingSet:
    """The training envs of a fit, in the order given (never a test env: the top layer picks them)."""

    envs: tuple[TrainingEnv, ...]

    @classmethod
    def from_env_ids(cls, env_ids: Sequence[str]) -> TrainingSet:
        """Load the given envs (e.g. a suite's ``train`` ids); usable without the leaderboard."""
        if isinstance(env_ids, str):
            raise TypeError(f"TrainingSet.from_env_ids takes a list of env ids, got the string {env_ids!r}")
        return cls(tuple(TrainingEnv.of(load_problem(env_id)) for env_id in env_ids))

    @classmethod
    def from_suite(cls, suite: Suite, registry: Registry | None = None) -> TrainingSet:
        """A suite's training envs, thinned by its :attr:`~Suite.selection` (stress suites) when it has one.

        The reversed rule compares each training env with the suite's test envs
        of the same task and ladder; a training env left with no run is dropped.
        """
        if suite.selection is None:
            return cls.from_env_ids(suite.train)
        registry = registry or load_registry()
        envs = []
        for env_id in suite.train:
            problem = load_problem(env_id)
            if not problem.space.is_finite:
                envs.append(TrainingEnv.of(problem))
                continue
            rung = _rung(registry, env_id)
            tests = [load_problem(t) for t in suite.test if _rung(registry, t) == rung]
            rows = suite.selection.rows(problem, tests)
            if len(rows):
                envs.append(TrainingEnv.of(problem, rows.tolist()))
        return cls(tuple(envs))

    @property
    def env_ids(self) -> list[str]:
        return [env.env_id for env in self.envs]

    def by_task(self) -> dict[str, list[TrainingEnv]]:
        """The envs grouped by task name, each group in the order given."""
        grouped: dict[str, list[TrainingEnv]] = {}
        for env in self.envs:
            grouped.setdefault(env.task.name, []).append(env)
        return grouped

    def __iter__(self) -> Iterator[TrainingEnv]:
        return iter(self.envs)

    def __len__(self) -> int:
        return len(self.envs)


def _rung(registry: Registry, env_id: str) -> tuple[str, str]:
    """(task, ladder) of an env: the reversed rule compares training and test envs of one ladder."""
    task, fidelity = registry.env(env_id)
    return task.name, fidelity.ladder
