"""The registry: every task, fidelity, env id, data source and suite, read from YAML.

``registry.yaml`` in the package is the single source of truth. More YAML files
can be added with ``$LLMCONFIG_REGISTRY`` (paths separated by ``os.pathsep``; a
directory means its ``registry.yaml``) or with ``include:`` lists, so a user's
collected sweep becomes an env without code. A task's ``format`` names the
builder that turns its data into problems (``table`` for anything tabular).
Raw files are ``sources`` (one pinned file each) or ``source_sets`` (many files
of one repository, each pinned by its own commit and sha256, listed by a task
under the set's name).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from gymnasium_llmconfig.data.sources import DataSource
from gymnasium_llmconfig.errors import RegistryError, UnknownNameError
from gymnasium_llmconfig.problem import Direction, FidelityInfo, Problem, TaskInfo
from gymnasium_llmconfig.train_selection import TrainSelection

REGISTRY_ENV = "LLMCONFIG_REGISTRY"
PACKAGE_REGISTRY = Path(__file__).with_name("registry.yaml")
ROLES = ("low", "medium", "high")
#: Keys every format accepts because the registry itself reads them: what an env shows (:meth:`TaskSpec.info`,
#: :meth:`FidelitySpec.info`), for a fidelity the curation ladder it is on (:attr:`FidelitySpec.ladder`), for a
#: task whether its train and test configuration spaces are disjoint (``space_shift: true``, paper 000 Table 2,
#: read by the report's footnote-2 aggregate), and the cost of one run (``cost:``, :mod:`gymnasium_llmconfig.cost`).
TASK_DISPLAY_KEYS = frozenset({"description_revealed", "space_shift", "cost"})
FIDELITY_DISPLAY_KEYS = frozenset({"name_revealed", "metadata_revealed", "description", "ladder", "cost"})

#: Built-in formats; ``format: "package.module:function"`` names any other builder.
FORMATS = {
    "table": "gymnasium_llmconfig.tasks.table:build_problem",
    "hwgpt": "gymnasium_llmconfig.tasks.arch.builder:build_problem",
}


def check_keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a key that is not ``allowed`` (a typo would otherwise be silently ignored), naming the closest one."""
    allowed = sorted(allowed)
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise RegistryError(f"{where}: unknown key {key!r}; allowed keys are {', '.join(allowed)}.{hint}")


@dataclass(frozen=True)
class FidelitySpec:
    """One fidelity of a task: one env."""

    env_id: str
    name: str
    role: str
    select: Mapping[str, Any]
    metadata: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ladder(self) -> str:
        """Which ladder of its task the fidelity is on (``ladder:`` key; one ladder per task by default)."""
        return str(self.options.get("ladder", ""))

    def info(self, reveal_names: bool) -> FidelityInfo:
        """The fidelity as an env shows it: ``*_revealed`` variants only with ``reveal_names``."""
        revealed = self.options if reveal_names else {}
        return FidelityInfo(
            name=str(revealed.get("name_revealed", self.name)),
            role=self.role,
            metadata={**self.metadata, **revealed.get("metadata_revealed", {})},
            description=str(self.options.get("description", "")),
        )


@dataclass(frozen=True)
class TaskSpec:
    """One task as declared in YAML; ``options`` holds the format-specific keys."""

    name: str
    title: str
    description: str
    format: str
    sources: Mapping[str, DataSource]
    fidelities: tuple[FidelitySpec, ...]
    options: Mapping[str, Any]
    origin: Path

    def builder(self) -> ProblemBuilder:
        """The function of this task's ``format`` that builds its problems."""
        target = FORMATS.get(self.format, self.format)
        module_name, _, func_name = target.partition(":")
        if not func_name:
            raise RegistryError(f"{self.origin}: task {self.name!r} has unknown format {self.format!r}; "
                                f"use one of {sorted(FORMATS)} or 'module:function'")
        return getattr(importlib.import_module(module_name), func_name)

    def info(self, reveal_names: bool, metric_name: str, direction: Direction, metric_description: str) -> TaskInfo:
        """The task as an env shows it: ``description_revealed`` only with ``reveal_names``."""
        description = self.options.get("description_revealed", self.description) if reveal_names else self.description
        return TaskInfo(self.name, self.title, str(description), metric_name, direction, metric_description)


class ProblemBuilder(Protocol):
    """What a registry ``format:`` names: builds the problem of one fidelity of a task.

    ``reveal_names`` shows dataset and model names, ``target`` picks another
    metric where the format has several (else :class:`~gymnasium_llmconfig.errors.InvalidArgument`),
    ``download`` lets the data layer fetch missing files. Option keys the
    format does not know are a :class:`RegistryError` naming the file.
    """

    def __call__(
        self,
        task: TaskSpec,
        fidelity: FidelitySpec,
        *,
        reveal_names: bool = False,
        target: str | None = None,
        download: bool = False,
    ) -> Problem: ...


@dataclass(frozen=True)
class SuiteSpec:
    """A named selection of envs with a train/test split by role, or by explicit env ids (``train:``/``test:``).

    ``selection`` thins the training envs' runs (stress suites, paper 000 §6; see
    :mod:`gymnasium_llmconfig.train_selection`); test envs are never thinned.
    """

    name: str
    description: str
    tasks: tuple[str, ...]
    train_roles: tuple[str, ...]
    test_roles: tuple[str, ...]
    train_envs: tuple[str, ...] = ()
    test_envs: tuple[str, ...] = ()
    selection: TrainSelection | None = None


@dataclass
class Registry:
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    suites: dict[str, SuiteSpec] = field(default_factory=dict)
    envs: dict[str, tuple[TaskSpec, FidelitySpec]] = field(default_factory=dict)

    def env(self, env_id: str) -> tuple[TaskSpec, FidelitySpec]:
        try:
            return self.envs[_strip_namespace(env_id)]
        except KeyError:
            raise UnknownNameError(unknown_env_message(env_id, self.envs)) from None

    def env_ids(self, task: str | None = None, roles: tuple[str, ...] | None = None) -> list[str]:
        out = []
        for spec in self.tasks.values():
            if task is not None and spec.name.lower() != task.lower():
                continue
            out.extend(f.env_id for f in spec.fidelities if roles is None or f.role in roles)
        return out

    def task(self, name: str) -> TaskSpec:
        for spec in self.tasks.values():
            if spec.name.lower() == name.lower():
                return spec
        close = difflib.get_close_matches(name, list(self.tasks), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"No task named {name!r}; tasks are {', '.join(self.tasks)}.{hint}")

    def sources(self, env_ids: Iterable[str] | None = None) -> list[DataSource]:
        """Every raw file of the tasks these envs belong to (default: of every task), each once.

        A whole task's files, not only the env's own: demonstrations and fits read its other fidelities.
        """
        tasks = self.tasks.values() if env_ids is None else {self.env(e)[0].name: self.env(e)[0]
                                                             for e in env_ids}.values()
        return list({s.name: s for task in tasks for s in task.sources.values()}.values())

    def suite(self, name: str) -> SuiteSpec:
        if name not in self.suites:
            raise UnknownNameError(f"No suite named {name!r}; suites are {', '.join(self.suites)}.")
        return self.suites[name]

    def __iter__(self) -> Iterator[tuple[TaskSpec, FidelitySpec]]:
        return iter(self.envs.values())


def unknown_env_message(env_id: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(_strip_namespace(env_id), list(known), n=5, cutoff=0.5)
    hint = f" Closest ids: {', '.join(close)}." if close else ""
    return f"No LLMConfig env {env_id!r}.{hint} Run `llmconfig envs` to list them all."


def _strip_namespace(env_id: str) -> str:
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def registry_paths() -> list[Path]:
    paths = [PACKAGE_REGISTRY]
    for part in os.environ.get(REGISTRY_ENV, "").split(os.pathsep):
        if part.strip():
            path = Path(part.strip()).expanduser()
            paths.append(path / "registry.yaml" if path.is_dir() else path)
    return paths


@lru_cache(maxsize=8)
def _load(paths: tuple[Path, ...]) -> Registry:
    registry = Registry()
    seen: set[Path] = set()
    for path in paths:
        _load_file(path, registry, seen)
    return registry


def load_registry() -> Registry:
    """The merged registry of the package and ``$LLMCONFIG_REGISTRY`` (cached per path list)."""
    return _load(tuple(registry_paths()))


def _load_file(path: Path, registry: Registry, seen: set[Path]) -> None:
    path = path.resolve()
    if path in seen:
        return
    seen.add(path)
    if not path.is_file():
        raise RegistryError(f"Registry file {path} does not exist (check ${REGISTRY_ENV} or include: entries).")
    try:
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"Registry file {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"Registry file {path} must be a mapping with 'tasks', 'suites' or 'include'.")
    sources = {name: _source(path, name, raw) for name, raw in (doc.get("sources") or {}).items()}
    source_sets = {name: _source_set(path, name, raw) for name, raw in (doc.get("source_sets") or {}).items()}
    for raw in _as_list(doc.get("tasks"), path, "tasks"):
        task = _task(path, raw, sources, source_sets)
        if task.name in registry.tasks:
            raise RegistryError(f"{path}: task {task.name!r} is declared twice")
        registry.tasks[task.name] = task
        for fid in task.fidelities:
            if fid.env_id in registry.envs:
                raise RegistryError(f"{path}: env id {fid.env_id!r} is declared twice")
            registry.envs[fid.env_id] = (task, fid)
    for name, raw in (doc.get("suites") or {}).items():
        registry.suites[name] = _suite(path, name, raw)
    for include in _as_list(doc.get("include"), path, "include"):
        _load_file(path.parent / str(include), registry, seen)


def _as_list(value: Any, path: Path, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RegistryError(f"{path}: '{key}' must be a list")
    return value


def _require(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise RegistryError(f"{where}: missing required key {key!r}")
    return raw[key]


def _source(path: Path, name: str, raw: Mapping[str, Any]) -> DataSource:
    where = f"{path}: source {name!r}"
    if "file" in raw:
        local = (path.parent / str(raw["file"])).resolve()
        return DataSource(name=name, path=str(raw["file"]), sha256=str(raw.get("sha256", "")),
                          licence=str(raw.get("licence", "")), citation=str(raw.get("citation", "")), local=local)
    return DataSource(
        name=name,
        path=str(_require(raw, "path", where)),
        url=str(_require(raw, "url", where)),
        sha256=str(_require(raw, "sha256", where)),
        licence=str(raw.get("licence", "")),
        citation=str(raw.get("citation", "")),
        reader=str(raw.get("reader", "csv")),
    )


def _source_set(path: Path, name: str, raw: Mapping[str, Any]) -> dict[str, DataSource]:
    """Many files of one repository, each pinned by its own commit and sha256, as one registry entry.

    ``url`` and ``path`` are templates over ``{file}`` and ``{commit}``; ``fields``
    is a regex whose named groups, matched on each file, become constant
    columns of its rows (numbers as numbers); ``lookup`` adds more columns
    keyed by a field's value (``{size: {130m: {N: 134217728}}}``); ``name``
    (a template over the fields, default ``{set}/{file}``) names each member
    for ``llmconfig data status|pull``.
    """
    where = f"{path}: source set {name!r}"
    try:
        pattern = re.compile(str(raw["fields"])) if "fields" in raw else None
    except re.error as exc:
        raise RegistryError(f"{where}: 'fields' is not a valid regex ({exc})") from exc
    lookup = raw.get("lookup") or {}
    members: dict[str, DataSource] = {}
    for item in _as_list(raw.get("files"), path, f"source_sets.{name}.files"):
        file = str(_require(item, "file", where))
        match = pattern.fullmatch(file) if pattern else None
        if pattern and match is None:
            raise RegistryError(f"{where}: file {file!r} does not match its 'fields' pattern {pattern.pattern!r}")
        fields = {k: _number_or_text(v) for k, v in (match.groupdict() if match else {}).items()}
        for field_name, table in lookup.items():
            if str(fields.get(field_name)) not in {str(k) for k in table}:
                raise RegistryError(f"{where}: file {file!r} has {field_name}={fields.get(field_name)!r}, "
                                    f"which its 'lookup' lacks; add it under lookup.{field_name}")
            fields.update(next(v for k, v in table.items() if str(k) == str(fields[field_name])))
        slots = {"file": file, "commit": str(_require(item, "commit", f"{where}, file {file!r}")), "set": name}
        member = str(raw.get("name", "{set}/{file}")).format(**slots, **fields)
        members[member] = DataSource(
            name=member,
            path=str(_require(raw, "path", where)).format(**slots),
            url=str(_require(raw, "url", where)).format(**slots),
            sha256=str(_require(item, "sha256", f"{where}, file {file!r}")),
            licence=str(raw.get("licence", "")),
            citation=str(raw.get("citation", "")),
            reader=str(raw.get("reader", "csv")),
            fields=tuple(fields.items()),
        )
    return members


def _number_or_text(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _task(path: Path, raw: Mapping[str, Any], shared_sources: Mapping[str, DataSource],
          source_sets: Mapping[str, Mapping[str, DataSource]]) -> TaskSpec:
    name = str(_require(raw, "name", f"{path}: a task"))
    where = f"{path}: task {name!r}"
    sources: dict[str, DataSource] = {}
    for item in _as_list(raw.get("sources"), path, f"tasks[{name}].sources"):
        if isinstance(item, str) and item in source_sets:
            sources.update(source_sets[item])
        elif isinstance(item, str):
            if item not in shared_sources:
                raise RegistryError(f"{where}: unknown source {item!r}; declare it under the file's 'sources' "
                                    "or 'source_sets'")
            sources[item] = shared_sources[item]
        else:
            src = _source(path, str(_require(item, "name", where)), item)
            sources[src.name] = src
    fidelities = tuple(_fidelity(where, f) for f in _as_list(raw.get("fidelities"), path, f"{name}.fidelities"))
    known = {"name", "title", "description", "format", "sources", "fidelities"}
    return TaskSpec(
        name=name,
        title=str(raw.get("title", name)),
        description=str(_require(raw, "description", where)).strip(),
        format=str(_require(raw, "format", where)),
        sources=sources,
        fidelities=fidelities,
        options={k: v for k, v in raw.items() if k not in known},
        origin=path,
    )


def _fidelity(where: str, raw: Mapping[str, Any]) -> FidelitySpec:
    env_id = str(_require(raw, "env_id", f"{where}: a fidelity"))
    here = f"{where}, env {env_id!r}"
    role = str(_require(raw, "role", here))
    if role not in ROLES:
        raise RegistryError(f"{here}: role must be one of {ROLES}, got {role!r}")
    known = {"env_id", "name", "role", "select", "metadata"}
    return FidelitySpec(
        env_id=env_id,
        name=str(raw.get("name", env_id)),
        role=role,
        select=dict(raw.get("select") or {}),
        metadata=dict(raw.get("metadata") or {}),
        options={k: v for k, v in raw.items() if k not in known},
    )


SUITE_KEYS = frozenset({"description", "tasks", "train_roles", "test_roles", "train", "test",
                        "train_subsample", "train_filter"})


def _suite(path: Path, name: str, raw: Mapping[str, Any]) -> SuiteSpec:
    where = f"{path}: suite {name!r}"
    check_keys(raw, SUITE_KEYS, where)
    explicit = {key: tuple(str(e) for e in _as_list(raw.get(key), path, f"suites.{name}.{key}"))
                for key in ("train", "test")}
    if bool(explicit["train"]) != bool(explicit["test"]):
        raise RegistryError(f"{where}: give both 'train' and 'test' env id lists, or neither (then roles split)")
    tasks = raw.get("tasks", "all")
    roles = {key: tuple(_as_list(raw.get(key, default), path, f"suites.{name}.{key}"))
             for key, default in (("train_roles", ["low", "medium"]), ("test_roles", ["high"]))}
    for key, values in roles.items():
        if not set(values) <= set(ROLES):
            raise RegistryError(f"{path}: suite {name!r} {key} must be among {ROLES}, got {list(values)}")
    return SuiteSpec(
        name=name,
        description=str(raw.get("description", "")),
        tasks=tuple(str(t) for t in tasks) if isinstance(tasks, list) else (str(tasks),),
        train_roles=roles["train_roles"],
        test_roles=roles["test_roles"],
        train_envs=explicit["train"],
        test_envs=explicit["test"],
        selection=_selection(where, raw),
    )


def _selection(where: str, raw: Mapping[str, Any]) -> TrainSelection | None:
    """``train_subsample: {fraction, seed}`` and ``train_filter: {reversed: below}`` as one :class:`TrainSelection`."""
    subsample, rule = raw.get("train_subsample"), raw.get("train_filter")
    if subsample is None and rule is None:
        return None
    subsample, rule = subsample or {}, rule or {}
    if not isinstance(subsample, Mapping) or not isinstance(rule, Mapping):
        raise RegistryError(f"{where}: train_subsample and train_filter are mappings, e.g. "
                            "train_subsample: {fraction: 0.2, seed: 0} and train_filter: {reversed: 0.5}")
    check_keys(subsample, {"fraction", "seed"}, f"{where}, train_subsample")
    check_keys(rule, {"reversed"}, f"{where}, train_filter")
    try:
        return TrainSelection(
            fraction=float(subsample["fraction"]) if "fraction" in subsample else None,
            seed=int(subsample.get("seed", 0)),
            reversed_below=float(rule["reversed"]) if "reversed" in rule else None,
        )
    except RegistryError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{where}: train_subsample/train_filter values must be numbers ({exc})") from exc


@lru_cache(maxsize=256)
def load_problem(
    env_id: str, *, reveal_names: bool = False, target: str | None = None, download: bool = False
) -> Problem:
    """Build (once per process) the :class:`~gymnasium_llmconfig.problem.Problem` behind an env id."""
    task, fidelity = load_registry().env(env_id)
    return task.builder()(task, fidelity, reveal_names=reveal_names, target=target, download=download)
