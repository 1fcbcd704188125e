"""The low-to-high protocol (paper section 4.2.1): fidelity ladders, demonstrations, pairs, suites.

Each task's fidelities are ordered by the registry's roles (low < medium <
high). An env's demonstrations come from the rung below it: training samples
pair all ``low`` envs with each ``medium`` env, test samples pair the
``medium`` envs with each ``high`` env (one-to-many pairs). Suites name which
envs are trained on and which are tested on; this module is the one place that
resolves them (the CLI, ``LMConfigGym.init_datasets`` and the benchmarks use it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gymnasium_llmconfig.card import Demonstration
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.registry import ROLES, Registry, TaskSpec, load_problem, load_registry
from gymnasium_llmconfig.train_selection import TrainSelection

#: ``"auto"``, one env id, several env ids, or ``None`` (no demonstrations).
Demos = Literal["auto"] | str | Sequence[str] | None


@dataclass(frozen=True)
class Pair:
    """One curated sample: a target env with the lower-fidelity envs shown as demonstrations."""

    target: str
    demos: tuple[str, ...]


@dataclass(frozen=True)
class Suite:
    """A resolved suite: env ids to train and test on, their curated pairs, and what was skipped."""

    name: str
    description: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    train_pairs: tuple[Pair, ...]
    test_pairs: tuple[Pair, ...]
    notes: tuple[str, ...] = ()
    #: How the training envs' runs are thinned before a fit sees them (stress suites); None: not at all.
    selection: TrainSelection | None = None


def fidelity_ladder(task: str | TaskSpec, registry: Registry | None = None,
                    ladder: str | None = None) -> dict[str, list[str]]:
    """Env ids of a task per role, lowest role first (registry order within a role).

    ``ladder`` keeps only the fidelities of that ladder (their ``ladder:`` key); None keeps all.
    """
    spec = task if isinstance(task, TaskSpec) else (registry or load_registry()).task(task)
    chosen = [f for f in spec.fidelities if ladder is None or f.ladder == ladder]
    return {role: [f.env_id for f in chosen if f.role == role] for role in ROLES}


def auto_demo_ids(env_id: str, registry: Registry | None = None) -> list[str]:
    """The envs of the nearest lower role that has any (high -> medium, medium -> low, low -> none), same ladder.

    An env id the registry does not know (a custom problem) has no automatic demonstrations.
    """
    registry = registry or load_registry()
    if env_id not in registry.envs:
        return []
    task, fidelity = registry.env(env_id)
    ladder = fidelity_ladder(task, ladder=fidelity.ladder)
    for role in reversed(ROLES[: ROLES.index(fidelity.role)]):
        if ladder[role]:
            return ladder[role]
    return []


def resolve_demo_ids(env_id: str, demos: Demos, registry: Registry | None = None) -> list[str]:
    """The env ids whose top configs an env shows; explicit ids must be other envs of the same task."""
    registry = registry or load_registry()
    if demos is None:
        return []
    if demos == "auto":
        return auto_demo_ids(env_id, registry)
    ids = [demos] if isinstance(demos, str) else list(demos)
    task = registry.env(env_id)[0].name if env_id in registry.envs else None
    for demo_id in ids:
        demo_task = registry.env(demo_id)[0].name  # KeyError with the closest ids when unknown
        if demo_id == env_id:
            raise ValueError(f"{env_id} cannot be its own demonstration")
        if task is not None and demo_task != task:
            raise ValueError(f"demonstration {demo_id} is a {demo_task} env; {env_id} is a {task} env")
    return ids


def demonstrations(
    env_id: str,
    demos: Demos,
    *,
    top_k: int,
    reveal_names: bool = False,
    target: str | None = None,
    download: bool = False,
) -> tuple[Demonstration, ...]:
    """Top-``top_k`` configs of each demo env with their values and fidelity, for the prompt's Context.

    Demo problems are loaded with the env's own ``reveal_names`` and ``target``,
    so names stay hidden alike and values are of the same metric.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidArgument(f"top_k must be a positive integer, got {top_k!r}")
    out = []
    for demo_id in resolve_demo_ids(env_id, demos):
        problem = load_problem(demo_id, reveal_names=reveal_names, target=target, download=download)
        out.append(Demonstration(demo_id, problem.fidelity, tuple(problem.top_configs(top_k))))
    return tuple(out)


def resolve_suite(name: str, registry: Registry | None = None) -> Suite:
    """Train/test env ids and pairs of a registry suite; unregistered tasks are skipped with a warning.

    Pairs are the targets of each split that have demonstrations under the
    ``"auto"`` rule (in ``l2h``: lows -> each medium for training, mediums ->
    each high for testing). A suite with explicit ``train:``/``test:`` env ids
    (e.g. ``paper``) uses those instead of roles; an unknown id is an error.
    """
    registry = registry or load_registry()
    spec = registry.suite(name)
    if spec.train_envs:
        for env_id in (*spec.train_envs, *spec.test_envs):
            registry.env(env_id)  # UnknownNameError naming the closest ids
        pairs = [tuple(Pair(e, tuple(d)) for e in ids if (d := auto_demo_ids(e, registry)))
                 for ids in (spec.train_envs, spec.test_envs)]
        return Suite(name, spec.description, spec.train_envs, spec.test_envs, *pairs, selection=spec.selection)
    names = list(registry.tasks) if spec.tasks == ("all",) else list(spec.tasks)
    known = {t.lower(): t for t in registry.tasks}
    notes = [f"suite {name!r}: task {t!r} is not registered; skipped" for t in names if t.lower() not in known]
    for note in notes:
        warnings.warn(note, stacklevel=2)
    tasks = [known[t.lower()] for t in names if t.lower() in known]

    def split(roles: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[Pair, ...]]:
        ids = tuple(e for t in tasks for e in registry.env_ids(task=t, roles=roles))
        pairs = tuple(Pair(e, tuple(demos)) for e in ids if (demos := auto_demo_ids(e, registry)))
        return ids, pairs

    (train, train_pairs), (test, test_pairs) = split(spec.train_roles), split(spec.test_roles)
    return Suite(name, spec.description, train, test, train_pairs, test_pairs, tuple(notes), spec.selection)
