"""The paper's analyses (003 §4.2-4.3, Fig. 2, Fig. 5) over finished search trees, and intervals over seeds.

Per tree: best-so-far validation against iteration and against cumulative compute (generated tokens
and CPU-seconds), the test score of the best-validation node (never the best test score: test is
reported, not selected on, §4.2), the early-stop rate and the compute early stopping saved, and along
the best path the §4.3.2 statistics (direction reversals per parameter, capacity against
regularization, parameters changed per transition, share of transitions that improve validation).
Across seeds (the paper ran one; we run several): means with 95 % Student-t intervals, and each
method's difference to grid search paired by seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.search import TREE_FILE
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.tree import Tree, validated
from gymnasium_llmconfig.lab.zero.types import NodeRecord

#: Baseline every paired difference is taken against (§4.2 compares each method with grid search).
REFERENCE = "grid"


def load_nodes(search_dir: Path) -> list[NodeRecord]:
    """The nodes of ``search_dir/tree.json`` (a search's or a static baseline's) in the order they ran."""
    path = Path(search_dir) / TREE_FILE
    if not path.is_file():
        raise InvalidArgument(f"{path} does not exist: point at a directory written by 'llmconfig zero run' "
                              "or 'llmconfig zero compare'")
    return list(Tree.load(path).nodes.values())


def _tree(nodes: Sequence[NodeRecord]) -> Tree:
    return Tree(SearchSettings(), list(nodes))


def best_node(nodes: Sequence[NodeRecord]) -> NodeRecord | None:
    """The incumbent (:meth:`Tree.best_node`: highest validation, oldest on ties; §4.2 selects on validation)."""
    return _tree(nodes).best_node()


def path_to(nodes: Sequence[NodeRecord], node_id: str) -> list[NodeRecord]:
    """The chain from the from-scratch phase down to ``node_id`` (:meth:`Tree.path_to`, re-parenting respected)."""
    return _tree(nodes).path_to(node_id)


def best_path(nodes: Sequence[NodeRecord]) -> list[NodeRecord]:
    best = best_node(nodes)
    return path_to(nodes, best.id) if best else []


# --- best-so-far curves (Fig. 2, Fig. 5) ---------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    """The search after one more node: how many iterations, how much compute, best validation so far and
    the test score of that best-validation node."""

    iteration: int
    tokens: int
    cpu_seconds: float
    best_val: float | None
    test_at_best: float | None


def best_so_far(nodes: Sequence[NodeRecord]) -> list[CurvePoint]:
    """One point per node in run order: cumulative compute and the incumbent (a step function of either axis).

    A failed or pruned node costs compute but is never the incumbent; ties keep the earlier incumbent.
    """
    points, tokens, cpu, best = [], 0, 0.0, None
    for node in nodes:
        tokens += node.tokens
        cpu += node.cpu_seconds
        if validated(node) and not node.pruned and (best is None or node.score > best.score):
            best = node
        points.append(CurvePoint(node.iteration, tokens, cpu, best.score if best else None,
                                 best.test_score if best else None))
    return points


def at_iteration(curve: Sequence[CurvePoint], iteration: int) -> CurvePoint | None:
    """The incumbent once every node of iterations ``<= iteration`` has run (None before the first)."""
    done = [p for p in curve if p.iteration <= iteration]
    return done[-1] if done else None


def at_compute(curve: Sequence[CurvePoint], cpu_seconds: float) -> CurvePoint | None:
    """The incumbent among the nodes finished within ``cpu_seconds`` of cumulative CPU time (None before the first)."""
    done = [p for p in curve if p.cpu_seconds <= cpu_seconds]
    return done[-1] if done else None


# --- early stopping (§4.2 "Compute efficiency") --------------------------------------------------


def steps_run(node: NodeRecord) -> int:
    """Steps the phase actually trained: up to its last validation (the stopper decides at validations, §3.5)."""
    if node.status == "completed":
        return node.steps
    if not node.validations:
        return 0
    return int(max(step for step, _ in node.validations)) - node.resume_step


@dataclass(frozen=True)
class EarlyStopStats:
    """Share of nodes stopped early and an estimate of what stopping saved: each stopped phase's unrun steps
    priced at that phase's own cost per step run."""

    nodes: int
    stopped: int
    saved_cpu_seconds: float
    saved_tokens: float
    spent_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.stopped / self.nodes if self.nodes else math.nan

    @property
    def saved_share(self) -> float:
        """Saved CPU as a share of what the search would have spent without stopping."""
        total = self.spent_cpu_seconds + self.saved_cpu_seconds
        return self.saved_cpu_seconds / total if total else math.nan


def early_stop_stats(nodes: Sequence[NodeRecord]) -> EarlyStopStats:
    saved_cpu = saved_tokens = 0.0
    stopped = 0
    for node in nodes:
        if node.status != "early-stopped":
            continue
        stopped += 1
        ran = steps_run(node)
        if ran > 0:
            unrun = max(node.steps - ran, 0)
            saved_cpu += node.cpu_seconds / ran * unrun
            saved_tokens += node.tokens / ran * unrun
    return EarlyStopStats(len(nodes), stopped, saved_cpu, saved_tokens, sum(n.cpu_seconds for n in nodes))


# --- transitions along the best path (§4.3.2) ----------------------------------------------------


def _number(value: Any) -> float:
    return float(value)  # bools (norm_adv) count as 0/1, so switching on then off is a reversal too


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Parameters whose value differs between two configs, in ``after``'s order."""
    return [k for k in after if before.get(k) != after[k]]


def reversals(values: Sequence[Any]) -> int:
    """Direction reversals of one parameter along a path: sign changes between consecutive non-zero moves.

    ``[1, 2, 2, 3]`` has none (it only grows), ``[1, 2, 1, 2]`` has two (up, down, up).
    """
    moves = [_number(b) - _number(a) for a, b in pairwise(values)]
    signs = [m > 0 for m in moves if m != 0]
    return sum(a != b for a, b in pairwise(signs))


@dataclass(frozen=True)
class PathStats:
    """§4.3.2's statistics of one best path (``phases`` nodes, ``phases - 1`` transitions)."""

    phases: int
    reversals: dict[str, int]
    changes_per_transition: list[int]
    improving: int

    @property
    def transitions(self) -> int:
        return len(self.changes_per_transition)

    @property
    def improving_share(self) -> float:
        return self.improving / self.transitions if self.transitions else math.nan

    @property
    def mean_changes(self) -> float:
        return sum(self.changes_per_transition) / self.transitions if self.transitions else math.nan

    def group_reversals(self, names: Iterable[str]) -> int:
        return sum(self.reversals.get(name, 0) for name in names)


def path_stats(path: Sequence[NodeRecord]) -> PathStats:
    """Reversals per parameter, parameters changed per transition and improving transitions (child's best
    validation above its parent's) along ``path`` (scratch phase first)."""
    configs = [n.config for n in path]
    names = list(configs[0]) if configs else []
    return PathStats(
        phases=len(path),
        reversals={name: reversals([c[name] for c in configs]) for name in names},
        changes_per_transition=[len(changed(a, b)) for a, b in pairwise(configs)],
        improving=sum(b.score is not None and (a.score is None or b.score > a.score)
                      for a, b in pairwise(path)),
    )


# --- across seeds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a two-sided ``level`` Student-t interval (NaN bounds for fewer than 2 values)."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (v if isinstance(v, int) or math.isfinite(v) else None)
                for k, v in (("mean", self.mean), ("low", self.low), ("high", self.high), ("n", self.n))}


def t_interval(values: Iterable[float | None], level: float = 0.95) -> Interval:
    """Mean ± t_{(1+level)/2, n-1} · s / sqrt(n) over the values that are not None (s: sample std)."""
    from scipy.stats import t

    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(values: Mapping[int, float | None], reference: Mapping[int, float | None],
                      level: float = 0.95) -> Interval:
    """The interval of ``values[s] - reference[s]`` over the seeds ``s`` both have a value for."""
    diffs = [values[s] - reference[s] for s in sorted(values.keys() & reference.keys())
             if values[s] is not None and reference[s] is not None]
    return t_interval(diffs, level)
