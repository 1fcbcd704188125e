"""Leaderboard runs: agents × test envs × budgets × seeds, one Ray task per episode, resumable.

The driver resolves the suite, checks every agent's name and arguments
without building it (so a mistake fails before anything runs and nothing
heavy loads in the driver), fits the learning agents on the
suite's *training* envs only (a Ray task each, in parallel with the
episodes of the agents that need no fit), then plays every pending episode
as a Ray task and appends each finished episode to the results store as it
arrives. Workers build an agent once and reuse it across episodes: the agent
protocol's ``reset`` starts a clean episode. ``workers=0`` plays in the
driver process, without Ray (for debugging and quick tests).

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
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

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
from gymnasium_llmconfig.lab.leaderboard.report import write_report
from gymnasium_llmconfig.lab.leaderboard.store import EpisodeKey, ResultStore
from gymnasium_llmconfig.metrics import episode_result
from gymnasium_llmconfig.registry import load_registry

if TYPE_CHECKING:
    from typing import Self

#: Packages whose agents every worker can import; agents from anywhere else travel by value.
INSTALLED_AGENT_PACKAGES = ("agents", "gymnasium_llmconfig", "wrappers")
#: Environment variables a worker needs to find the same data, cache and registry as the driver.
FORWARDED_ENV = ("LLMCONFIG_DATA_DIR", "LLMCONFIG_CACHE_DIR", "LLMCONFIG_REGISTRY")
#: Seconds an interrupted run waits for its cancelled tasks to end before shutting Ray down.
DRAIN_S = 3.0


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
    data.require(_sources([*suite.train, *test_envs]), needed_by=f"The {plan.suite!r} suite")
    store = ResultStore(out)
    store.check_settings({"suite": plan.suite, "env_kwargs": dict(plan.env_kwargs)})
    done = store.done()
    jobs = [_AgentJob(spec) for spec in plan.agents]
    agents = {job.label: job for job in jobs}
    if len(agents) < len(jobs):
        labels = [job.label for job in jobs]
        raise ValueError(f"two agents would be stored under the same name ({', '.join(sorted(labels))}); "
                         "give your agent class its own `name` attribute or pass different arguments")
    planned = {label: _keys(label, test_envs, plan) for label in agents}
    pending = {label: [key for key in keys if key not in done] for label, keys in planned.items()}
    skipped = sum(map(len, planned.values())) - sum(map(len, pending.values()))
    played, total = 0, sum(map(len, pending.values()))
    with _first_interrupt_only():
        with contextlib.suppress(KeyboardInterrupt), store.appender() as log, \
                _executor(workers, address) as executor, _progress(progress) as bar:
            task = bar.add_task("episodes", total=total)
            running: dict[Any, tuple[str, Any]] = {}
            for label, job in agents.items():
                if not pending[label]:
                    continue
                if job.learns:
                    job.fitted = store.load_fitted(label)
                    if job.fitted is None:
                        bar.update(task, description=f"fitting {', '.join(j for j, a in agents.items() if a.learns)}")
                        running[executor.submit(_fit, job.blob(), list(suite.train))] = ("fit", label)
                        continue
                _submit_episodes(executor, running, job, pending[label], plan.env_kwargs)
            for handle, result in executor.as_completed(running):
                kind, payload = running.pop(handle)
                if kind == "fit":
                    store.save_fitted(payload, result)
                    agents[payload].fitted = result
                    _submit_episodes(executor, running, agents[payload], pending[payload], plan.env_kwargs)
                    continue
                log.append(store.encode_row(result))
                played += 1
                bar.update(task, advance=1, description=result["agent"])
                if stop_after is not None and played >= stop_after:
                    break
        wall = time.perf_counter() - start
        report = write_report(store.rows(), store.out, run_info={
            "suite": plan.suite, "wall_s": wall, "workers": workers if workers is not None else "all cores"})
    return BenchmarkOutcome(played, skipped, wall, report, interrupted=played < total)


@contextlib.contextmanager
def _first_interrupt_only() -> Iterator[None]:
    """The first Ctrl-C raises KeyboardInterrupt; later ones are absorbed so that the clean stop it starts
    (cancel, drain, ``ray.shutdown()``, report) always completes instead of leaving Ray processes behind."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
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
        raise ValueError(f"{', '.join(unknown)} not among the {plan.suite!r} suite's test envs: "
                         f"{', '.join(suite_test)}")
    return list(plan.envs)


def _sources(env_ids: Sequence[str]) -> list[data.DataSource]:
    """Every source of the tasks these envs belong to (demos and fits read their other fidelities too)."""
    registry = load_registry()
    tasks = {registry.env(env_id)[0].name: registry.env(env_id)[0] for env_id in env_ids}
    return list({s.name: s for task in tasks.values() for s in task.sources.values()}.values())


def _keys(label: str, envs: Sequence[str], plan: BenchmarkPlan) -> list[EpisodeKey]:
    return [(label, e, int(b), int(s)) for e in envs for b in plan.budgets for s in plan.seeds]


class _AgentJob:
    """One agent of the plan: how workers rebuild it, and whether it must be fitted first."""

    def __init__(self, spec: AgentSpec):
        factory, implied = resolve_agent(spec.reference)
        self.factory, self.kwargs = factory, {**implied, **spec.kwargs}
        self.label = _label(spec, factory)
        check_arguments(spec.reference, factory, self.kwargs)  # fail before anything runs, build nothing heavy
        self.learns = callable(getattr(factory, "fit", None))
        _ship_by_value_if_local(factory)
        self.fitted: bytes | None = None

    def blob(self) -> bytes:
        """What a worker needs to get this agent: the fitted agent, or the recipe to build it."""
        return self.fitted if self.fitted is not None else cloudpickle.dumps((self.factory, self.kwargs))


def _label(spec: AgentSpec, factory: Callable[..., Any]) -> str:
    """A ``module:Class`` agent is stored under the ``name`` its class declares (``my_agents:Mine`` -> ``mine``);
    an inherited name is not used, so a subclass of ``RandomSearch`` is never taken for ``random``."""
    own = vars(factory).get("name") if ":" in spec.reference and isinstance(factory, type) else None
    return replace(spec, reference=own).label if isinstance(own, str) and own else spec.label


def _ship_by_value_if_local(factory: Callable[..., Any]) -> None:
    """Agents defined outside installed packages (a script, a test file) are pickled with their code."""
    module = sys.modules.get(getattr(factory, "__module__", ""))
    if module is None or module.__name__ == "__main__":
        return
    top = module.__name__.split(".")[0]
    if top not in INSTALLED_AGENT_PACKAGES and "site-packages" not in (getattr(module, "__file__", "") or ""):
        cloudpickle.register_pickle_by_value(importlib.import_module(top))


def _submit_episodes(executor: _Executor, running: dict, job: _AgentJob, keys: Sequence[EpisodeKey],
                     env_kwargs: Mapping[str, Any]) -> None:
    blob = executor.share(job.blob())
    for label, env_id, budget, seed in keys:
        running[executor.submit(_play, label, blob, env_id, budget, seed, dict(env_kwargs))] = ("episode", None)


# --- what runs in a worker -----------------------------------------------------------------
_AGENTS: dict[int, Any] = {}


def _agent_from(blob: bytes) -> Any:
    """The worker's agent for ``blob`` (built or unpickled once per worker process)."""
    token = hash(blob)
    if token not in _AGENTS:
        loaded = cloudpickle.loads(blob)
        if isinstance(loaded, tuple):
            factory, kwargs = loaded
            loaded = factory(**kwargs)
        _AGENTS[token] = loaded
    return _AGENTS[token]


def _fit(blob: bytes, train_env_ids: list[str]) -> bytes:
    factory, kwargs = cloudpickle.loads(blob)
    agent = factory(**kwargs)
    agent.fit(train_env_ids)
    return cloudpickle.dumps(agent)


def _play(label: str, blob: bytes, env_id: str, budget: int, seed: int, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One episode; returns its leaderboard row."""
    agent = _agent_from(blob)
    env = RecordEpisodeStatistics(gymnasium.make(env_id, budget=budget, **env_kwargs))
    start = time.perf_counter()
    infos = run_episode(env, agent, seed=seed)
    wall = time.perf_counter() - start
    problem = env.unwrapped.problem
    result = episode_result(problem, budget, infos, [infos[-1]["episode"]["r"]], seed=seed)
    record = getattr(agent, "record", None)
    row = {"agent": label, **asdict(result), "role": problem.fidelity.role, "wall_s": wall,
           "text_agent": not _is_config_agent(agent),
           "steps": [{k: info.get(k) for k in ("config", "matched_config", "metric", "valid", "repeat", "error")}
                     for info in infos]}
    if record is not None and callable(getattr(record, "to_dict", None)):
        row["agent_record"] = record.to_dict()
    return json.loads(json.dumps(row, default=_jsonable))


def _is_config_agent(agent: Any) -> bool:
    from agents.config_agent import ConfigAgent

    return isinstance(agent, ConfigAgent)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


# --- executors: Ray, or the driver itself ---------------------------------------------------
class _Executor:
    def share(self, blob: bytes) -> Any:
        return blob

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Release what the executor holds."""


class _InlineExecutor(_Executor):
    """Runs each submitted call when its result is asked for, in submission order."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return _Call(fn, args)

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
        while running:
            call = next(iter(running))
            yield call, call.fn(*call.args)


class _Call:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self.fn, self.args = fn, args


class _RayExecutor(_Executor):
    """One Ray task per call; results as they finish. Leaving it cancels what is still in flight, drains it
    for up to :data:`DRAIN_S` seconds and shuts Ray down, also when Ray's start-up itself is interrupted."""

    def __init__(self, workers: int | None, address: str | None):
        import ray

        self.ray = ray
        self._in_flight: set[Any] = set()
        env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        runtime_env = {"env_vars": env_vars} if env_vars else None
        try:
            if address:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env, object_store_memory=256 * 1024**2, logging_level="ERROR")
        except BaseException:
            ray.shutdown()
            raise
        self._remote = {fn: ray.remote(num_cpus=1)(fn) for fn in (_fit, _play)}

    def share(self, blob: bytes) -> Any:
        return self.ray.put(blob)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        ref = self._remote[fn].remote(*args)
        self._in_flight.add(ref)
        return ref

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[tuple[Any, Any]]:
        while running:
            ready, _ = self.ray.wait(list(running), num_returns=1)
            try:
                result = self.ray.get(ready[0])
            except self.ray.exceptions.RayTaskError as error:
                raise error.cause from None  # the worker's own error, not Ray's wrapped traceback
            self._in_flight.discard(ready[0])
            yield ready[0], result

    def __exit__(self, *exc: object) -> None:
        try:
            refs = list(self._in_flight)
            for ref in refs:
                self.ray.cancel(ref)  # a KeyboardInterrupt in the task; force=True would kill its worker
            if refs:
                self.ray.wait(refs, num_returns=len(refs), timeout=DRAIN_S)
        finally:
            self.ray.shutdown()


def _executor(workers: int | None, address: str | None) -> _Executor:
    if workers == 0 and not address:
        return _InlineExecutor()
    return _RayExecutor(workers, address)


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
            raise ValueError(f"budgets must look like 1-5 or 1,3,5; got {text!r}") from None
        if sep and not values:
            raise ValueError(f"budget range {part!r} is descending; write it low to high, "
                             f"e.g. {high.strip()}-{low.strip()}")
        out.extend(values)
    if not out or min(out) < 1:
        raise ValueError(f"budgets must be positive integers, got {text!r}")
    return sorted(set(out))


def parse_agent_args(items: Sequence[str], references: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--agent-arg`` values: ``key=value`` (every agent) or ``agent.key=value`` (one agent).

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as text.
    """
    per_agent: dict[str, dict[str, Any]] = {ref: {} for ref in references}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--agent-arg must be key=value or agent.key=value, got {item!r}")
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

