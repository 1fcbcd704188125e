"""Leaderboard figures: normalized regret against budget, one line per agent (the paper's Fig. 5 style).

Figures are drawn on their own Agg canvas (no pyplot, so no global figure state
and no display needed) and returned as PNG bytes: the report writes them
atomically and embeds the same bytes in its HTML.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Point = tuple[int, float, float]  # budget, mean, std over seeds (NaN for one seed)

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


class Style(NamedTuple):
    """How one agent is drawn."""

    color: tuple[float, ...]
    marker: str


def agent_styles(agents: Sequence[str]) -> dict[str, Style]:
    """One color and marker per agent, by sorted name, so an agent looks the same in every figure of a report."""
    names = sorted(set(agents))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: Style(tuple(cmap(i % cmap.N)), _MARKERS[i % len(_MARKERS)]) for i, name in enumerate(names)}


def regret_vs_budget_png(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    styles: Mapping[str, Style],
    ylabel: str = "normalized regret (lower is better)",
) -> bytes:
    """Mean line per agent with the seed spread (mean ± std) shaded; legend order follows ``series``."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    budgets: set[int] = set()
    for agent, points in series.items():
        points = sorted(p for p in points if math.isfinite(p[1]))
        if not points:
            continue
        xs = [p[0] for p in points]
        means = [p[1] for p in points]
        spread = [p[2] if math.isfinite(p[2]) else 0.0 for p in points]
        budgets.update(xs)
        color, marker = styles[agent]
        ax.plot(xs, means, marker=marker, color=color, label=agent, linewidth=1.8, markersize=5)
        if any(spread):
            lower = [max(0.0, m - s) for m, s in zip(means, spread, strict=True)]
            upper = [min(1.0, m + s) for m, s in zip(means, spread, strict=True)]
            ax.fill_between(xs, lower, upper, color=color, alpha=0.15, linewidth=0)
    if budgets:
        ax.set_xticks(sorted(budgets))
        ax.legend(fontsize=8, loc="best", frameon=False)
    else:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("budget T (evaluated configs)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
