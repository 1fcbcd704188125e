"""The paper's lookup API (AutoLLMResearch, appendix A.1) as a thin facade.

``LMConfigGym`` navigates Task -> Fidelity -> Experiment over the same registry
and problems the Gymnasium envs use; nothing here has its own data path::

    gym = LMConfigGym()
    gym.list_tasks()
    gym.set_task("Pretrain")
    gym.show_envs()
    gym.set_env(N=429260800, D=50000000000)
    gym.show_configuration_space()
    gym.query({"lr": 0.00195, "bs": 128})

Unlike the envs, ``query`` spends no budget: it is for analysis and for
building datasets, not for evaluating agents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gymnasium_llmconfig.config_space import CONFIG_ID_KEY, InvalidConfig
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.problem import Problem
from gymnasium_llmconfig.registry import Registry, TaskSpec, load_problem, load_registry


class LMConfigGym:
    """Stateful navigator: pick a task, then a fidelity, then query configs."""

    def __init__(self, reveal_names: bool = True, registry: Registry | None = None):
        self.registry = registry or load_registry()
        self.reveal_names = reveal_names
        self._task: TaskSpec | None = None
        self._problem: Problem | None = None

    def list_tasks(self) -> list[str]:
        return list(self.registry.tasks)

    def set_task(self, name: str) -> None:
        self._task = self.registry.task(name)
        self._problem = None

    def show_envs(self) -> list[dict[str, Any]]:
        """The current task's fidelities: env id, role and metadata (what ``set_env`` accepts)."""
        task = self._require_task()
        return [{"env_id": f.env_id, "name": f.name, "role": f.role, **f.metadata} for f in task.fidelities]

    def set_env(self, env_id: str | None = None, **fidelity: Any) -> str:
        """Fix one fidelity, by env id or by metadata values (e.g. ``N=..., D=...``); returns the env id."""
        task = self._require_task()
        if env_id is None:
            matches = [f for f in task.fidelities if _matches(f.metadata, fidelity)]
            if len(matches) != 1:
                options = "; ".join(f"{f.env_id} {dict(f.metadata)}" for f in task.fidelities)
                found = "no" if not matches else f"{len(matches)}"
                raise InvalidArgument(f"{found} fidelity of {task.name} matches {fidelity}; options: {options}")
            env_id = matches[0].env_id
        elif env_id not in {f.env_id for f in task.fidelities}:
            raise InvalidArgument(f"{env_id!r} is not an env of task {task.name}; see show_envs()")
        self._problem = load_problem(env_id, reveal_names=self.reveal_names)
        return env_id

    def show_configuration_space(self) -> dict[str, Any]:
        problem = self._require_problem()
        out = problem.space.to_dict()
        out["text"] = problem.describe_space()
        return out

    def query(self, config: Mapping[str, Any] | int) -> dict[str, Any]:
        """Metric and details of a config given as a dict or as its index in the space."""
        problem = self._require_problem()
        proposal = {CONFIG_ID_KEY: config} if isinstance(config, int) else config
        try:
            canonical = problem.space.canonicalize(proposal)
        except InvalidConfig as exc:
            raise ValueError(str(exc)) from None
        outcome = problem.evaluate(canonical)
        return {
            "config": canonical,
            "metric": outcome.metric,
            "metric_name": problem.task.metric_name,
            "details": dict(outcome.details),
            "normalized_regret": problem.normalized_regret(outcome.metric),
        }

    def init_datasets(self, suite: str = "l2h") -> dict[str, list[str]]:
        """The predefined train/test env ids of a suite (see :func:`~gymnasium_llmconfig.curation.resolve_suite`)."""
        resolved = resolve_suite(suite, self.registry)
        return {"train": list(resolved.train), "test": list(resolved.test)}

    def _require_task(self) -> TaskSpec:
        if self._task is None:
            raise RuntimeError(f"call set_task first; tasks: {', '.join(self.list_tasks())}")
        return self._task

    def _require_problem(self) -> Problem:
        if self._problem is None:
            raise RuntimeError("call set_env first; see show_envs()")
        return self._problem


def _matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        have = metadata.get(key)
        if have is None:
            return False
        if isinstance(value, (int, float)) and isinstance(have, (int, float)):
            if abs(float(have) - float(value)) > 1e-9 * max(abs(float(value)), 1.0):
                return False
        elif str(have) != str(value):
            return False
    return True
