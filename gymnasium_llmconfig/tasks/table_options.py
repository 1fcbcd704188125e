"""The ``table`` format's registry keys, parsed into frozen dataclasses.

Every key a table task (or one of its fidelities) may set in ``registry.yaml``
is one documented field below; a key that is no field (a typo such as
``show_config:``) is a :class:`~gymnasium_llmconfig.registry.RegistryError`
naming the file, the key, the allowed keys and the closest one. To add an
option, add a field with a default and read it in :mod:`.table`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gymnasium_llmconfig.errors import RegistryError
from gymnasium_llmconfig.problem import Direction
from gymnasium_llmconfig.registry import FIDELITY_DISPLAY_KEYS, TASK_DISPLAY_KEYS, FidelitySpec, TaskSpec, check_keys


def _build(cls: type[Any], raw: Any, where: str) -> Any:
    """``cls(**raw)`` after checking that ``raw`` is a mapping of ``cls``'s fields only."""
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where} must be a mapping with keys among {', '.join(names)}")
    check_keys(raw, names, where)
    return cls(**raw)


@dataclass(frozen=True)
class MetricSpec:
    """``metric:`` the column to optimize."""

    column: str
    #: Shown name (default: the column).
    name: str | None = None
    direction: Direction = "minimize"
    description: str = ""
    #: A run whose metric is NaN or worse than ``cap`` (diverged) scores ``cap``, so regret stays finite;
    #: list the metric column under ``details`` to show the raw value.
    cap: float | None = None


@dataclass(frozen=True)
class ParameterSpec:
    """One item of ``parameters:`` (or one column matched by ``parameter_pattern:``)."""

    name: str
    #: Data column (default: ``name``).
    column: str | None = None
    #: ``float`` | ``int`` | ``bool`` | ``str``: how values are coerced (``auto`` in a
    #: ``parameter_pattern``: from each matched column's data).
    kind: str = "float"
    description: str = ""
    log: bool = False
    #: Snapping tolerances of proposals (see :class:`~gymnasium_llmconfig.config_space.Parameter`).
    #: ``rel_tol`` unset: 5% for a float log grid (:data:`~gymnasium_llmconfig.config_space.LOG_GRID_REL_TOL`), else 0.
    rel_tol: float | None = None
    abs_tol: float = 0.0
    unit: str = ""
    #: Value of the parameter where a proposal leaves it out.
    default: Any = None
    #: Name of a grid transform in :data:`.table.TRANSFORMS`, for values written with varying rounding.
    transform: str | None = None
    #: Name shown when dataset names are withheld (default: ``name``).
    alias: str | None = None

    @property
    def data_column(self) -> str:
        return self.column if self.column is not None else self.name

    def shown(self, reveal_names: bool) -> str:
        return self.name if reveal_names or self.alias is None else self.alias


@dataclass(frozen=True)
class ParameterPattern:
    """``parameter_pattern:`` every column matching ``regex`` is a parameter named by its group 1.

    ``alias`` is formatted with ``i`` (1-based match number) and ``name``;
    ``log`` is ``true``/``false`` or a regex of the matched names that are
    log-scaled; ``descriptions`` maps a matched name to its text
    (``description`` is the fallback); the other keys are
    :class:`ParameterSpec` fields shared by every match.
    """

    regex: str
    alias: str = "{name}"
    log: bool | str = False
    descriptions: Mapping[str, str] = field(default_factory=dict)
    shared: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, where: str) -> ParameterPattern:
        if not isinstance(raw, Mapping) or "regex" not in raw:
            raise RegistryError(f"{where} must be a mapping with a 'regex' key")
        own = ("regex", "alias", "log", "descriptions")
        shared = {k: v for k, v in raw.items() if k not in own}
        check_keys(shared, [f.name for f in dataclasses.fields(ParameterSpec)
                            if f.name not in ("name", "column", "alias", "log")] + list(own), where)
        log = raw.get("log", False)
        return cls(str(raw["regex"]), str(raw.get("alias", "{name}")), log if isinstance(log, str) else bool(log),
                   dict(raw.get("descriptions") or {}), shared)

    def spec(self, column: str, name: str, i: int, data_kind: str) -> ParameterSpec:
        """The parameter of one matched column (``data_kind``: its kind read from the data, for ``auto``)."""
        shared = dict(self.shared)
        if shared.get("kind") == "auto":
            shared["kind"] = data_kind
        description = self.descriptions.get(name, shared.pop("description", ""))
        log = bool(re.fullmatch(self.log, name)) if isinstance(self.log, str) else self.log
        return ParameterSpec(name=name, column=column, alias=self.alias.format(i=i, name=name), log=log,
                             description=description, **shared)


@dataclass(frozen=True)
class DetailSpec:
    """One item of ``details:`` (a bare column name, or a mapping)."""

    column: str
    #: Shown name (default: the column).
    name: str | None = None
    #: Name shown when dataset names are withheld (default: ``name``).
    alias: str | None = None

    def shown(self, reveal_names: bool) -> str:
        name = self.name if self.name is not None else self.column
        return name if reveal_names or self.alias is None else self.alias


@dataclass(frozen=True)
class DetailPattern:
    """``detail_pattern:`` every other column matching ``regex`` is a detail.

    ``alias`` is formatted with ``i``, ``name`` (group 1) and ``param_alias``
    (the alias of the parameter of that name, so a detail can follow it).
    """

    regex: str
    alias: str = "{name}"


@dataclass(frozen=True)
class TableOptions:
    """A table task's format keys (``registry.yaml``)."""

    metric: MetricSpec
    #: Parameter columns, and/or a pattern that matches many (mixture ratios).
    parameters: tuple[ParameterSpec, ...] = ()
    parameter_pattern: ParameterPattern | None = None
    #: Columns reported with each outcome.
    details: tuple[DetailSpec, ...] = ()
    detail_pattern: DetailPattern | None = None
    #: Regex whose group 1 names the metric columns ``target=`` may choose.
    target_pattern: str | None = None
    #: Groups of source names: each group's files are joined on ``join``, the groups concatenated.
    tables: tuple[tuple[str, ...], ...] | None = None
    join: str | None = None
    #: New columns from ``pandas.DataFrame.eval`` expressions.
    derived: Mapping[str, str] = field(default_factory=dict)
    #: Rows to drop: column -> value or list of values.
    exclude: Mapping[str, Any] = field(default_factory=dict)
    #: List every config in the prompt (for spaces that are no grid, like mixtures).
    show_configs: bool = False

    @classmethod
    def parse(cls, task: TaskSpec) -> TableOptions:
        """The task's options, checked: unknown keys and a missing ``metric`` are registry errors."""
        where = f"{task.origin}: task {task.name!r}"
        raw = task.options
        check_keys(raw, {f.name for f in dataclasses.fields(cls)} | TASK_DISPLAY_KEYS, where)
        metric = raw.get("metric")
        if not isinstance(metric, Mapping) or "column" not in metric:
            raise RegistryError(f"{where}: table task {task.name!r} needs metric: {{column, name, direction}}")
        if metric.get("direction", "minimize") not in ("minimize", "maximize"):
            raise RegistryError(f"{where}: metric direction must be minimize or maximize")
        return cls(
            metric=_build(MetricSpec, metric, f"{where}: metric"),
            parameters=tuple(_build(ParameterSpec, p, f"{where}: parameters[{i}]")
                             for i, p in enumerate(raw.get("parameters") or [])),
            parameter_pattern=(ParameterPattern.parse(raw["parameter_pattern"], f"{where}: parameter_pattern")
                               if raw.get("parameter_pattern") else None),
            details=tuple(_build(DetailSpec, {"column": d} if isinstance(d, str) else d, f"{where}: details[{i}]")
                          for i, d in enumerate(raw.get("details") or [])),
            detail_pattern=(_build(DetailPattern, raw["detail_pattern"], f"{where}: detail_pattern")
                            if raw.get("detail_pattern") else None),
            target_pattern=raw.get("target_pattern") or None,
            tables=_groups(raw.get("tables")),
            join=raw.get("join") or None,
            derived=dict(raw.get("derived") or {}),
            exclude=dict(raw.get("exclude") or {}),
            show_configs=bool(raw.get("show_configs", False)),
        )


@dataclass(frozen=True)
class FidelityTableOptions:
    """A table fidelity's format keys (besides ``select`` and ``metadata``)."""

    #: This fidelity's groups of source names (default: the task's ``tables``).
    tables: tuple[tuple[str, ...], ...] | None = None

    @classmethod
    def parse(cls, task: TaskSpec, fidelity: FidelitySpec) -> FidelityTableOptions:
        allowed = {f.name for f in dataclasses.fields(cls)} | FIDELITY_DISPLAY_KEYS
        check_keys(fidelity.options, allowed, f"{task.origin}: env {fidelity.env_id!r}")
        return cls(tables=_groups(fidelity.options.get("tables")))


def _groups(value: Any) -> tuple[tuple[str, ...], ...] | None:
    return tuple(tuple(str(name) for name in group) for group in value) if value else None
