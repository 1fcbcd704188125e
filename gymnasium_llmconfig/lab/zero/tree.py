"""LLMZero's search tree: node statistics, UCT with a virtual new child, limits, pruning (paper 003 §3.2-3.3, App. D).

Two kinds of edge live in one tree. ``parent`` is whose checkpoint a phase resumed from (``None``:
from scratch); it defines the strategy a node stands for (:meth:`Tree.path_to`). ``anchor`` is the
node that selection reaches it through; statistics and selection walk anchors only. They agree
for evolve children; a forced scratch phase hangs under the best node it was injected at (§3.3)
while its ``parent`` is ``None``; a debug child hangs under the failed node it fixes and, once a
fix succeeds, moves next to the chain's oldest failed node (§3.2).

Selection (App. D.3) starts at the root: the search's first phase, whose statistics are those of
the whole live tree (N(root) = every unpruned node; its own Q is never needed, it has no siblings).
Scratch phases are no second root: each competes as one more child of the node it was injected at,
so its subtree's scores count in that node's and its ancestors' statistics, and selection reaches
it by descending through them. At each node selection compares its non-terminal children's UCT
(eq. 5) with the virtual new child's (eq. 6), expands when the virtual child is strictly better and
the node may still grow (or when it has no open child), and otherwise descends into the best child.
Ties go to the existing child, and between children to the older one: selection is deterministic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import StoreError
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.types import NodeRecord
from gymnasium_llmconfig.storage import atomic_write


def shape(s_hat: float, temperature: float) -> float:
    """Eq. 7's exponential shaping f_T(ŝ) = (e^(ŝ/T) - 1) / (e^(1/T) - 1): 0 at 0, 1 at 1, convex for small T."""
    return math.expm1(s_hat / temperature) / math.expm1(1.0 / temperature)


@dataclass(frozen=True)
class NodeStats:
    """Visit counts of a node's live subtree (itself included) and its validated nodes' mean ŝ (App. D.2).

    ``v_val`` counts nodes that produced a validation score without failing (early-stopped ones
    included); ``mean_score`` is their average min-max normalized score (0 when there are none).
    """

    v_total: int
    v_val: int
    v_fail: int
    v_early: int
    mean_score: float


def q_value(stats: NodeStats, settings: SearchSettings) -> float:
    """Eq. 8: validated share x f_T(mean ŝ), minus w_f per failure beyond the first o_f and w_e per early stop."""
    total = stats.v_total
    exploit = stats.v_val / total * shape(stats.mean_score, settings.temperature) if stats.v_val else 0.0
    failures = settings.w_f * max(0, stats.v_fail - settings.o_f) / total
    early = settings.w_e * stats.v_early / total
    return exploit - failures - early


def uct(q: float, n_parent: int, n_child: float, c: float) -> float:
    """Eqs. 5-6: Q + C sqrt(ln N(p) / N(c)); for the virtual child ``n_child`` is N_fair = N(p)/(k+1)."""
    return q + c * math.sqrt(math.log(n_parent) / n_child)


def validated(node: NodeRecord) -> bool:
    """A phase that did not fail and has a best validation score (eq. 8's v_val)."""
    return node.status != "failed" and node.score is not None


class Tree:
    """The nodes of one search, in creation order, with what selection and backpropagation need."""

    def __init__(self, settings: SearchSettings, nodes: list[NodeRecord] | None = None) -> None:
        self.settings = settings
        self.nodes: dict[str, NodeRecord] = {}
        for node in nodes or []:
            self.nodes[node.id] = node

    # ----- structure -------------------------------------------------------------------------
    @property
    def root(self) -> NodeRecord | None:
        return next(iter(self.nodes.values()), None)

    def live(self) -> Iterator[NodeRecord]:
        return (n for n in self.nodes.values() if not n.pruned)

    def children(self, node_id: str) -> list[NodeRecord]:
        """The unpruned nodes anchored at ``node_id``, oldest first."""
        return [n for n in self.live() if n.anchor == node_id]

    def subtree(self, node_id: str) -> list[NodeRecord]:
        """``node_id`` and its unpruned anchored descendants."""
        out = [self.nodes[node_id]]
        for node in out:
            out.extend(self.children(node.id))
        return out

    def expansions(self, node_id: str, kind: str) -> int:
        """How many ``kind`` children expanding ``node_id`` created (pruned and re-parented ones count)."""
        return sum(1 for n in self.nodes.values() if n.origin == node_id and n.kind == kind)

    def debug_depth(self, node_id: str) -> int:
        """Consecutive debug phases ending at ``node_id`` (0 for a non-debug node)."""
        depth, node = 0, self.nodes[node_id]
        while node.kind == "debug":
            depth += 1
            node = self.nodes[node.origin]  # type: ignore[index]  # a debug node always has an origin
        return depth

    def chain_start(self, node_id: str) -> NodeRecord:
        """The oldest failed node of the debug chain ending at ``node_id`` (the node itself if not a debug node)."""
        node = self.nodes[node_id]
        while node.kind == "debug":
            node = self.nodes[node.origin]  # type: ignore[index]
        return node

    def fixed(self, node_id: str) -> bool:
        """Whether some debug chain starting at this failed node ended in a phase that did not fail."""
        return any(n.kind == "debug" and n.status != "failed" and self.chain_start(n.id).id == node_id
                   for n in self.nodes.values())

    def exhausted(self, node_id: str) -> bool:
        """Whether ``node_id`` may get no more children of its own (§3.2, App. B.6 limits).

        A failed node only gets debug children (Algorithm 1, line 5): at most ``max_debug``, none
        once the chain is ``max_debug_depth`` deep or once it has been fixed. Any other node gets
        at most ``max_evolve`` evolve children; forced scratch children do not count (§3.3).
        """
        s = self.settings
        if self.nodes[node_id].status == "failed":
            return (self.fixed(node_id) or self.debug_depth(node_id) >= s.max_debug_depth
                    or self.expansions(node_id, "debug") >= s.max_debug)
        return self.expansions(node_id, "evolve") >= s.max_evolve

    def terminal(self, node_id: str) -> bool:
        """§3.2: a node is terminal when it cannot grow and every live child is terminal."""
        return self.exhausted(node_id) and all(self.terminal(c.id) for c in self.children(node_id))

    # ----- statistics ------------------------------------------------------------------------
    def score_range(self) -> tuple[float, float] | None:
        scores = [n.score for n in self.live() if validated(n)]
        return (min(scores), max(scores)) if scores else None  # type: ignore[type-var]

    def normalized(self, score: float) -> float:
        """Eq. 7's ŝ over the tree's validated scores, clipped to [0, 1]; 1 when they are all equal."""
        bounds = self.score_range()
        if bounds is None or bounds[1] == bounds[0]:
            return 1.0
        lo, hi = bounds
        return min(1.0, max(0.0, (score - lo) / (hi - lo)))

    def stats(self, node_id: str) -> NodeStats:
        nodes = self.subtree(node_id)
        scored = [self.normalized(n.score) for n in nodes if validated(n)]  # type: ignore[arg-type]
        return NodeStats(
            v_total=len(nodes), v_val=len(scored),
            v_fail=sum(n.status == "failed" for n in nodes),
            v_early=sum(n.status == "early-stopped" for n in nodes),
            mean_score=sum(scored) / len(scored) if scored else 0.0)

    def prior(self, node_id: str) -> float:
        """D.3's Q_prior = f_T(ŝ_p); a node without a score (failed before validating) gives 0."""
        score = self.nodes[node_id].score
        return 0.0 if score is None else shape(self.normalized(score), self.settings.temperature)

    def child_uct(self, parent_id: str, child_id: str) -> float:
        return uct(q_value(self.stats(child_id), self.settings), self.stats(parent_id).v_total,
                   self.stats(child_id).v_total, self.settings.c)

    def virtual_uct(self, parent_id: str) -> float:
        """Eq. 6 with N_fair = N(p)/(k+1), k the non-terminal children competing at ``parent_id`` (D.3 step 1)."""
        k = sum(not self.terminal(c.id) for c in self.children(parent_id))
        n_parent = self.stats(parent_id).v_total
        return uct(self.prior(parent_id), n_parent, n_parent / (k + 1), self.settings.c)

    # ----- selection -------------------------------------------------------------------------
    def select(self) -> str | None:
        """App. D.3: the node to expand next, or ``None`` when the whole tree is terminal."""
        root = self.root
        if root is None or self.terminal(root.id):
            return None
        node_id = root.id
        while True:
            candidates = [c for c in self.children(node_id) if not self.terminal(c.id)]
            if not candidates:
                return node_id  # non-terminal without live children: it can still grow
            best, best_uct = candidates[0], self.child_uct(node_id, candidates[0].id)
            for child in candidates[1:]:
                value = self.child_uct(node_id, child.id)
                if value > best_uct:
                    best, best_uct = child, value
            if not self.exhausted(node_id) and self.virtual_uct(node_id) > best_uct:
                return node_id
            node_id = best.id

    def needs_scratch(self) -> bool:
        """§3.3: force a fresh start when n_scratch / n_evolve < rho_min (the root counts as a scratch phase)."""
        n_scratch = sum(n.kind in ("root", "scratch") for n in self.nodes.values())
        n_evolve = sum(n.kind == "evolve" for n in self.nodes.values())
        return n_evolve > 0 and n_scratch / n_evolve < self.settings.rho_min

    def best_node(self) -> NodeRecord | None:
        """The live validated node with the highest score (the oldest on ties)."""
        best: NodeRecord | None = None
        for node in self.live():
            if validated(node) and (best is None or node.score > best.score):  # type: ignore[operator]
                best = node
        return best

    def path_to(self, node_id: str) -> list[NodeRecord]:
        """The strategy ``node_id`` stands for: its resume chain from a from-scratch phase down to it (§3.1)."""
        path = [self.nodes[node_id]]
        while path[-1].parent is not None:
            path.append(self.nodes[path[-1].parent])  # type: ignore[index]
        return path[::-1]

    # ----- updates ---------------------------------------------------------------------------
    def add(self, node: NodeRecord) -> None:
        """Record a finished phase; a debug phase that did not fail is re-parented first (§3.2)."""
        if node.id in self.nodes:
            raise StoreError(f"node {node.id!r} is already in the tree")
        self.nodes[node.id] = node
        if node.kind == "debug" and node.status != "failed":
            self._reparent(node)
        for each in self.live():  # a pruned node keeps the flag it had when it was cut off
            each.terminal = self.terminal(each.id)

    def _reparent(self, fix: NodeRecord) -> None:
        """§3.2: the fix becomes a sibling of its chain's oldest failed node; the chain below is pruned.

        When that oldest node is the root (no siblings possible), the fix hangs under the root itself.
        """
        start = self.chain_start(fix.id)
        for node in self.subtree(start.id)[1:]:
            if node.id != fix.id:
                node.pruned = True
        fix.anchor = start.anchor if start.anchor is not None else start.id

    # ----- tree.json -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        best = self.best_node()
        return {"settings": self.settings.to_dict(), "best": best.id if best else None,
                "nodes": [n.to_dict() for n in self.nodes.values()]}

    def save(self, path: Path) -> Path:
        """Write ``tree.json`` atomically (a kill never leaves half a file)."""
        return atomic_write(path, lambda f: json.dump(self.to_dict(), f, indent=1))

    @classmethod
    def load(cls, path: Path) -> Tree:
        try:
            raw = json.loads(Path(path).read_text())
            return cls(SearchSettings.from_dict(raw["settings"]),
                       [NodeRecord.from_dict(n) for n in raw["nodes"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"cannot read the search tree {path}: {exc} (delete it to start over)") from exc
