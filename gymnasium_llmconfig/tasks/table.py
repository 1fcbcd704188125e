"""The ``table`` format: any task whose runs sit in CSV tables, one row per run.

Everything task-specific lives in ``registry.yaml``: which source files (joined
on a key column, groups concatenated), which rows form each fidelity
(``select``), which columns are parameters (with snapping tolerances and an
optional grid transform), the target metric and the detail columns, and the
anonymous aliases shown when names are withheld. Step Law, ADMIRE, RegMix and
the project's own collected sweeps all use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gymnasium_llmconfig.config_space import CONFIG_ID_KEY, FiniteConfigSpace, Parameter, format_value
from gymnasium_llmconfig.data import read_table
from gymnasium_llmconfig.problem import Outcome, TableProblem
from gymnasium_llmconfig.registry import FidelitySpec, RegistryError, TaskSpec

#: Grid transforms for parameter columns whose values were written with varying rounding.
TRANSFORMS = {
    "log2_half": lambda v: float(2.0 ** (round(2.0 * math.log2(v)) / 2.0)),
}


class ListedTableProblem(TableProblem):
    """A table problem whose prompt lists every config (when the space is not a grid)."""

    def describe_space(self) -> str:
        params = self.space.parameters
        described = {p.description for p in params}
        if len(described) == 1:
            header = [f"Parameters: {', '.join(self.space.names)}; each is the {params[0].description}."]
        else:
            header = [f"- {p.name}: {p.description}" for p in params]
        lines = [
            *header,
            f"Only these {len(self.space)} configurations were run (zero entries omitted); propose one of them,",
            f'either by its values or as {{"{CONFIG_ID_KEY}": k}} for the k-th:',
        ]
        for i, config in enumerate(self.space.enumerate()):
            lines.append(f"#{i}: " + ", ".join(f"{k}={format_value(v)}" for k, v in config.items() if v != 0))
        return "\n".join(lines)


def build_problem(
    task: TaskSpec,
    fidelity: FidelitySpec,
    *,
    reveal_names: bool = False,
    target: str | None = None,
    download: bool = False,
) -> TableProblem:
    """Build the problem of one fidelity of a table task."""
    opts = task.options
    frame = _fidelity_rows(task, fidelity, download)
    metric_column, metric_name, direction, metric_desc = _metric(task, frame, target)
    frame = frame[np.isfinite(frame[metric_column].to_numpy(dtype=float))]
    if frame.empty:
        raise RegistryError(f"{task.origin}: env {fidelity.env_id!r} selects no rows with a finite {metric_column!r}")

    params, columns = _parameters(task, frame, reveal_names)
    configs = [
        {p["shown"]: _coerce(p, value) for p, value in zip(params, row, strict=True)}
        for row in frame[columns].itertuples(index=False, name=None)
    ]
    space = FiniteConfigSpace(_with_choices(params, configs), _unique(configs, fidelity))
    aliases = {spec["name"]: spec["shown"] for spec in params}
    detail_cols = _details(task, frame, reveal_names, aliases, exclude=set(columns) | {metric_column})
    details = frame[[c for c, _ in detail_cols]].to_dict("records") if detail_cols else [{}] * len(frame)
    metrics = frame[metric_column].to_numpy(dtype=float)
    outcomes = [
        Outcome(float(m), {name: _plain(d[col]) for col, name in detail_cols})
        for m, d in zip(metrics, details, strict=True)
    ]
    info = task.info(reveal_names, metric_name, direction, metric_desc)
    fid = fidelity.info(reveal_names)
    cls = ListedTableProblem if opts.get("show_configs") else TableProblem
    return cls(fidelity.env_id, info, fid, space, outcomes)


def _fidelity_rows(task: TaskSpec, fidelity: FidelitySpec, download: bool) -> pd.DataFrame:
    groups = fidelity.options.get("tables", task.options.get("tables")) or [list(task.sources)]
    frame = _assembled(task, tuple(tuple(g) for g in groups), download, fidelity.env_id)
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in fidelity.select.items():
        if column not in frame.columns:
            raise RegistryError(f"{task.origin}: env {fidelity.env_id!r} selects on unknown column {column!r}")
        values = frame[column].to_numpy()
        if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and values.dtype.kind in "fi":
            mask &= np.isclose(values.astype(float), float(wanted), rtol=1e-9, atol=0.0)
        else:
            mask &= values.astype(str) == str(wanted)
    for column, dropped in (task.options.get("exclude") or {}).items():
        mask &= ~frame[column].astype(str).isin([str(v) for v in _listify(dropped)]).to_numpy()
    return frame[mask]


_ASSEMBLED: dict[tuple[Any, ...], tuple[tuple[int, ...], pd.DataFrame]] = {}


def _assembled(task: TaskSpec, groups: tuple[tuple[str, ...], ...], download: bool, env_id: str) -> pd.DataFrame:
    """Join each group's files on the task's key column, concatenate the groups, add derived columns.

    Memoized per (task, groups) and the identity of the cached source frames, so
    the many envs of one task share a single assembled frame.
    """
    join = task.options.get("join")
    loaded: list[list[pd.DataFrame]] = []
    for group in groups:
        frames = []
        for name in group:
            if name not in task.sources:
                raise RegistryError(f"{task.origin}: task {task.name!r} uses unknown source {name!r}")
            frames.append(read_table(task.sources[name], download=download, needed_by=env_id))
        if len(frames) > 1 and not join:
            raise RegistryError(f"{task.origin}: task {task.name!r} combines files but sets no 'join' column")
        loaded.append(frames)
    key = (str(task.origin), task.name, groups)
    identity = tuple(id(f) for frames in loaded for f in frames)
    hit = _ASSEMBLED.get(key)
    if hit is not None and hit[0] == identity:
        return hit[1]
    parts = []
    for frames in loaded:
        part = frames[0]
        for other in frames[1:]:
            part = part.merge(other, on=join, how="inner", validate="one_to_one")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    for column, expression in (task.options.get("derived") or {}).items():
        frame[column] = frame.eval(expression)
    _ASSEMBLED[key] = (identity, frame)
    return frame


def _metric(task: TaskSpec, frame: pd.DataFrame, target: str | None) -> tuple[str, str, Any, str]:
    spec = task.options.get("metric")
    if not isinstance(spec, Mapping) or "column" not in spec:
        raise RegistryError(f"{task.origin}: table task {task.name!r} needs metric: {{column, name, direction}}")
    direction = spec.get("direction", "minimize")
    if direction not in ("minimize", "maximize"):
        raise RegistryError(f"{task.origin}: task {task.name!r} metric direction must be minimize or maximize")
    if target is None:
        return str(spec["column"]), str(spec.get("name", spec["column"])), direction, str(spec.get("description", ""))
    choices = _target_choices(task, frame)
    if target in choices:
        column = choices[target]
    elif target in choices.values():
        column = target
    else:
        raise ValueError(f"Unknown target {target!r} for task {task.name}; choose one of {sorted(choices)}")
    return column, column if column == target else f"{target} ({column})", direction, ""


def _target_choices(task: TaskSpec, frame: pd.DataFrame) -> dict[str, str]:
    pattern = task.options.get("target_pattern")
    if not pattern:
        return {}
    regex = re.compile(pattern)
    return {m.group(1): c for c in frame.columns if (m := regex.match(c))}


def _parameters(task: TaskSpec, frame: pd.DataFrame, reveal: bool) -> tuple[list[dict[str, Any]], list[str]]:
    specs: list[dict[str, Any]] = [dict(p) for p in task.options.get("parameters") or []]
    pattern = task.options.get("parameter_pattern")
    if pattern:
        regex = re.compile(pattern["regex"])
        matched = [(c, m) for c in frame.columns if (m := regex.match(c))]
        for i, (column, match) in enumerate(matched, start=1):
            spec = {k: v for k, v in pattern.items() if k not in ("regex", "alias")}
            alias = str(pattern.get("alias", "{name}")).format(i=i, name=match.group(1))
            spec.update(column=column, name=match.group(1), alias=alias)
            specs.append(spec)
    if not specs:
        raise RegistryError(f"{task.origin}: table task {task.name!r} declares no parameters")
    for spec in specs:
        if spec.get("column", spec.get("name")) not in frame.columns:
            raise RegistryError(f"{task.origin}: task {task.name!r} parameter column {spec.get('column')!r} "
                                "not in data")
        spec["shown"] = spec["name"] if reveal or "alias" not in spec else spec["alias"]
    return specs, [s.get("column", s["name"]) for s in specs]


def _coerce(spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec.get("kind", "float")
    if kind == "int":
        return int(value)
    if kind == "float":
        value = float(value)
        transform = spec.get("transform")
        return TRANSFORMS[transform](value) if transform else value
    if kind == "bool":
        return bool(value)
    return str(value)


def _with_choices(specs: Sequence[Mapping[str, Any]], configs: Sequence[Mapping[str, Any]]) -> list[Parameter]:
    params = []
    for spec in specs:
        choices = sorted({c[spec["shown"]] for c in configs})
        params.append(
            Parameter(
                name=spec["shown"],
                choices=tuple(choices),
                description=str(spec.get("description", "")),
                kind=str(spec.get("kind", "float")),
                log=bool(spec.get("log", False)),
                rel_tol=float(spec["rel_tol"]) if "rel_tol" in spec else None,
                abs_tol=float(spec.get("abs_tol", 0.0)),
                unit=str(spec.get("unit", "")),
                default=spec.get("default"),
            )
        )
    return params


def _unique(configs: list[dict[str, Any]], fidelity: FidelitySpec) -> list[dict[str, Any]]:
    keys = [tuple(c.values()) for c in configs]
    if len(set(keys)) != len(keys):
        raise RegistryError(f"env {fidelity.env_id!r}: two runs share the same config; refine its 'select'")
    return configs


def _details(
    task: TaskSpec, frame: pd.DataFrame, reveal: bool, aliases: Mapping[str, str], exclude: set[str]
) -> list[tuple[str, str]]:
    """(column, shown name) of every detail; a pattern alias may reuse a parameter's alias via ``{param_alias}``."""
    out: list[tuple[str, str]] = []
    for item in task.options.get("details") or []:
        spec = {"column": item} if isinstance(item, str) else dict(item)
        column = spec["column"]
        if column not in frame.columns:
            raise RegistryError(f"{task.origin}: task {task.name!r} detail column {column!r} not in data")
        out.append((column, spec.get("name", column) if reveal or "alias" not in spec else spec["alias"]))
    pattern = task.options.get("detail_pattern")
    if pattern:
        regex = re.compile(pattern["regex"])
        matched = [(c, m) for c in frame.columns if c not in exclude and (m := regex.match(c))]
        template = str(pattern.get("alias", "{name}"))
        for i, (column, match) in enumerate(matched, start=1):
            name = match.group(1)
            if reveal and "{param_alias}" not in template:
                out.append((column, name))
            else:
                out.append((column, template.format(i=i, name=name, param_alias=aliases.get(name, name))))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
