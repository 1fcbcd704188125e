"""The ``table`` format: any task whose runs sit in tables, one row per run.

Everything task-specific lives in ``registry.yaml``: which source files (joined
on a key column, groups concatenated; without a ``join`` column every file is
its own group, so many files stack into one table), which rows form each
fidelity (``select``), which columns are parameters (with snapping tolerances
and an optional grid transform), the target metric and the detail columns, and
the anonymous aliases shown when names are withheld. Step Law, ADMIRE, RegMix,
Marin's optimizer sweeps and the project's own collected sweeps all use it.
The keys are documented in :mod:`.table_options`; those for tables whose
parameters differ between envs (Marin: each optimizer has its own
hyperparameters) are ``parameter_pattern.kind: auto``, ``parameter_pattern.log``
(a regex of log-scaled names), ``parameter_pattern.descriptions`` and
``metric.cap``; a pattern-matched column with no value in an env's rows is not
a parameter of that env.
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
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.problem import Outcome, TableProblem
from gymnasium_llmconfig.registry import FidelitySpec, RegistryError, TaskSpec
from gymnasium_llmconfig.storage import plain
from gymnasium_llmconfig.tasks.table_options import FidelityTableOptions, ParameterSpec, TableOptions

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
    """Build the problem of one fidelity of a table task (a :class:`~gymnasium_llmconfig.registry.ProblemBuilder`)."""
    opts = TableOptions.parse(task)
    frame = fidelity_frame(task, fidelity, download=download)
    metric_column, metric_name, direction, metric_desc = _metric(task, opts, frame, target)
    metrics = _capped(opts.metric.cap, frame[metric_column].to_numpy(dtype=float), direction)
    frame, metrics = frame[np.isfinite(metrics)], metrics[np.isfinite(metrics)]
    if frame.empty:
        raise RegistryError(f"{task.origin}: env {fidelity.env_id!r} selects no rows with a finite {metric_column!r}")

    params = _parameters(task, opts, frame)
    columns = [p.data_column for p in params]
    configs = [
        {p.shown(reveal_names): _coerce(p, value) for p, value in zip(params, row, strict=True)}
        for row in frame[columns].itertuples(index=False, name=None)
    ]
    space = FiniteConfigSpace(_with_choices(params, configs, reveal_names), _unique(configs, fidelity))
    aliases = {p.name: p.shown(reveal_names) for p in params}
    detail_cols = _details(task, opts, frame, reveal_names, aliases, exclude=set(columns) | {metric_column})
    details = frame[[c for c, _ in detail_cols]].to_dict("records") if detail_cols else [{}] * len(frame)
    outcomes = [
        Outcome(float(m), {name: plain(d[col]) for col, name in detail_cols})
        for m, d in zip(metrics, details, strict=True)
    ]
    info = task.info(reveal_names, metric_name, direction, metric_desc)
    fid = fidelity.info(reveal_names)
    cls = ListedTableProblem if opts.show_configs else TableProblem
    return cls(fidelity.env_id, info, fid, space, outcomes)


def _capped(cap: float | None, values: np.ndarray, direction: str) -> np.ndarray:
    """Metric values with NaN and values worse than ``metric.cap`` replaced by the cap (diverged runs)."""
    if cap is None:
        return values
    worse = values > cap if direction == "minimize" else values < cap
    return np.where(np.isnan(values) | worse, float(cap), values)


def fidelity_frame(task: TaskSpec, fidelity: FidelitySpec, *, download: bool = False) -> pd.DataFrame:
    """Every row one fidelity selects, before the metric filter (diverged and failed runs included).

    The env is built from these; the cost of its runs (:mod:`gymnasium_llmconfig.cost`) reads them too.
    """
    opts = TableOptions.parse(task)
    stacked = tuple((name,) for name in task.sources) if opts.join is None else (tuple(task.sources),)
    groups = FidelityTableOptions.parse(task, fidelity).tables or opts.tables or stacked
    return _fidelity_rows(task, opts, fidelity, groups, download)


def _fidelity_rows(
    task: TaskSpec,
    opts: TableOptions,
    fidelity: FidelitySpec,
    groups: tuple[tuple[str, ...], ...],
    download: bool,
) -> pd.DataFrame:
    frame = _assembled(task, opts, groups, download, fidelity.env_id)
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in fidelity.select.items():
        if column not in frame.columns:
            raise RegistryError(f"{task.origin}: env {fidelity.env_id!r} selects on unknown column {column!r}")
        values = frame[column].to_numpy()
        if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and values.dtype.kind in "fi":
            mask &= np.isclose(values.astype(float), float(wanted), rtol=1e-9, atol=0.0)
        else:
            mask &= values.astype(str) == str(wanted)
    for column, dropped in opts.exclude.items():
        mask &= ~frame[column].astype(str).isin([str(v) for v in _listify(dropped)]).to_numpy()
    return frame[mask]


_ASSEMBLED: dict[tuple[Any, ...], tuple[tuple[int, ...], pd.DataFrame]] = {}


def _assembled(
    task: TaskSpec, opts: TableOptions, groups: tuple[tuple[str, ...], ...], download: bool, env_id: str
) -> pd.DataFrame:
    """Join each group's files on the task's key column, concatenate the groups, add derived columns.

    Memoized per (task, groups) and the identity of the cached source frames, so
    the many envs of one task share a single assembled frame.
    """
    loaded: list[list[pd.DataFrame]] = []
    for group in groups:
        frames = []
        for name in group:
            if name not in task.sources:
                raise RegistryError(f"{task.origin}: task {task.name!r} uses unknown source {name!r}")
            frames.append(read_table(task.sources[name], download=download, needed_by=env_id))
        if len(frames) > 1 and not opts.join:
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
            part = part.merge(other, on=opts.join, how="inner", validate="one_to_one")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    for column, expression in opts.derived.items():
        frame[column] = frame.eval(expression)
    _ASSEMBLED[key] = (identity, frame)
    return frame


def _metric(task: TaskSpec, opts: TableOptions, frame: pd.DataFrame, target: str | None) -> tuple[str, str, Any, str]:
    spec = opts.metric
    if target is None:
        return spec.column, spec.name if spec.name is not None else spec.column, spec.direction, spec.description
    choices = _target_choices(opts, frame)
    if target in choices:
        column = choices[target]
    elif target in choices.values():
        column = target
    else:
        raise InvalidArgument(f"Unknown target {target!r} for task {task.name}; choose one of {sorted(choices)}")
    return column, column if column == target else f"{target} ({column})", spec.direction, ""


def _target_choices(opts: TableOptions, frame: pd.DataFrame) -> dict[str, str]:
    if not opts.target_pattern:
        return {}
    regex = re.compile(opts.target_pattern)
    return {m.group(1): c for c in frame.columns if (m := regex.match(c))}


def _parameters(task: TaskSpec, opts: TableOptions, frame: pd.DataFrame) -> list[ParameterSpec]:
    specs = list(opts.parameters)
    if opts.parameter_pattern is not None:
        regex = re.compile(opts.parameter_pattern.regex)
        # a matched column with no value in these rows is not a parameter of this env
        matched = [(c, m) for c in frame.columns if (m := regex.match(c)) and frame[c].notna().any()]
        specs += [opts.parameter_pattern.spec(c, m.group(1), i, _kind_of(frame[c]))
                  for i, (c, m) in enumerate(matched, start=1)]
    if not specs:
        raise RegistryError(f"{task.origin}: table task {task.name!r} declares no parameters")
    for spec in specs:
        if spec.data_column not in frame.columns:
            raise RegistryError(
                f"{task.origin}: task {task.name!r} parameter column {spec.data_column!r} not in data"
            )
    return specs


def _kind_of(column: pd.Series) -> str:
    """bool, str, int (every value integral) or float, from a column's non-null values (``kind: auto``)."""
    values = column.dropna()
    if values.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "bool"
    if not pd.api.types.is_numeric_dtype(values):
        return "str"
    return "int" if np.all(np.mod(values.to_numpy(dtype=float), 1.0) == 0) else "float"


def _coerce(spec: ParameterSpec, value: Any) -> Any:
    if spec.kind == "int":
        return int(value)
    if spec.kind == "float":
        value = float(value)
        return TRANSFORMS[spec.transform](value) if spec.transform else value
    if spec.kind == "bool":
        return bool(value)
    return str(value)


def _with_choices(
    specs: Sequence[ParameterSpec], configs: Sequence[Mapping[str, Any]], reveal: bool
) -> list[Parameter]:
    params = []
    for spec in specs:
        shown = spec.shown(reveal)
        params.append(
            Parameter(
                name=shown,
                choices=tuple(sorted({c[shown] for c in configs})),
                description=str(spec.description),
                kind=str(spec.kind),
                log=bool(spec.log),
                rel_tol=None if spec.rel_tol is None else float(spec.rel_tol),
                abs_tol=float(spec.abs_tol),
                unit=str(spec.unit),
                default=spec.default,
            )
        )
    return params


def _unique(configs: list[dict[str, Any]], fidelity: FidelitySpec) -> list[dict[str, Any]]:
    keys = [tuple(c.values()) for c in configs]
    if len(set(keys)) != len(keys):
        raise RegistryError(f"env {fidelity.env_id!r}: two runs share the same config; refine its 'select'")
    return configs


def _details(
    task: TaskSpec,
    opts: TableOptions,
    frame: pd.DataFrame,
    reveal: bool,
    aliases: Mapping[str, str],
    exclude: set[str],
) -> list[tuple[str, str]]:
    """(column, shown name) of every detail; a pattern alias may reuse a parameter's alias via ``{param_alias}``."""
    out: list[tuple[str, str]] = []
    for spec in opts.details:
        if spec.column not in frame.columns:
            raise RegistryError(f"{task.origin}: task {task.name!r} detail column {spec.column!r} not in data")
        out.append((spec.column, spec.shown(reveal)))
    pattern = opts.detail_pattern
    if pattern is not None:
        regex = re.compile(pattern.regex)
        matched = [(c, m) for c in frame.columns if c not in exclude and (m := regex.match(c))]
        for i, (column, match) in enumerate(matched, start=1):
            name = match.group(1)
            if reveal and "{param_alias}" not in pattern.alias:
                out.append((column, name))
            else:
                out.append((column, pattern.alias.format(i=i, name=name, param_alias=aliases.get(name, name))))
    return out


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
