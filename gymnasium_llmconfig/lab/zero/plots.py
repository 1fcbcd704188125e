"""LLMZero's figures as PNG bytes: the search tree, the best path's schedule (paper 003 Fig. 3), and
best-so-far curves with confidence bands (Fig. 2, Fig. 5).

Drawn on their own Agg canvas (no pyplot: no global state, no display), like the leaderboard's plots.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gymnasium_llmconfig.lab.zero.types import NodeRecord

STATUS_COLORS = {"completed": "#2ca02c", "early-stopped": "#ff7f0e", "failed": "#d62728"}
#: Where every from-scratch phase hangs in the drawing: the base policy they all start from.
BASE = "base"

Band = tuple[float, float, float, float]  # x, mean, low, high (low/high NaN: no interval)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def holder(node: NodeRecord) -> str:
    """Where a node hangs in the drawing: its search-tree anchor (§3.2: a scratch phase under the node it was
    injected at, a re-parented fix beside its failed chain), else the phase it resumed from, else the base."""
    return node.anchor or node.parent or BASE


def tree_layout(nodes: Sequence[NodeRecord]) -> dict[str, tuple[float, int]]:
    """(x, depth) per node id and for :data:`BASE`: leaves side by side in run order, each node centred
    over its children, depth counted from the base policy."""
    children: dict[str, list[str]] = {BASE: []}
    for node in nodes:
        children.setdefault(node.id, [])
        children.setdefault(holder(node), []).append(node.id)
    pos: dict[str, tuple[float, int]] = {}
    next_leaf = [0.0]

    def place(node_id: str, depth: int) -> float:
        kids = children.get(node_id, [])
        if kids:
            x = sum(place(k, depth + 1) for k in kids) / len(kids)
        else:
            x, next_leaf[0] = next_leaf[0], next_leaf[0] + 1
        pos[node_id] = (x, depth)
        return x

    place(BASE, 0)
    return pos


def tree_png(nodes: Sequence[NodeRecord], best_path: Sequence[str]) -> bytes:
    """Nodes by depth, coloured by status, labelled with id and score; the best path's edges drawn bold.

    An edge is solid where the child resumed from the node above it and dashed where it did not (a fresh
    start, or a fix hung beside its chain); pruned debug chains are drawn faint."""
    pos = tree_layout(nodes)
    width = max(6.0, 0.9 * (max((x for x, _ in pos.values()), default=0) + 2))
    depth = max((d for _, d in pos.values()), default=0)
    fig = Figure(figsize=(min(width, 30), 1.2 + 1.1 * depth), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    on_path = set(pairwise([BASE, *best_path]))
    for node in nodes:
        above = holder(node)
        (x0, y0), (x1, y1) = pos[above], pos[node.id]
        bold = (node.parent or BASE, node.id) in on_path
        resumed = node.parent == above or (node.parent is None and node.kind == "root")
        ax.plot([x0, x1], [-y0, -y1], color="#222" if bold else "#aaa", linewidth=2.5 if bold else 1, zorder=1,
                linestyle="-" if resumed else "--", alpha=0.3 if node.pruned else 1)
    ax.scatter([pos[BASE][0]], [0], s=260, color="#ddd", edgecolor="#555", zorder=2)
    ax.annotate("base", (pos[BASE][0], 0), ha="center", va="center", fontsize=7)
    for node in nodes:
        x, y = pos[node.id]
        ax.scatter([x], [-y], s=420, color=STATUS_COLORS.get(node.status, "#999"), edgecolor="#222",
                   linewidth=2 if node.id in best_path else 0.5, zorder=2, alpha=0.3 if node.pruned else 1)
        score = "-" if node.score is None else f"{node.score:.3f}"
        ax.annotate(f"{node.id}\n{score}", (x, -y), ha="center", va="center", fontsize=6, zorder=3)
    for status, color in STATUS_COLORS.items():
        ax.scatter([], [], color=color, label=status)
    fig.legend(loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    ax.set_yticks([-d for d in range(depth + 1)], [str(d) for d in range(depth + 1)])
    ax.set_ylabel("depth")
    ax.set_xticks([])
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.set_title("Search tree (label: node, best validation; dashed: not resumed from the node above)")
    return _png(fig)


def schedule_png(phases: Sequence[dict[str, Any]], params: Sequence[str]) -> bytes:
    """Validation and test against global step along the best path, with each changing parameter as a step
    plot under it. ``phases``: dicts with ``start``, ``end``, ``validations`` and ``tests`` (lists of
    (step, value)) and ``config``."""
    fig = Figure(figsize=(8, 3.2 + 1.3 * len(params)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1 + len(params), 1, sharex=True, squeeze=False)[:, 0]
    top = axes[0]
    for i, phase in enumerate(phases):
        for key, style, label in (("validations", "-o", "validation"), ("tests", "--s", "test")):
            points = phase[key]
            if points:
                top.plot([s for s, _ in points], [v for _, v in points], style, markersize=3,
                         color="#2ca02c" if key == "validations" else "#1f77b4", label=label if i == 0 else None)
        for ax in axes:
            ax.axvline(phase["start"], color="#bbb", linestyle=":", linewidth=1)
        top.annotate(f"P{i + 1}", (phase["start"], 1.0), xycoords=("data", "axes fraction"), fontsize=7, va="top")
    top.set_ylabel("score")
    top.legend(fontsize=7, frameon=False)
    top.set_title("Best path: validation (green) and test (blue dashed) across phases")
    for ax, name in zip(axes[1:], params, strict=True):
        xs = [p["start"] for p in phases] + [phases[-1]["end"]]
        ys = [float(p["config"][name]) for p in phases]
        ax.stairs(ys, xs, color="#444", linewidth=1.5, baseline=None)
        ax.set_ylabel(name, fontsize=8)
        if name in ("lr", "kl_coef") and min(ys) > 0:
            ax.set_yscale("log")
    axes[-1].set_xlabel("global step")
    return _png(fig)


def bands_png(series: Mapping[str, Sequence[Band]], *, title: str, xlabel: str, ylabel: str,
              step: bool = True) -> bytes:
    """Mean per method with its confidence band shaded (bands left out where an interval is undefined)."""
    fig = Figure(figsize=(6.8, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for i, (method, points) in enumerate(series.items()):
        points = [p for p in points if math.isfinite(p[1])]
        if not points:
            continue
        xs, means = [p[0] for p in points], [p[1] for p in points]
        color = cmap(i % cmap.N)
        draw = "steps-post" if step else "default"
        ax.plot(xs, means, color=color, label=method, linewidth=1.8, drawstyle=draw)
        band = [p for p in points if math.isfinite(p[2]) and math.isfinite(p[3])]
        if band:
            ax.fill_between([p[0] for p in band], [p[2] for p in band], [p[3] for p in band], color=color,
                            alpha=0.15, step="post" if step else None, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)
