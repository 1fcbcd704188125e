"""A PNG of a phase's metric curves, for proposers whose endpoint accepts images (paper 003 §3.4:
the proposer also reasons over per-metric plots). matplotlib's Agg canvas, no display, no pyplot state."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from gymnasium_llmconfig.lab.zero.summaries import METRICS, series


def metric_curves_png(trace: Sequence[dict[str, Any]], validations: Sequence[tuple[int, float]]) -> bytes:
    """One small panel per logged metric plus one for the validation score, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(name, *series(trace, name)) for name in METRICS]
    panels = [p for p in panels if p[2]]
    if validations:
        panels.append(("validation score", [float(s) for s, _ in validations], [float(v) for _, v in validations]))
    cols = 3
    rows = max(1, -(-len(panels) // cols))
    fig = Figure(figsize=(3.2 * cols, 2.2 * rows), dpi=80)
    FigureCanvasAgg(fig)
    for i, (name, xs, ys) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(xs, ys, marker="o" if name == "validation score" else None, linewidth=1.2)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("step", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
