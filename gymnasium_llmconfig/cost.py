"""What one run of an env cost, in GPU-hours, from the registry's ``cost:`` key (paper 000 §5.1.4, Appendix D).

A task declares ``cost:`` (a fidelity may override any of its keys with its
own ``cost:``; ``constants`` merge). One of three rules, and always a ``basis``
saying where the number comes from:

- ``flops: "6 * N * D"``: the FLOPs of one run, an arithmetic expression over
  the fidelity's metadata and the spec's ``constants``, turned into GPU-hours at
  ``hardware: {name, peak_flops, mfu}`` (GPU-hours = FLOPs / (peak_flops * mfu * 3600));
- ``column: wall_time_s`` with ``hours_per_unit`` (1/3600 for seconds): the
  measured time of each run, read from that column of the task's table (Micro,
  GRPO: a collected table only has to name its column);
- ``gpu_hours: 1.5``: a fixed number per run.

``runs`` (optional) says how many runs an env with an infinite space counts
as (Arch: its reference pool); a table env counts its rows.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gymnasium_llmconfig.errors import RegistryError
from gymnasium_llmconfig.registry import FidelitySpec, Registry, TaskSpec, load_registry

COST_KEYS = frozenset({"flops", "hardware", "constants", "column", "hours_per_unit", "gpu_hours", "runs", "basis"})
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg}


@dataclass(frozen=True)
class EnvCost:
    """One env's cost: GPU-hours of each run (``per_run``, in table order; one entry for a fixed cost)."""

    env_id: str
    per_run: tuple[float, ...]
    runs: int
    basis: str

    @property
    def mean_run_hours(self) -> float:
        """Mean GPU-hours of one run."""
        return math.fsum(self.per_run) / len(self.per_run)

    @property
    def total_hours(self) -> float:
        """GPU-hours of all of the env's runs (a fixed per-run cost times ``runs``)."""
        if len(self.per_run) == self.runs:
            return math.fsum(self.per_run)
        return self.mean_run_hours * self.runs


def cost_spec(task: TaskSpec, fidelity: FidelitySpec) -> dict[str, Any]:
    """The task's ``cost:`` with the fidelity's keys over it (``constants`` merged); checked."""
    where = f"{task.origin}: env {fidelity.env_id!r}"
    base, own = task.options.get("cost") or {}, fidelity.options.get("cost") or {}
    if not base and not own:
        raise RegistryError(f"{where} has no cost: add a 'cost:' key to task {task.name!r} or to the env "
                            "(see gymnasium_llmconfig/cost.py for the rules)")
    for part in (base, own):
        if not isinstance(part, Mapping):
            raise RegistryError(f"{where}: 'cost' must be a mapping with a rule and a basis")
    spec = {**base, **own, "constants": {**base.get("constants", {}), **own.get("constants", {})}}
    unknown = sorted(set(spec) - COST_KEYS)
    rules = [k for k in ("flops", "column", "gpu_hours") if k in spec]
    if unknown or len(rules) != 1 or not spec.get("basis"):
        raise RegistryError(f"{where}: 'cost' needs exactly one of flops, column, gpu_hours and a basis "
                            f"(got keys {sorted(spec)}{'; unknown: ' + ', '.join(unknown) if unknown else ''})")
    return spec


def env_cost(env_id: str, registry: Registry | None = None, *, download: bool = False) -> EnvCost:
    """The GPU-hours of one env's runs under its cost rule."""
    task, fidelity = (registry or load_registry()).env(env_id)
    spec = cost_spec(task, fidelity)
    where = f"{task.origin}: env {env_id!r} cost"
    names = {**fidelity.metadata, **spec["constants"]}
    if "flops" in spec:
        hardware = spec.get("hardware") or {}
        try:
            rate = float(hardware["peak_flops"]) * float(hardware["mfu"]) * 3600.0
        except (KeyError, TypeError, ValueError):
            raise RegistryError(f"{where}: a flops rule needs hardware: {{name, peak_flops, mfu}}") from None
        per_run: tuple[float, ...] = (evaluate(str(spec["flops"]), names, where) / rate,)
    elif "gpu_hours" in spec:
        per_run = (float(spec["gpu_hours"]),)
    else:
        from gymnasium_llmconfig.tasks.table import fidelity_frame  # only a table has columns

        frame = fidelity_frame(task, fidelity, download=download)
        if spec["column"] not in frame.columns:
            raise RegistryError(f"{where}: column {spec['column']!r} is not in the task's table")
        scale = float(spec.get("hours_per_unit", 1.0))
        per_run = tuple(float(v) * scale for v in frame[spec["column"]].to_numpy(dtype=float))
    if "runs" in spec:
        runs = int(spec["runs"])
    elif "column" in spec:
        runs = len(per_run)
    elif task.format == "table":
        from gymnasium_llmconfig.tasks.table import fidelity_frame

        runs = len(fidelity_frame(task, fidelity, download=download))
    else:
        raise RegistryError(f"{where}: env has no table to count runs in; give its cost a 'runs:' number")
    return EnvCost(env_id, per_run, runs, str(spec["basis"]))


def evaluate(expression: str, names: Mapping[str, Any], where: str = "cost") -> float:
    """An arithmetic expression (numbers, names, + - * / **, parentheses) over ``names``; nothing else runs."""
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise RegistryError(f"{where}: {expression!r} uses {node.id!r}, which is neither fidelity "
                                    f"metadata nor a constant ({', '.join(sorted(names))})")
            return float(names[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise RegistryError(f"{where}: {expression!r} may use numbers, names and + - * / ** only")

    try:
        return walk(ast.parse(expression, mode="eval"))
    except SyntaxError as exc:
        raise RegistryError(f"{where}: {expression!r} is not an arithmetic expression ({exc.msg})") from None

