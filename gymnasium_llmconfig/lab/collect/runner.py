"""What every collector shares: spec checks, the resumable run log, the fan-out, the written table.

A collector (``collect pretrain``, ``collect grpo``) expands its spec into ``(run_id, config)``
pairs, where the id hashes everything that determines the outcome, and hands them to
:func:`collect_runs` with a function that performs one run and never raises. Finished runs are
appended to ``runs.jsonl`` (flushed and fsync'ed; a truncated last line from a kill is ignored
and cut), so rerunning the same command skips them; ``write_outputs`` (the table and the registry
fragment) runs even when the sweep is interrupted.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gymnasium_llmconfig.errors import CollectError
from gymnasium_llmconfig.lab.executor import make_executor
from gymnasium_llmconfig.storage import JsonlAppender, StoreError, atomic_write, read_jsonl

RUNS_JSONL = "runs.jsonl"
RUNS_CSV = "runs.csv"
REGISTRY_YAML = "registry.yaml"
DEVICES = ("cpu", "cuda")
#: How a collected table prices its runs for ``llmconfig cost`` (the registry's ``cost:``, read by
#: :mod:`gymnasium_llmconfig.cost`): each run's measured wall time, from its ``wall_time_s`` column.
WALL_TIME_COST = {
    "column": "wall_time_s",
    "hours_per_unit": 1 / 3600,
    "basis": "measured wall time of each run on the collecting machine, counted one device-hour per wall-clock hour "
             "(CPU time, not GPU time, when collected on a CPU)",
}

#: One run: ``(config, shared, device, threads) -> record``; must return a record, not raise.
RunFn = Callable[[Any, Any, str, int], dict[str, Any]]
#: The record of a run whose worker died: ``(config, device, error text) -> record``.
FailureFn = Callable[[Any, str, str], dict[str, Any]]


def read_spec(path: str | os.PathLike[str]) -> Any:
    """A collector spec file's YAML, or one clear error when the file is missing or is not YAML."""
    path = Path(path)
    if not path.is_file():
        raise CollectError(f"spec file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CollectError(f"{path} is not valid YAML: {exc}") from None


def check_keys(where: str, got: Any, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """One clear message for a spec section that is no mapping, has an unknown key or misses one."""
    allowed = set(allowed)
    if not isinstance(got, dict):
        raise CollectError(f"'{where}' must be a mapping")
    if unknown := set(got) - allowed:
        raise CollectError(f"unknown key(s) in {where}: {sorted(unknown)}; allowed: {sorted(allowed)}")
    if missing := set(required) - set(got):
        raise CollectError(f"missing key(s) in {where}: {sorted(missing)}")


def as_int(value: Any) -> int:
    """An integral number (``256``, ``256.0``, ``"256"``) as int; anything else is a ValueError."""
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(value)
    return int(float(value))


def positive_list(raw: dict[str, Any], key: str, kind: Callable[[Any], Any], where: str = "") -> tuple[Any, ...]:
    """``raw[key]`` as a non-empty tuple of distinct positive numbers, or an error naming the key."""
    name = f"{where}.{key}" if where else key
    values = raw[key]
    if not isinstance(values, list) or not values:
        raise CollectError(f"'{name}' must be a non-empty list")
    try:
        parsed = tuple(kind(v) for v in values)
    except (TypeError, ValueError):
        raise CollectError(f"'{name}' must hold numbers, got {values!r}") from None
    if any(not math.isfinite(v) or v <= 0 for v in parsed) or len(set(parsed)) != len(parsed):
        raise CollectError(f"'{name}' must hold distinct positive numbers, got {values!r}")
    return parsed


def read_records(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Finished runs by run_id; a truncated last line is ignored."""
    return {rec["run_id"]: rec for rec in read_jsonl(path)}


def open_run_log(path: Path) -> JsonlAppender:
    """The run log's appender; one collector per output directory."""
    try:
        return JsonlAppender(path, owner="collector")
    except StoreError as exc:
        raise CollectError(str(exc)) from None


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Atomically (re)write a CSV of ``rows`` with ``columns`` (lists and mappings as JSON, None empty)."""

    def write(fh: Any) -> None:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(row.get(k)) for k in columns} for row in rows)

    atomic_write(path, write)


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """Atomically (re)write a registry fragment."""
    text = yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)
    atomic_write(path, lambda fh: fh.write(text))


def check_device(device: str) -> None:
    """Fail early, with a clear message, for an unknown or unavailable device."""
    import torch

    if device not in DEVICES:
        raise CollectError(f"unknown device {device!r}; choose one of {DEVICES}")
    if device == "cuda" and not torch.cuda.is_available():
        raise CollectError(f"--device cuda requested but CUDA is not available to torch {torch.__version__}")


def _execute(todo: Sequence[tuple[str, Any]], run_fn: RunFn, failure: FailureFn, shared: Any, device: str,
             threads: int, workers: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run each config (in process for one worker, else as Ray tasks), yielding results as they finish.

    A worker that dies (e.g. out of memory) is an outcome too; Ctrl-C cancels the runs in flight.
    """
    import torch

    try:
        executor = make_executor(0 if workers == 1 else workers * threads)
    except ImportError:
        raise CollectError("--workers > 1 needs Ray: pip install ray") from None
    with executor:
        gpus = min(1.0, torch.cuda.device_count() / workers) if device == "cuda" else 0
        handle_of_shared = executor.share(shared)
        pending = {executor.submit(run_fn, cfg, handle_of_shared, device, threads, num_cpus=threads, num_gpus=gpus):
                   (rid, cfg) for rid, cfg in todo}
        try:
            for handle in executor.as_completed(pending):
                rid, cfg = pending.pop(handle)
                try:
                    record = executor.result(handle)
                except executor.task_errors as exc:
                    record = failure(cfg, device, f"{type(exc).__name__}: {exc}")
                yield rid, record
        except KeyboardInterrupt:
            executor.cancel(pending)
            raise


@dataclass(frozen=True)
class Summary:
    """What one collector invocation did."""

    total: int
    skipped: int
    ran: int
    statuses: dict[str, int]
    out: Path


def collect_runs(
    runs: Sequence[tuple[str, Any]],
    out: str | os.PathLike[str],
    run_fn: RunFn,
    failure: FailureFn,
    prepare: Callable[[], Any],
    write_outputs: Callable[[dict[str, dict[str, Any]], Path], list[dict[str, Any]]],
    device: str = "cpu",
    workers: int = 1,
    threads: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> Summary:
    """Run every ``(run_id, config)`` not yet in ``out/runs.jsonl``, then ``write_outputs(records, out)``.

    ``prepare()`` builds what every run shares (a corpus, warm-started policies); it is called only
    when something is left to run. ``write_outputs`` returns the table's rows, whose statuses are
    counted in the summary. ``on_start(skipped)`` and ``on_result(run_id, record)`` drive a progress display.
    """
    check_device(device)
    if workers < 1 or threads < 1:
        raise CollectError("--workers and --threads must be >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RUNS_JSONL
    with open_run_log(jsonl) as writer:
        records = read_records(jsonl)
        todo = [(rid, cfg) for rid, cfg in runs if rid not in records]
        if on_start:
            on_start(len(runs) - len(todo))
        ran = 0
        try:
            if todo:
                for rid, rec in _execute(todo, run_fn, failure, prepare(), device, threads, workers):
                    rec = {"run_id": rid, **rec}
                    writer.append(rec)
                    records[rid] = rec
                    ran += 1
                    if on_result:
                        on_result(rid, rec)
        finally:
            rows = write_outputs(records, out)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return Summary(total=len(runs), skipped=len(runs) - len(todo), ran=ran, statuses=statuses, out=out)
