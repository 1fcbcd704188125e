"""The top layer's one fan-out: calls as Ray tasks (local workers or a cluster), or in this process.

The leaderboard runner and the sweep collector both submit calls and take
results as they finish; DESIGN.md ("Scale") makes Ray the engine, with no
home-made pools. ``cancel`` drops the calls still in flight (what Ctrl-C does
in both); leaving the ``with`` block cancels whatever is still running, waits
up to :data:`DRAIN_S` for it to stop, then shuts Ray down, so an interrupted
run leaves no Ray process behind.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gymnasium_llmconfig.extras import DISTRIBUTION

if TYPE_CHECKING:
    from typing import Self

#: Environment variables a worker needs to find the same data, cache and registry as the driver.
FORWARDED_ENV = ("LLMCONFIG_DATA_DIR", "LLMCONFIG_CACHE_DIR", "LLMCONFIG_REGISTRY")
#: Seconds an executor being left waits for its cancelled calls to end before shutting Ray down.
DRAIN_S = 3.0


def cluster_runtime_env(pip: bool = False) -> dict[str, Any]:
    """The Ray runtime_env that lets a cluster's workers run this project's code as this machine has it.

    ``py_modules`` ships the ``gymnasium_llmconfig``, ``agents`` and ``wrappers`` packages (about 1.4 MB
    of source, caches excluded) and ``env_vars`` every ``LLMCONFIG_*`` variable of this process, so
    workers find the same data, cache and registry (the data directory must be on a filesystem the
    nodes share). With ``pip``, Ray also installs the project's base requirements into the job's
    environment (an OpenRLHF image lacks ``gymnasium``); otherwise the nodes must have them.
    """
    import agents
    import gymnasium_llmconfig
    import wrappers

    env: dict[str, Any] = {
        "py_modules": [str(Path(m.__file__).parent) for m in (gymnasium_llmconfig, agents, wrappers)],
        "excludes": ["__pycache__", "*.pyc"],
    }
    if pip:
        env["pip"] = [r for r in importlib.metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r]
    forwarded = {k: v for k, v in sorted(os.environ.items()) if k.startswith("LLMCONFIG_")}
    if forwarded:
        env["env_vars"] = forwarded
    return env


class Executor:
    """Submit calls, then take each one's handle as it finishes and read its result."""

    #: Exceptions that :meth:`result` raises for a call whose worker died (none when calls run in process).
    task_errors: tuple[type[BaseException], ...] = ()

    def share(self, value: Any) -> Any:
        """``value`` in a form every call can take without copying it again (Ray's object store)."""
        return value

    def submit(self, fn: Callable[..., Any], *args: Any, num_cpus: float = 1, num_gpus: float = 0) -> Any:
        """Start ``fn(*args)``; returns its handle."""
        raise NotImplementedError

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[Any]:
        """The handles in ``running`` as their calls finish; the caller removes each one it is given."""
        raise NotImplementedError

    def result(self, handle: Any) -> Any:
        """The return value of a finished call (raises what the call raised)."""
        raise NotImplementedError

    def cancel(self, running: Mapping[Any, Any]) -> None:
        """Drop the calls not finished yet."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Release what the executor holds."""


class InlineExecutor(Executor):
    """Runs each call when its result is asked for, in submission order (debugging, quick tests)."""

    def submit(self, fn: Callable[..., Any], *args: Any, num_cpus: float = 1, num_gpus: float = 0) -> Any:
        return _Call(fn, args)

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[Any]:
        while running:
            yield next(iter(running))

    def result(self, handle: _Call) -> Any:
        return handle.fn(*handle.args)


class _Call:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]):
        self.fn, self.args = fn, args


class RayExecutor(Executor):
    """One Ray task per call, on ``num_cpus`` local CPUs or the cluster at ``address``."""

    def __init__(self, num_cpus: int | None = None, address: str | None = None,
                 object_store_memory: int | None = None):
        import ray

        self.ray = ray
        self.task_errors = (ray.exceptions.RayError,)
        self._in_flight: set[Any] = set()
        env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        runtime_env = {"env_vars": env_vars} if env_vars else None
        try:
            if address:  # a cluster's nodes may not have this project: ship it
                ray.init(address=address, runtime_env=cluster_runtime_env(), log_to_driver=False,
                         logging_level="ERROR")
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env, object_store_memory=object_store_memory, logging_level="ERROR",
                         ignore_reinit_error=True)
        except BaseException:  # Ctrl-C during start-up too: leave no half-started Ray behind
            ray.shutdown()
            raise
        self._remote: dict[tuple[Callable[..., Any], float, float], Any] = {}

    def share(self, value: Any) -> Any:
        return self.ray.put(value)

    def submit(self, fn: Callable[..., Any], *args: Any, num_cpus: float = 1, num_gpus: float = 0) -> Any:
        key = (fn, num_cpus, num_gpus)
        if key not in self._remote:
            self._remote[key] = self.ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(fn)
        ref = self._remote[key].remote(*args)
        self._in_flight.add(ref)
        return ref

    def as_completed(self, running: Mapping[Any, Any]) -> Iterator[Any]:
        while running:
            ready, _ = self.ray.wait(list(running), num_returns=1)
            yield ready[0]

    def result(self, handle: Any) -> Any:
        self._in_flight.discard(handle)
        return self.ray.get(handle)

    def cancel(self, running: Mapping[Any, Any]) -> None:
        refs = list(running)
        for ref in refs:
            self.ray.cancel(ref)  # a KeyboardInterrupt in the task; force=True would kill its worker mid-write
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=DRAIN_S)
        self._in_flight.difference_update(refs)

    def __exit__(self, *exc: object) -> None:
        try:
            self.cancel(list(self._in_flight))
        finally:
            self.ray.shutdown()


def make_executor(workers: int | None, address: str | None = None, **ray_options: Any) -> Executor:
    """In process for ``workers=0`` without an address; otherwise Ray (``workers=None``: every core)."""
    if workers == 0 and not address:
        return InlineExecutor()
    return RayExecutor(workers, address, **ray_options)
