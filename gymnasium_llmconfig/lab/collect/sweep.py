"""Expand a sweep spec into runs, execute them resumably, write the table.

Output directory layout (``--out DIR``):

* ``runs.jsonl``: the source of truth. One JSON line per finished run,
  appended, flushed and fsync'ed as soon as the run ends, so a killed sweep
  loses at most the runs in flight. A truncated last line (a kill mid-write)
  is ignored on read and cut off before the next append.
* ``runs.csv``: the table, one row per run of the *current* spec, rewritten
  atomically (temp file + ``os.replace``) from ``runs.jsonl``.
* ``registry.yaml``: the registry fragment that turns the table into envs,
  one fidelity per (model size, token budget) cell.

A run is identified by a hash of everything that determines its outcome
(run config and corpus parameters), so editing the spec reruns exactly the
changed grid points and a finished run is never redone.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from gymnasium_llmconfig.errors import CollectError
from gymnasium_llmconfig.lab.collect.corpus import Corpus, CorpusParams, make_corpus
from gymnasium_llmconfig.lab.collect.model import non_embedding_params
from gymnasium_llmconfig.lab.collect.train import RunConfig, failure_record, run
from gymnasium_llmconfig.lab.executor import make_executor
from gymnasium_llmconfig.storage import (
    JsonlAppender,
    StoreError,
    atomic_write,
    read_jsonl,
)

RUNS_JSONL = "runs.jsonl"
RUNS_CSV = "runs.csv"
REGISTRY_YAML = "registry.yaml"

#: Columns of ``runs.csv``, in order.
COLUMNS = (
    "run_id",
    "status",
    "model",
    "n_layer",
    "d_model",
    "n_head",
    "n_params",
    "tokens",
    "lr",
    "batch_size",
    "seq_len",
    "tokens_per_step",
    "steps",
    "final_loss",
    "final_raw_loss",
    "val_loss",
    "loss_curve",
    "wall_time_s",
    "device",
    "torch_version",
    "python_version",
    "corpus_sha256",
    "seed",
    "error",
)
ROLES = ("low", "medium", "high")
DEVICES = ("cpu", "cuda")

_SPEC_KEYS = {"task", "corpus", "train", "models", "tokens", "lrs", "batch_sizes", "roles"}
_REQUIRED_KEYS = {"task", "train", "models", "tokens", "lrs", "batch_sizes"}
_TASK_KEYS = {"name", "title", "description", "metric_description"}
_MODEL_KEYS = {"n_layer", "d_model", "n_head"}
_GRID_FIELDS = {"model", "n_layer", "d_model", "n_head", "tokens", "lr", "batch_size"}
_TRAIN_KEYS = {f.name for f in fields(RunConfig)} - _GRID_FIELDS
_LABEL = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class TaskText:
    """How the collected table presents itself as a task."""

    name: str
    title: str
    description: str
    metric_description: str = ""


@dataclass(frozen=True)
class Cell:
    """One fidelity: a model size trained on one token budget."""

    model: str
    n_layer: int
    d_model: int
    n_head: int
    tokens: int

    @property
    def n_params(self) -> int:
        return non_embedding_params(self.n_layer, self.d_model)

    @property
    def compute(self) -> float:
        """Training compute 6 N D (non-embedding), used to order fidelities."""
        return 6.0 * self.n_params * self.tokens


@dataclass(frozen=True)
class Spec:
    """A validated sweep spec."""

    task: TaskText
    corpus: CorpusParams
    train: dict[str, Any]
    models: dict[str, dict[str, int]]
    tokens: tuple[int, ...]
    lrs: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    roles: dict[str, str]

    @property
    def seq_len(self) -> int:
        return int(self.train["seq_len"])

    def cells(self) -> list[Cell]:
        """Fidelity cells ordered by compute (ties by spec order)."""
        cells = [
            Cell(m, s["n_layer"], s["d_model"], s["n_head"], d) for m, s in self.models.items() for d in self.tokens
        ]
        return sorted(cells, key=lambda c: c.compute)

    def runs(self) -> list[tuple[str, RunConfig]]:
        """Every grid point as ``(run_id, RunConfig)``, cell by cell in compute order."""
        out = []
        for c in self.cells():
            for bs in self.batch_sizes:
                for lr in self.lrs:
                    cfg = RunConfig(c.model, c.n_layer, c.d_model, c.n_head, c.tokens, lr, bs, **self.train)
                    out.append((run_id(cfg, self.corpus), cfg))
        return out

    def role(self, cell: Cell) -> str:
        """Explicit role from the spec, else by compute: smallest third low, middle medium, top high."""
        label = cell_label(cell)
        if label in self.roles:
            return self.roles[label]
        cells = self.cells()
        return ROLES[cells.index(cell) * 3 // len(cells)]


def tokens_label(tokens: int) -> str:
    """Readable token budget: 1000000 -> '1M', 500000 -> '500K'."""
    if tokens >= 1_000_000 and tokens % 100_000 == 0:
        return f"{tokens / 1_000_000:g}M"
    if tokens % 1000 == 0:
        return f"{tokens // 1000}K"
    return str(tokens)


def cell_label(cell: Cell) -> str:
    """Label used in env ids and in the spec's ``roles`` mapping, e.g. 'S-D1M'."""
    return f"{cell.model}-D{tokens_label(cell.tokens)}"


def run_id(cfg: RunConfig, corpus: CorpusParams) -> str:
    """Stable id: hash of everything that determines the outcome."""
    blob = json.dumps({"run": cfg.to_dict(), "corpus": corpus.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _positive_list(raw: dict[str, Any], key: str, kind: Callable[[Any], Any]) -> tuple[Any, ...]:
    values = raw[key]
    if not isinstance(values, list) or not values:
        raise CollectError(f"'{key}' must be a non-empty list")
    try:
        parsed = tuple(kind(v) for v in values)
    except (TypeError, ValueError):
        raise CollectError(f"'{key}' must hold numbers, got {values!r}") from None
    if any(not math.isfinite(v) or v <= 0 for v in parsed) or len(set(parsed)) != len(parsed):
        raise CollectError(f"'{key}' must hold distinct positive numbers, got {values!r}")
    return parsed


def _int(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(value)
    return int(float(value))


def _check_keys(where: str, got: dict[str, Any], allowed: set[str], required: set[str] = frozenset()) -> None:
    if not isinstance(got, dict):
        raise CollectError(f"'{where}' must be a mapping")
    if unknown := set(got) - allowed:
        raise CollectError(f"unknown key(s) in {where}: {sorted(unknown)}; allowed: {sorted(allowed)}")
    if missing := set(required) - set(got):
        raise CollectError(f"missing key(s) in {where}: {sorted(missing)}")


def parse_spec(raw: Any) -> Spec:
    """Validate a spec mapping (as loaded from YAML)."""
    if not isinstance(raw, dict):
        raise CollectError("the spec must be a YAML mapping")
    _check_keys("spec", raw, _SPEC_KEYS, _REQUIRED_KEYS)
    _check_keys("task", raw["task"], _TASK_KEYS, {"name", "title", "description"})
    task = TaskText(**{k: str(v).strip() for k, v in raw["task"].items()})
    if not _LABEL.fullmatch(task.name):
        raise CollectError(f"task.name {task.name!r} must be alphanumeric (it becomes part of env ids)")
    try:
        corpus = CorpusParams.from_dict(raw.get("corpus") or {})
    except (TypeError, ValueError) as exc:
        raise CollectError(f"bad corpus parameters: {exc}") from None
    train = raw["train"]
    _check_keys("train", train, _TRAIN_KEYS, {"seq_len"})
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in train.values()):
        raise CollectError(f"train values must be numbers, got {train!r}")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise CollectError("'models' must map size labels to {n_layer, d_model, n_head}")
    for label, shape in models.items():
        if not _LABEL.fullmatch(str(label)):
            raise CollectError(f"model label {label!r} must be alphanumeric (it becomes part of env ids)")
        _check_keys(f"models.{label}", shape, _MODEL_KEYS, _MODEL_KEYS)
        if not all(isinstance(v, int) and v > 0 for v in shape.values()) or shape["d_model"] % shape["n_head"]:
            raise CollectError(f"models.{label}: positive ints with d_model divisible by n_head required")
    spec = Spec(
        task=task,
        corpus=corpus,
        train=dict(train),
        models={str(k): dict(v) for k, v in models.items()},
        tokens=_positive_list(raw, "tokens", _int),
        lrs=_positive_list(raw, "lrs", float),
        batch_sizes=_positive_list(raw, "batch_sizes", _int),
        roles=dict(raw.get("roles") or {}),
    )
    labels = {cell_label(c) for c in spec.cells()}
    for label, role in spec.roles.items():
        if label not in labels or role not in ROLES:
            raise CollectError(f"roles: {label}: {role} is not a cell in {sorted(labels)} with a role in {ROLES}")
    try:
        spec.runs()
    except (TypeError, ValueError) as exc:
        raise CollectError(f"bad train parameters: {exc}") from None
    return spec


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a spec YAML file."""
    path = Path(path)
    if not path.is_file():
        raise CollectError(f"spec file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CollectError(f"{path} is not valid YAML: {exc}") from None
    return parse_spec(raw)


# --------------------------------------------------------------------------- results store


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
    return json.dumps(value) if isinstance(value, list) else value


def write_table(spec: Spec, records: dict[str, dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """(Re)write ``runs.csv`` with the finished runs of the current spec; returns its rows."""
    rows = [{"run_id": rid, **records[rid]} for rid, _ in spec.runs() if rid in records]

    def write(fh: Any) -> None:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(row.get(k)) for k in COLUMNS} for row in rows)

    atomic_write(out / RUNS_CSV, write)
    return rows


def registry_fragment(spec: Spec) -> dict[str, Any]:
    """The registry entry for the collected table: one fidelity per cell, ordered by compute."""
    t = spec.task
    vocab = spec.corpus.vocab_size
    metric_description = t.metric_description or (
        "Mean training cross-entropy (nats per token) over the last 10% of optimizer steps. "
        f"Runs that diverge score ln({vocab}) = {math.log(vocab):.4f}, the loss of uniform prediction."
    )
    fidelities = []
    for c in spec.cells():
        fidelities.append(
            {
                "env_id": f"LLMConfig-{t.name}-{cell_label(c)}-v0",
                "name": f"{c.model} model (N={c.n_params:,}, D={tokens_label(c.tokens)} tokens)",
                "role": spec.role(c),
                "select": {"model": c.model, "tokens": c.tokens},
                "metadata": {
                    "n_params": c.n_params,
                    "tokens": c.tokens,
                    "n_layer": c.n_layer,
                    "d_model": c.d_model,
                    "n_head": c.n_head,
                },
            }
        )
    return {
        "tasks": [
            {
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "format": "table",
                "metric": {
                    "column": "final_loss",
                    "name": "final smoothed training loss",
                    "direction": "minimize",
                    "description": metric_description,
                },
                "parameters": [
                    {
                        "name": "lr",
                        "column": "lr",
                        "kind": "float",
                        "log": True,
                        "description": "peak learning rate (AdamW, warmup + cosine decay)",
                    },
                    {
                        "name": "batch_size",
                        "column": "batch_size",
                        "kind": "int",
                        "log": True,
                        "unit": "sequences",
                        "description": f"sequences of {spec.seq_len} tokens per optimizer step",
                    },
                ],
                "details": ["final_raw_loss", "val_loss", "tokens_per_step", "steps", "status"],
                "sources": [{"name": f"{t.name.lower()}-runs", "file": RUNS_CSV}],
                "fidelities": fidelities,
            }
        ]
    }


def write_registry(spec: Spec, out: Path) -> None:
    """(Re)write ``registry.yaml`` atomically."""
    text = yaml.safe_dump(registry_fragment(spec), sort_keys=False, width=100, allow_unicode=True)
    atomic_write(out / REGISTRY_YAML, lambda fh: fh.write(text))


# --------------------------------------------------------------------------- execution


def check_device(device: str) -> None:
    """Fail early, with a clear message, for an unknown or unavailable device."""
    import torch

    if device not in DEVICES:
        raise CollectError(f"unknown device {device!r}; choose one of {DEVICES}")
    if device == "cuda" and not torch.cuda.is_available():
        raise CollectError(f"--device cuda requested but CUDA is not available to torch {torch.__version__}")


def _run_one(cfg: RunConfig, corpus: Corpus, device: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return run(cfg, corpus, device)


def _execute(
    todo: Sequence[tuple[str, RunConfig]], corpus: Corpus, device: str, threads: int, workers: int
) -> Iterator[tuple[str, dict[str, Any]]]:
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
        shared = executor.share(corpus)
        pending = {executor.submit(_run_one, cfg, shared, device, threads, num_cpus=threads, num_gpus=gpus):
                   (rid, cfg) for rid, cfg in todo}
        try:
            for handle in executor.as_completed(pending):
                rid, cfg = pending.pop(handle)
                try:
                    record = executor.result(handle)
                except executor.task_errors as exc:
                    record = failure_record(cfg, corpus, device, f"{type(exc).__name__}: {exc}")
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


def collect(
    spec: Spec,
    out: str | os.PathLike[str],
    device: str = "cpu",
    workers: int = 1,
    threads: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
) -> Summary:
    """Run every grid point of ``spec`` not yet in ``out/runs.jsonl``, then write table and registry.

    ``on_start(skipped)`` and ``on_result(run_id, record)`` (called once each run is
    stored) drive a progress display.
    The table and registry are rewritten even when the sweep is interrupted.
    """
    check_device(device)
    if workers < 1 or threads < 1:
        raise CollectError("--workers and --threads must be >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RUNS_JSONL
    runs = spec.runs()
    with open_run_log(jsonl) as writer:
        records = read_records(jsonl)
        todo = [(rid, cfg) for rid, cfg in runs if rid not in records]
        if on_start:
            on_start(len(runs) - len(todo))
        ran = 0
        try:
            if todo:
                corpus = make_corpus(spec.corpus)
                for rid, rec in _execute(todo, corpus, device, threads, workers):
                    rec = {"run_id": rid, **rec}
                    writer.append(rec)
                    records[rid] = rec
                    ran += 1
                    if on_result:
                        on_result(rid, rec)
        finally:
            rows = write_table(spec, records, out)
            write_registry(spec, out)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return Summary(total=len(runs), skipped=len(runs) - len(todo), ran=ran, statuses=statuses, out=out)
