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

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import CollectError
from gymnasium_llmconfig.lab.collect.corpus import Corpus, CorpusParams, make_corpus
from gymnasium_llmconfig.lab.collect.model import non_embedding_params
from gymnasium_llmconfig.lab.collect.runner import (
    REGISTRY_YAML,
    RUNS_CSV,
    WALL_TIME_COST,
    Summary,
    as_int,
    check_keys,
    collect_runs,
    positive_list,
    read_spec,
    write_csv,
    write_yaml,
)
from gymnasium_llmconfig.lab.collect.train import RunConfig, failure_record, run

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


def parse_spec(raw: Any) -> Spec:
    """Validate a spec mapping (as loaded from YAML)."""
    if not isinstance(raw, dict):
        raise CollectError("the spec must be a YAML mapping")
    check_keys("spec", raw, _SPEC_KEYS, _REQUIRED_KEYS)
    check_keys("task", raw["task"], _TASK_KEYS, {"name", "title", "description"})
    task = TaskText(**{k: str(v).strip() for k, v in raw["task"].items()})
    if not _LABEL.fullmatch(task.name):
        raise CollectError(f"task.name {task.name!r} must be alphanumeric (it becomes part of env ids)")
    try:
        corpus = CorpusParams.from_dict(raw.get("corpus") or {})
    except (TypeError, ValueError) as exc:
        raise CollectError(f"bad corpus parameters: {exc}") from None
    train = raw["train"]
    check_keys("train", train, _TRAIN_KEYS, {"seq_len"})
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in train.values()):
        raise CollectError(f"train values must be numbers, got {train!r}")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise CollectError("'models' must map size labels to {n_layer, d_model, n_head}")
    for label, shape in models.items():
        if not _LABEL.fullmatch(str(label)):
            raise CollectError(f"model label {label!r} must be alphanumeric (it becomes part of env ids)")
        check_keys(f"models.{label}", shape, _MODEL_KEYS, _MODEL_KEYS)
        if not all(isinstance(v, int) and v > 0 for v in shape.values()) or shape["d_model"] % shape["n_head"]:
            raise CollectError(f"models.{label}: positive ints with d_model divisible by n_head required")
    spec = Spec(
        task=task,
        corpus=corpus,
        train=dict(train),
        models={str(k): dict(v) for k, v in models.items()},
        tokens=positive_list(raw, "tokens", as_int),
        lrs=positive_list(raw, "lrs", float),
        batch_sizes=positive_list(raw, "batch_sizes", as_int),
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
    return parse_spec(read_spec(path))


# --------------------------------------------------------------------------- table and registry


def write_table(spec: Spec, records: dict[str, dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """(Re)write ``runs.csv`` with the finished runs of the current spec; returns its rows."""
    rows = [{"run_id": rid, **records[rid]} for rid, _ in spec.runs() if rid in records]
    write_csv(out / RUNS_CSV, COLUMNS, rows)
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
                "cost": dict(WALL_TIME_COST),
                "sources": [{"name": f"{t.name.lower()}-runs", "file": RUNS_CSV}],
                "fidelities": fidelities,
            }
        ]
    }


def write_registry(spec: Spec, out: Path) -> None:
    """(Re)write ``registry.yaml`` atomically."""
    write_yaml(out / REGISTRY_YAML, registry_fragment(spec))


# --------------------------------------------------------------------------- execution


def _run_one(cfg: RunConfig, corpus: Corpus, device: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return run(cfg, corpus, device)


def _failure(cfg: RunConfig, corpus: Corpus, device: str, error: str) -> dict[str, Any]:
    return failure_record(cfg, corpus, device, error)


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
    corpus: list[Corpus] = []

    def prepare() -> Corpus:
        corpus.append(make_corpus(spec.corpus))
        return corpus[0]

    def write_outputs(records: dict[str, dict[str, Any]], out: Path) -> list[dict[str, Any]]:
        rows = write_table(spec, records, out)
        write_registry(spec, out)
        return rows

    return collect_runs(
        spec.runs(), out, _run_one, lambda cfg, dev, err: _failure(cfg, corpus[0], dev, err), prepare,
        write_outputs, device=device, workers=workers, threads=threads, on_start=on_start, on_result=on_result,
    )
