"""Leaderboard runs: agents × test envs × budgets × seeds, one Ray task per episode, resumable.

The driver resolves the suite, checks every agent's name and arguments
without building it (so a mistake fails before anything runs and nothing
heavy loads in the driver), fits the learning agents on a
:class:`~gymnasium_llmconfig.training_data.TrainingSet` of the suite's
*training* envs only (a Ray task each, in parallel with the episodes of the
agents that need no fit), then plays every pending episode as a Ray task and
appends each finished episode to the results store as it arrives. A fitted
agent travels and is stored as the files its ``save(path)`` writes (JSON and
safetensors for the zoo), never as a pickle; ``load(path)`` rebuilds it.
Workers build an agent once and reuse it across episodes: the agent
protocol's ``reset`` starts a clean episode. ``workers=0`` plays in the
driver process, without Ray (for debugging and quick tests). An agent class
that declares ``episode_batch`` (``llm-prompt``) gets its episodes in tasks of
that many, played in lockstep by the rollout engine (:mod:`..rollout`) so its
model generates for all of them at once; rows, resume and report are the same.

Ctrl-C (SIGINT) stops a run cleanly: the first one interrupts, in-flight
tasks are cancelled and drained for a moment, Ray is shut down (no agents
left running) and the report of what finished is written; further Ctrl-Cs
during that shutdown are absorbed so that it always completes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cloudpickle
import gymnasium
from gymnasium.wrappers import RecordEpisodeStatistics
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from agents.base import run_episode
from agents.zoo import check_arguments, resolve_agent
from gymnasium_llmconfig import data
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.executor import Executor, make_executor
from gymnasium_llmconfig.lab.leaderboard.report import write_report
from gymnasium_llmconfig.lab.leaderboard.row import STEP_FIELDS, LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.store import EpisodeKey, ResultStore
from gymnasium_llmconfig.metrics import episode_result
from gymnasium_llmconfig.registry import load_registry
from gymnasium_llmconfig.training_data import TrainingSet

#: Packages whose agents every worker can import; agents from anywhere else travel by value.
INSTALLED_AGENT_PACKAGES = ("agents", "gymnasium_llmconfig", "wrappers")
#: Ray object store of a local run: agents and their fitted files are small.
OBJECT_STORE_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class AgentSpec:
    """An agent reference (name, entry-point name or ``module:Class``) and its constructor arguments."""

    reference: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The agent's name in the results: the reference, plus its arguments when there are any."""
        if not self.kwargs:
            return self.reference
        return f"{self.reference}[{','.join(f'{k}={v}' for k, v in sorted(self.kwargs.items()))}]"


@dataclass(frozen=True)
class BenchmarkPlan:
    """What to run: a suite's test envs × agents × budgets × seeds, with the env options."""

    suite: str
    agents: Sequence[AgentSpec]
    budgets: Sequence[int]
    seeds: Sequence[int]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    envs: Sequence[str] | None = None  # a subset of the suite's test envs (default: all of them)


@dataclass
class BenchmarkOutcome:
    """What a call to :func:`run_benchmark` did."""

    played: int
    skipped: int
    wall_s: float
    report: dict[str, Any]
    interrupted: bool = False


def run_benchmark(
    plan: BenchmarkPlan,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> BenchmarkOutcome:
    """Play every episode of ``plan`` not yet in ``out``; append results as they come; write the report.

    ``stop_after`` ends the run after that many new episodes (as a kill would,
    minus the lost in-flight ones); the next call resumes.
    """
    start = time.perf_counter()
    suite = resolve_suite(plan.suite)
    test_envs = _test_envs(plan, suite.test)
    data.require(load_registry().sources([*suite.train, *test_envs]), needed_by=f"The {plan.suite!r} suite")
    store = ResultStore(out)
    store.check_settings({"suite": plan.suite, "env_kwargs": dict(plan.env_kwargs)})
    done = store.done()
    jobs = [_AgentJob(spec) for spec in plan.agents]
    agents = {job.label: job for job in jobs}
    if len(agents) < len(jobs):
        labels = [job.label for job in jobs]
        raise InvalidArgument(f"two agents would be stored under the same name ({', '.join(sorted(labels))}); "
                              "give your agent class its own `name` attribute or pass different arguments")
    planned = {label: _keys(label, test_envs, plan) for label in agents}
    pending = {label: [key for key in keys if key not in done] for label, keys in planned.items()}
    skipped = sum(map(len, planned.values())) - sum(map(len, pending.values()))
    played, total = 0, sum(map(len, pending.values()))
    with _first_interrupt_only():
        executor = make_executor(workers, address, object_store_memory=OBJECT_STORE_BYTES)
        with contextlib.suppress(KeyboardInterrupt), store.appender() as log, executor, _progress(progress) as bar:
            task = bar.add_task("episodes", total=total)
            running: dict[Any, tuple[str, Any]] = {}
            for label, job in agents.items():
                if not pending[label]:
                    continue
                if job.learns:
                    job.fitted = store.load_fitted(label)
                    if job.fitted is None:
                        bar.update(task, description=f"fitting {', '.join(j for j, a in agents.items() if a.learns)}")
                        running[executor.submit(_fit, job.recipe, list(suite.train))] = ("fit", label)
                        continue
                _submit_episodes(executor, running, job, pending[label], plan.env_kwargs)
            for handle in executor.as_completed(running):
                kind, payload = running.pop(handle)
                result = _result(executor, handle)
                if kind == "fit":
                    store.save_fitted(payload, result)
                    agents[payload].fitted = result
                    _submit_episodes(executor, running, agents[payload], pending[payload], plan.env_kwargs)
                    continue
                for row in result if kind == "episodes" else [result]:
                    log.append(row.to_dict())
                    played += 1
                    bar.update(task, advance=1, description=row.agent)
                if stop_after is not None and played >= stop_after:
                    break
        wall = time.perf_counter() - start
        report = write_report(store.rows(), store.out, run_info={
            "suite": plan.suite, "wall_s": wall, "workers": workers if workers is not None else "all cores"})
    return BenchmarkOutcome(played, skipped, wall, report, interrupted=played < total)


def _result(executor: Executor, handle: Any) -> Any:
    """A finished call's result; a worker's own error is raised as itself, not inside Ray's wrapped traceback."""
    try:
        return executor.result(handle)
    except executor.task_errors as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


@contextlib.contextmanager
def _first_interrupt_only() -> Iterator[None]:
    """The first Ctrl-C raises KeyboardInterrupt; later ones are absorbed so that the clean stop it starts
    (cancel, drain, ``ray.shutdown()``, report) always completes instead of leaving Ray processes behind."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return
    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _test_envs(plan: BenchmarkPlan, suite_test: Sequence[str]) -> list[str]:
    if plan.envs is None:
        return list(suite_test)
    unknown = [e for e in plan.envs if e not in suite_test]
    if unknown:
        raise InvalidArgument(f"{', '.join(unknown)} not among the {plan.suite!r} suite's test envs: "
                              f"{', '.join(suite_test)}")
    return list(plan.envs)


def _keys(label: str, envs: Sequence[str], plan: BenchmarkPlan) -> list[EpisodeKey]:
    return [(label, e, int(b), int(s)) for e in envs for b in plan.budgets for s in plan.seeds]


class _AgentJob:
    """One agent of the plan: how workers rebuild it, and whether it must be fitted first.

    The recipe (factory and arguments) travels to workers in memory only;
    a fitted agent travels as the files of its ``save(path)``.
    """

    def __init__(self, spec: AgentSpec):
        factory = resolve_agent(spec.reference)
        kwargs = dict(spec.kwargs)
        self.label = _label(spec, factory)
        check_arguments(spec.reference, factory, kwargs)  # fail before anything runs, build nothing heavy
        self.learns = callable(getattr(factory, "fit", None))
        if self.learns and not (callable(getattr(factory, "save", None)) and callable(getattr(factory, "load", None))):
            raise InvalidArgument(f"agent {spec.reference!r} has fit() but no save(path) and classmethod load(path): "
                                  "the leaderboard stores fitted agents with them (see agents.persistence.SavedAgent)")
        declared = getattr(factory, "episode_batch", None)
        #: episodes per task for agents that play batched (``llm-prompt``); None: one per task.
        self.batch = None if self.learns or not isinstance(declared, int) else max(
            1, int(kwargs.get("episode_batch", declared)))
        _ship_by_value_if_local(factory)
        self.recipe = cloudpickle.dumps((factory, kwargs))
        self.fitted: dict[str, bytes] | None = None


def _label(spec: AgentSpec, factory: Callable[..., Any]) -> str:
    """A ``module:Class`` agent is stored under the ``name`` its class declares (``my_agents:Mine`` -> ``mine``);
    an inherited name is not used, so a subclass of ``RandomSearch`` is never taken for ``random``."""
    own = vars(factory).get("name") if ":" in spec.reference and isinstance(factory, type) else None
    return replace(spec, reference=own).label if isinstance(own, str) and own else spec.label


def _ship_by_value_if_local(factory: Callable[..., Any]) -> None:
    """Agents defined outside installed packages (a script, a test file) are pickled with their code."""
    target = getattr(factory, "func", factory)  # a functools.partial is defined where its function is
    module = sys.modules.get(getattr(target, "__module__", ""))
    if module is None or module.__name__ == "__main__":
        return
    top = module.__name__.split(".")[0]
    if top not in INSTALLED_AGENT_PACKAGES and "site-packages" not in (getattr(module, "__file__", "") or ""):
        cloudpickle.register_pickle_by_value(importlib.import_module(top))


def _submit_episodes(executor: Executor, running: dict, job: _AgentJob, keys: Sequence[EpisodeKey],
                     env_kwargs: Mapping[str, Any]) -> None:
    recipe, fitted = executor.share(job.recipe), executor.share(job.fitted)
    if job.batch is not None:
        for start in range(0, len(keys), job.batch):
            chunk = list(keys[start:start + job.batch])
            running[executor.submit(_play_batch, recipe, fitted, chunk, dict(env_kwargs))] = ("episodes", None)
        return
    for label, env_id, budget, seed in keys:
        running[executor.submit(_play, label, recipe, fitted, env_id, budget, seed, dict(env_kwargs))] = (
            "episode", None)


# --- what runs in a worker -----------------------------------------------------------------
_AGENTS: dict[int, Any] = {}


def _agent_from(recipe: bytes, fitted: dict[str, bytes] | None) -> Any:
    """The worker's agent: built, or loaded from its saved files, once per worker process."""
    token = hash((recipe, *sorted((fitted or {}).items())))
    if token not in _AGENTS:
        factory, kwargs = cloudpickle.loads(recipe)
        if fitted is None:
            _AGENTS[token] = factory(**kwargs)
        else:
            with tempfile.TemporaryDirectory() as scratch:
                for name, content in fitted.items():
                    (Path(scratch) / name).write_bytes(content)
                _AGENTS[token] = factory.load(scratch)
    return _AGENTS[token]


def _fit(recipe: bytes, train_env_ids: list[str]) -> dict[str, bytes]:
    """Fit on the training envs; returns the files ``save(path)`` wrote (name -> bytes)."""
    factory, kwargs = cloudpickle.loads(recipe)
    agent = factory(**kwargs)
    agent.fit(TrainingSet.from_env_ids(train_env_ids))
    with tempfile.TemporaryDirectory() as scratch:
        agent.save(scratch)
        return {file.name: file.read_bytes() for file in sorted(Path(scratch).iterdir()) if file.is_file()}


def _play(label: str, recipe: bytes, fitted: dict[str, bytes] | None, env_id: str, budget: int, seed: int,
          env_kwargs: dict[str, Any]) -> LeaderboardRow:
    """One episode; returns its leaderboard row."""
    agent = _agent_from(recipe, fitted)
    env = RecordEpisodeStatistics(gymnasium.make(env_id, budget=budget, **env_kwargs))
    start = time.perf_counter()
    infos = run_episode(env, agent, seed=seed)
    wall = time.perf_counter() - start
    return _row(label, env.unwrapped.problem, budget, seed, infos, [infos[-1]["episode"]["r"]], wall,
                not _is_config_agent(agent), getattr(agent, "record", None))


def _play_batch(recipe: bytes, fitted: dict[str, bytes] | None, keys: list[EpisodeKey],
                env_kwargs: dict[str, Any]) -> list[LeaderboardRow]:
    """Episodes of an agent that plays batched, in lockstep through the rollout engine; their rows."""
    from gymnasium_llmconfig.lab.rollout import EpisodeSpec, RolloutEngine

    agent = _agent_from(recipe, fitted)
    engine = RolloutEngine.for_agent(agent, env_kwargs)
    rollouts = engine.play([EpisodeSpec(env_id, budget, seed) for _, env_id, budget, seed in keys])
    return [_row(label, r.problem, r.spec.budget, r.spec.seed, r.infos, r.rewards, r.seconds, True, r.record)
            for (label, *_), r in zip(keys, rollouts, strict=True)]


def _row(label: str, problem: Any, budget: int, seed: int, infos: list[dict[str, Any]], rewards: Sequence[float],
         wall: float, text_agent: bool, record: Any) -> LeaderboardRow:
    result = episode_result(problem, budget, infos, rewards, seed=seed)
    return LeaderboardRow(
        **asdict(result),
        agent=label,
        role=problem.fidelity.role,
        wall_s=wall,
        text_agent=text_agent,
        steps=[{k: info.get(k) for k in STEP_FIELDS} for info in infos],
        agent_record=record.to_dict() if callable(getattr(record, "to_dict", None)) else None,
    )


def _is_config_agent(agent: Any) -> bool:
    from agents.config_agent import ConfigAgent

    return isinstance(agent, ConfigAgent)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("•"),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled)


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


def parse_agent_args(items: Sequence[str], references: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--agent-arg`` values: ``key=value`` (every agent) or ``agent.key=value`` (one agent).

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as text.
    """
    per_agent: dict[str, dict[str, Any]] = {ref: {} for ref in references}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InvalidArgument(f"--agent-arg must be key=value or agent.key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        scope, dot, key = name.strip().rpartition(".")
        targets = [scope] if dot and scope in per_agent else list(per_agent)
        if dot and scope not in per_agent:
            key = name.strip()  # a dotted key of its own, not an agent scope
        for target in targets:
            per_agent[target][key] = value
    return per_agent

