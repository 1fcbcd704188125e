"""``collect grpo``: a GRPO sweep spec, its runs, and the table and registry fragment it writes.

Output directory (``--out DIR``), on top of what every collector writes (:mod:`..collect.runner`):

* ``runs.jsonl`` / ``runs.csv``: one row per run (config, fidelity, seed, test and initial accuracy,
  curves of reward, KL and response length, wall time, device, versions).
* ``table.csv``: what the envs serve, one row per (fidelity, config): the mean test accuracy over
  seeds, with the per-seed values, their spread and the diverged count as details.
* ``registry.yaml``: one env per fidelity, ``LLMConfig-<task>-<Family>-N<samples>-E<epochs>-v0``.
* ``base/``: the SFT-warmed base policy of each (family, model), built once (:mod:`.base`).

"Batch size" is the number of prompts per GRPO step (each sampled ``group_size`` times); it must
not exceed any fidelity's number of training samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gymnasium_llmconfig.errors import CollectError
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
from gymnasium_llmconfig.lab.grpo.run import BaseSpec, GRPORun, failure_record, run_grpo
from gymnasium_llmconfig.lab.grpo.tasks import parse_family

TABLE_CSV = "table.csv"
ROLES = ("low", "medium", "high")
RUN_COLUMNS = (
    "run_id", "status", "fidelity", "family", "model", "n_layer", "d_model", "n_head", "n_params",
    "samples", "epochs", "lr", "batch_size", "kl_coef", "group_size", "temperature", "seed", "steps",
    "steps_done", "initial_accuracy", "test_accuracy", "final_reward", "max_kl", "mean_response_length",
    "truncation_ratio", "reward_curve", "kl_curve", "length_curve", "wall_time_s", "device",
    "torch_version", "python_version", "base", "error",
)
#: Grid axes: always the paper's three (Table 7), optionally rollouts per prompt and temperature.
GRID_AXES = ("lr", "batch_size", "kl_coef", "group_size", "temperature")
TABLE_COLUMNS = (
    "fidelity", *GRID_AXES, "test_accuracy", "test_accuracy_std", "test_accuracy_seeds", "initial_accuracy",
    "diverged_seeds", "status", "steps", "final_reward", "wall_time_s",
)

_SPEC_KEYS = {"task", "models", "sft", "train", "eval", "grid", "fidelities", "seeds"}
_REQUIRED = {"task", "models", "grid", "fidelities"}
_TASK_KEYS = {"name", "title", "description", "metric_description"}
_MODEL_KEYS = {"n_layer", "d_model", "n_head"}
_SFT_DEFAULTS = {"target_accuracy": 0.3, "max_steps": 3000, "lr": 3e-3, "batch_size": 64, "pool": 2000, "seed": 0,
                 "check_every": 5}
_TRAIN_DEFAULTS = {"group_size": 8, "temperature": 1.0, "clip_eps": 0.2, "updates_per_batch": 1,
                   "weight_decay": 0.0, "grad_clip": 1.0}
_EVAL_DEFAULTS = {"val_size": 128, "test_size": 256}
_FIDELITY_KEYS = {"family", "samples", "epochs", "model", "role"}
_LABEL = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Fidelity:
    """One env: a task family, a number of training samples and of epochs, a policy size."""

    family: str
    samples: int
    epochs: int
    model: str
    role: str | None

    def label(self, with_model: bool) -> str:
        fam = parse_family(self.family).label
        return f"{fam}-{self.model + '-' if with_model else ''}N{self.samples}-E{self.epochs}"


@dataclass(frozen=True)
class GRPOSpec:
    """A validated GRPO sweep spec."""

    task: dict[str, str]
    models: dict[str, dict[str, int]]
    sft: dict[str, Any]
    train: dict[str, Any]
    eval: dict[str, int]
    grid: dict[str, tuple[Any, ...]]
    fidelities: tuple[Fidelity, ...]
    seeds: tuple[int, ...]

    @property
    def axes(self) -> tuple[str, ...]:
        """The grid's axes, in :data:`GRID_AXES` order (they become the env's parameters)."""
        return tuple(a for a in GRID_AXES if a in self.grid)

    def label(self, f: Fidelity) -> str:
        return f.label(len(self.models) > 1)

    def base(self, f: Fidelity) -> BaseSpec:
        s, m = self.sft, self.models[f.model]
        return BaseSpec(f.family, f.model, m["n_layer"], m["d_model"], m["n_head"], float(s["target_accuracy"]),
                        int(s["max_steps"]), float(s["lr"]), int(s["batch_size"]), int(s["pool"]), int(s["seed"]),
                        max(1, int(s["check_every"])), int(self.eval["val_size"]), int(self.eval["test_size"]))

    def configs(self) -> list[dict[str, Any]]:
        """Every grid point (train defaults filled in), in a stable order."""
        out: list[dict[str, Any]] = [{}]
        for axis in self.axes:
            out = [{**c, axis: v} for c in out for v in self.grid[axis]]
        ints = ("batch_size", "group_size", "updates_per_batch")
        return [{k: int(v) if k in ints else float(v) for k, v in {**self.train, **c}.items()} for c in out]

    def runs(self) -> list[tuple[str, GRPORun]]:
        """Every (fidelity, config, seed) as ``(run_id, GRPORun)``, fidelity by fidelity."""
        out = []
        for f in self.fidelities:
            for cfg in self.configs():
                for seed in self.seeds:
                    run = GRPORun(base=self.base(f), fidelity=self.label(f), samples=f.samples, epochs=f.epochs,
                                  seed=seed, **cfg)
                    blob = json.dumps(run.to_dict(), sort_keys=True)
                    out.append((hashlib.sha256(blob.encode()).hexdigest()[:16], run))
        return out

    def role(self, f: Fidelity) -> str:
        """Explicit role, else by training prompts seen (samples x epochs): lowest third low, top third high."""
        if f.role:
            return f.role
        order = sorted(self.fidelities, key=lambda g: g.samples * g.epochs)
        return ROLES[order.index(f) * 3 // len(order)]


def _section(raw: dict[str, Any], key: str, defaults: dict[str, Any]) -> dict[str, Any]:
    got = raw.get(key) or {}
    check_keys(key, got, defaults)
    merged = {**defaults, **got}
    for k, v in merged.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise CollectError(f"{key}.{k} must be a non-negative number, got {v!r}")
    return merged


def _grid(raw: Any) -> dict[str, tuple[Any, ...]]:
    check_keys("grid", raw, GRID_AXES, ("lr", "batch_size", "kl_coef"))
    grid = {"lr": positive_list(raw, "lr", float, "grid"),
            "batch_size": positive_list(raw, "batch_size", as_int, "grid")}
    kl = raw["kl_coef"]
    if not isinstance(kl, list) or not kl:
        raise CollectError("'grid.kl_coef' must be a non-empty list of numbers >= 0 (e.g. [0, 0.001])")
    try:
        grid["kl_coef"] = tuple(float(v) for v in kl)
    except (TypeError, ValueError):
        raise CollectError(f"'grid.kl_coef' must hold numbers >= 0, got {kl!r}") from None
    if any(not v >= 0 for v in grid["kl_coef"]) or len(set(grid["kl_coef"])) != len(kl):
        raise CollectError(f"'grid.kl_coef' must hold distinct numbers >= 0, got {kl!r}")
    if "group_size" in raw:
        grid["group_size"] = positive_list(raw, "group_size", as_int, "grid")
        if min(grid["group_size"]) < 2:
            raise CollectError("'grid.group_size' values must be >= 2 (GRPO normalizes within a group)")
    if "temperature" in raw:
        grid["temperature"] = positive_list(raw, "temperature", float, "grid")
    return grid


def _fidelity(i: int, raw: Any, models: dict[str, Any]) -> Fidelity:
    where = f"fidelities[{i}]"
    check_keys(where, raw, _FIDELITY_KEYS, {"family", "samples", "epochs"})
    family = parse_family(raw["family"]).name
    try:
        samples, epochs = as_int(raw["samples"]), as_int(raw["epochs"])
    except (TypeError, ValueError):
        raise CollectError(f"{where}: samples and epochs must be positive integers") from None
    if samples < 1 or epochs < 1:
        raise CollectError(f"{where}: samples and epochs must be positive integers")
    model = str(raw.get("model", next(iter(models))))
    if model not in models:
        raise CollectError(f"{where}.model {model!r} is not one of the spec's models {sorted(models)}")
    role = raw.get("role")
    if role is not None and role not in ROLES:
        raise CollectError(f"{where}.role {role!r} must be one of {ROLES}")
    return Fidelity(family, samples, epochs, model, role)


def parse_spec(raw: Any) -> GRPOSpec:
    """Validate a GRPO spec mapping (as loaded from YAML); every error names the key and what is allowed."""
    if not isinstance(raw, dict):
        raise CollectError("the spec must be a YAML mapping")
    check_keys("spec", raw, _SPEC_KEYS, _REQUIRED)
    check_keys("task", raw["task"], _TASK_KEYS, {"name", "title", "description"})
    task = {k: str(v).strip() for k, v in raw["task"].items()}
    if not _LABEL.fullmatch(task["name"]):
        raise CollectError(f"task.name {task['name']!r} must be alphanumeric (it becomes part of env ids)")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise CollectError("'models' must map size labels to {n_layer, d_model, n_head}")
    for label, shape in models.items():
        if not _LABEL.fullmatch(str(label)):
            raise CollectError(f"model label {label!r} must be alphanumeric (it becomes part of env ids)")
        check_keys(f"models.{label}", shape, _MODEL_KEYS, _MODEL_KEYS)
        if not all(isinstance(v, int) and v > 0 for v in shape.values()) or shape["d_model"] % shape["n_head"]:
            raise CollectError(f"models.{label}: positive ints with d_model divisible by n_head required")
    models = {str(k): dict(v) for k, v in models.items()}
    fids = raw["fidelities"]
    if not isinstance(fids, list) or not fids:
        raise CollectError("'fidelities' must be a non-empty list of {family, samples, epochs[, model, role]}")
    fidelities = tuple(_fidelity(i, f, models) for i, f in enumerate(fids))
    grid = _grid(raw["grid"])
    for f in fidelities:
        if max(grid["batch_size"]) > f.samples:
            raise CollectError(
                f"grid.batch_size {max(grid['batch_size'])} is larger than the {f.samples} training samples of "
                f"fidelity {f.family}/N{f.samples}; batch sizes (prompts per step) must be <= every fidelity's samples"
            )
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise CollectError(f"'seeds' must be a non-empty list of distinct integers >= 0, got {seeds!r}")
    train = _section(raw, "train", _TRAIN_DEFAULTS)
    if train["group_size"] < 2:
        raise CollectError("train.group_size must be >= 2 (GRPO normalizes within a group)")
    spec = GRPOSpec(task, models, _section(raw, "sft", _SFT_DEFAULTS), train,
                    _section(raw, "eval", _EVAL_DEFAULTS), grid, fidelities, tuple(seeds))
    labels = [spec.label(f) for f in fidelities]
    if len(set(labels)) != len(labels):
        raise CollectError(f"two fidelities share a label: {sorted(labels)}")
    return spec


def load_spec(path: str | os.PathLike[str]) -> GRPOSpec:
    """Read and validate a GRPO spec YAML file."""
    return parse_spec(read_spec(path))


# --------------------------------------------------------------------------- table and registry


def table_rows(spec: GRPOSpec, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (fidelity, config) whose seeds have all finished: the mean over seeds (failed runs left out)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rid, run in spec.runs():
        key = (run.fidelity, *(getattr(run, a) for a in GRID_AXES))
        groups.setdefault(key, []).append(records.get(rid))
    rows = []
    for key, recs in groups.items():
        done = [r for r in recs if r is not None and r["test_accuracy"] is not None]
        if len(done) < len(recs):
            continue
        acc = [r["test_accuracy"] for r in done]
        diverged = sum(r["status"] == "diverged" for r in done)
        rows.append({
            **dict(zip(("fidelity", *GRID_AXES), key, strict=True)),
            "test_accuracy": round(float(np.mean(acc)), 5),
            "test_accuracy_std": round(float(np.std(acc)), 5),
            "test_accuracy_seeds": acc,
            "initial_accuracy": done[0]["initial_accuracy"],
            "diverged_seeds": diverged,
            "status": "ok" if not diverged else "diverged",
            "steps": done[0]["steps"],
            "final_reward": round(float(np.mean([r["final_reward"] for r in done])), 5),
            "wall_time_s": round(float(np.mean([r["wall_time_s"] for r in done])), 3),
        })
    return rows


_AXIS_TEXT = {
    "lr": ("float", True, "", "learning rate of the policy (AdamW, constant)"),
    "batch_size": ("int", True, "prompts", "prompts per GRPO step, each sampled group_size times"),
    "kl_coef": ("float", False, "", "coefficient of the k3 KL penalty to the starting policy (eq. 2's beta)"),
    "group_size": ("int", True, "completions", "completions sampled per prompt (G)"),
    "temperature": ("float", False, "", "sampling temperature of the rollouts"),
}


def registry_fragment(spec: GRPOSpec, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The registry entry: one fidelity per spec fidelity, metadata including the base's initial accuracy."""
    t = spec.task
    initial = {r["fidelity"]: r for r in records.values() if r.get("initial_accuracy") is not None}
    fidelities = []
    for f in spec.fidelities:
        label, fam, model = spec.label(f), parse_family(f.family), spec.models[f.model]
        meta = {"family": fam.kind, "difficulty": fam.difficulty, "training_samples": f.samples, "epochs": f.epochs,
                "model": f.model, **model}
        if label in initial:
            meta |= {"n_params": initial[label]["n_params"], "initial_accuracy": initial[label]["initial_accuracy"]}
        fidelities.append({
            "env_id": f"LLMConfig-{t['name']}-{label}-v0",
            "name": f"{fam.name} task, {f.samples} training prompts, {f.epochs} epochs, {f.model} policy",
            "role": spec.role(f),
            "select": {"fidelity": label},
            "metadata": meta,
        })
    parameters = []
    for axis in spec.axes:
        kind, log, unit, text = _AXIS_TEXT[axis]
        parameters.append({"name": axis, "column": axis, "kind": kind, "log": log, "unit": unit, "description": text})
    return {"tasks": [{
        "name": t["name"],
        "title": t["title"],
        "description": t["description"],
        "format": "table",
        "metric": {
            "column": "test_accuracy",
            "name": "test accuracy after GRPO",
            "direction": "maximize",
            "description": t.get("metric_description") or (
                f"Greedy exact-match accuracy on {spec.eval['test_size']} held-out test prompts after GRPO, "
                f"mean over {len(spec.seeds)} seeds. A run whose loss or gradient became NaN/inf stops there "
                "and is scored by the test accuracy of the policy it ended with."),
        },
        "parameters": parameters,
        "details": ["initial_accuracy", "test_accuracy_std", "test_accuracy_seeds", "diverged_seeds",
                    "final_reward", "steps", "status"],
        "cost": dict(WALL_TIME_COST),
        "sources": [{"name": f"{t['name'].lower()}-table", "file": TABLE_CSV}],
        "fidelities": fidelities,
    }]}


def write_outputs(spec: GRPOSpec, records: dict[str, dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """(Re)write runs.csv, table.csv and registry.yaml; returns the runs' rows."""
    rows = [{"run_id": rid, **records[rid]} for rid, _ in spec.runs() if rid in records]
    write_csv(out / RUNS_CSV, RUN_COLUMNS, rows)
    write_csv(out / TABLE_CSV, TABLE_COLUMNS, table_rows(spec, records))
    write_yaml(out / REGISTRY_YAML, registry_fragment(spec, records))
    return rows


# --------------------------------------------------------------------------- execution


def _run_one(run: GRPORun, bases: dict[str, dict[str, Any]], device: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return run_grpo(run, bases, device)


def collect(
    spec: GRPOSpec,
    out: str | os.PathLike[str],
    device: str = "cpu",
    workers: int = 1,
    threads: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[str, dict[str, Any]], None] | None = None,
    on_base: Callable[[str, dict[str, Any]], None] | None = None,
) -> Summary:
    """Run every (fidelity, config, seed) of ``spec`` not yet in ``out/runs.jsonl``; write the outputs.

    The base policies are built (or read from ``out/base/``) in this process before the fan-out;
    ``on_base(key, base)`` reports each one.
    """
    from gymnasium_llmconfig.lab.grpo.base import build_base

    out = Path(out)
    bases: dict[str, dict[str, Any]] = {}

    def prepare() -> dict[str, dict[str, Any]]:
        for f in spec.fidelities:
            b = spec.base(f)
            if b.key not in bases:
                bases[b.key] = build_base(b, out / "base")
                if on_base:
                    on_base(b.key, bases[b.key])
        return bases

    return collect_runs(
        spec.runs(), out, _run_one, lambda run, dev, err: failure_record(run, bases.get(run.base.key), dev, err),
        prepare, lambda records, o: write_outputs(spec, records, o), device=device, workers=workers,
        threads=threads, on_start=on_start, on_result=on_result,
    )

