"""``llmconfig landscape``: the target over each env's space, fidelities side by side (paper 000, Figs. 14-17).

One figure per task, one panel per env given, in the order given, all on one
colour scale so that a moved optimum (landscape shift, Challenge 3) or a moved
grid (space shift, Challenge 2) is visible. The env's best config is marked
with a star. Three kinds of panel, picked from the space alone:

- **grid**: a table with two numeric parameters of several values (Pretrain and
  Micro: learning rate x batch size; Optimizer; any collected sweep) is a
  heatmap over the two; a config with more parameters is aggregated to its
  cell by the *best* value over the other parameters (the landscape an
  optimizer sees when it tunes only these two). Cells never run are blank.
- **embedding**: a table whose configs are mixtures (every config's weights sum
  to 1: Mixture, PileMix) is a scatter of the weight vectors' first two
  principal components, fitted on all the task's panels together so the axes
  are shared, coloured by score.
- **scatter**: an infinite space (Arch) is a scatter of seeded sampled configs,
  model parameters (or the first encoded dimension) against the target.

The colour is a value's gap to its env's best relative to that best, on one
scale from 0 to the 75th percentile of every panel's gaps, so the optimum
region of each fidelity shows on the same scale and diverged runs (Step Law's
losses of 7-11) saturate instead of washing out the rest; the colour bar says so.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gymnasium_llmconfig.config_space import Config, ConfigSpace, format_value
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.problem import Problem
from gymnasium_llmconfig.registry import load_problem, load_registry
from gymnasium_llmconfig.storage import atomic_write

#: A config is a mixture when its numeric values sum to 1 within this.
MIXTURE_TOL = 1e-2
#: Colour scale: from the best (gap 0) to this percentile of every panel's gaps.
CLIP_PERCENTILE = 75.0


@dataclass(frozen=True)
class Panel:
    """One env's landscape: points (or grid cells) with values, and where the env's best config lies."""

    env_id: str
    title: str
    kind: str  # "grid" | "embedding" | "scatter"
    x_label: str
    y_label: str
    x: np.ndarray  # grid: category positions; else coordinates
    y: np.ndarray
    values: np.ndarray
    optimum: Config
    optimum_value: float
    optimum_xy: tuple[float, float]
    x_ticks: tuple[str, ...] = ()
    y_ticks: tuple[str, ...] = ()


def task_panels(env_ids: Sequence[str], *, x: str | None = None, y: str | None = None,
                samples: int = 2000, seed: int = 0) -> list[Panel]:
    """Panels of envs of *one* task (see the module docstring for how each kind is built)."""
    problems = [load_problem(e) for e in env_ids]
    if not problems[0].space.is_finite:
        return [_scatter(p, samples, seed) for p in problems]
    if all(_is_mixture(p.space) for p in problems):
        return _embeddings(problems)
    names = _grid_axes(problems, x, y)
    return [_grid(p, *names) for p in problems]


def write_landscapes(env_ids: Sequence[str], out: Path, *, x: str | None = None, y: str | None = None,
                     samples: int = 2000, seed: int = 0) -> list[Path]:
    """One PNG per task among ``env_ids`` (``landscape_<task>.png`` in ``out``), panels in the order given."""
    if not env_ids:
        raise InvalidArgument("name at least one env id (`llmconfig envs` lists them)")
    registry = load_registry()
    by_task: dict[str, list[str]] = {}
    for env_id in dict.fromkeys(env_ids):
        by_task.setdefault(registry.env(env_id)[0].name, []).append(env_id)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for task, ids in by_task.items():
        panels = task_panels(ids, x=x, y=y, samples=samples, seed=seed)
        problem = load_problem(ids[0])
        png = draw(panels, title=f"{task}: {problem.task.metric_name} ({problem.task.direction})")
        path = out / f"landscape_{_slug(task)}.png"
        atomic_write(path, lambda handle, png=png: handle.write(png), binary=True)
        written.append(path)
    return written


def draw(panels: Sequence[Panel], *, title: str) -> bytes:
    """The panels side by side on one colour scale (better = brighter), optimum starred; PNG bytes.

    The colour is each value's gap to its env's best, relative to the best
    (``|value - best| / |best|``): losses of different model sizes sit at different
    levels, and the gap puts every fidelity's optimum region on one scale.
    """
    gaps = [_gap(p.values, p.optimum_value) for p in panels]
    finite = np.concatenate([g[np.isfinite(g)] for g in gaps])
    vmax = max(float(np.percentile(finite, CLIP_PERCENTILE)), 1e-12)
    vmin, cmap = 0.0, "viridis_r"
    fig = Figure(figsize=(4.2 * len(panels) + 1.2, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, panel, gap in zip(axes, panels, gaps, strict=True):
        if panel.kind == "grid":
            grid = np.full((len(panel.y_ticks), len(panel.x_ticks)), np.nan)
            grid[panel.y.astype(int), panel.x.astype(int)] = gap
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks(range(len(panel.x_ticks)), panel.x_ticks, rotation=60, fontsize=7)
            ax.set_yticks(range(len(panel.y_ticks)), panel.y_ticks, fontsize=7)
        else:
            order = np.argsort(-gap)  # best drawn last, on top
            image = ax.scatter(panel.x[order], panel.y[order], c=gap[order], s=10, cmap=cmap,
                               vmin=vmin, vmax=vmax, linewidths=0)
            if panel.kind == "scatter":
                ax.set_xscale("log")
        ax.plot(*panel.optimum_xy, marker="*", markersize=16, color="red", markeredgecolor="white",
                linestyle="none", label=f"best: {format_value(panel.optimum_value)}")
        ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(panel.x_label)
        ax.set_ylabel(panel.y_label)
    fig.colorbar(image, ax=list(axes), label=f"|value - best| / |best|  (clip {vmax:.3g})")
    fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --- the three kinds -----------------------------------------------------------------------------------------
def _grid_axes(problems: Sequence[Problem], x: str | None, y: str | None) -> tuple[str, str]:
    """The two parameters of the heatmap: the given ones, else the two numeric ones with the most values."""
    numeric = [p.name for p in problems[0].space.parameters if p.is_numeric]
    for problem in problems:
        for name in (x, y):
            if name is not None and name not in problem.space.names:
                raise InvalidArgument(f"{problem.env_id} has no parameter {name!r}; its parameters are "
                                      f"{', '.join(problem.space.names)}")
    counts = {n: len({c[n] for c in problems[0].space.enumerate()}) for n in numeric}
    ranked = [n for n in sorted(numeric, key=lambda n: -counts[n]) if counts[n] > 1 and n not in (x, y)]
    chosen = [x or (ranked.pop(0) if ranked else None), y or (ranked.pop(0) if ranked else None)]
    if None in chosen:
        raise InvalidArgument(f"{problems[0].env_id} has fewer than two numeric parameters with several values; "
                              "a heatmap needs two (name them with --x and --y)")
    return chosen[0], chosen[1]


def _grid(problem: Problem, x: str, y: str) -> Panel:
    configs = problem.space.enumerate()
    utility = problem.task.utility
    xs = sorted({c[x] for c in configs})
    ys = sorted({c[y] for c in configs})
    cells: dict[tuple[int, int], float] = {}
    for config in configs:
        cell = (xs.index(config[x]), ys.index(config[y]))
        value = problem.evaluate(config).metric
        if cell not in cells or utility(value) > utility(cells[cell]):
            cells[cell] = value
    best = problem.best_config
    return Panel(problem.env_id, _title(problem), "grid", x, y,
                 np.array([c[0] for c in cells], dtype=float), np.array([c[1] for c in cells], dtype=float),
                 np.array(list(cells.values())), best, problem.best_value,
                 (float(xs.index(best[x])), float(ys.index(best[y]))),
                 tuple(format_value(v) for v in xs), tuple(format_value(v) for v in ys))


def _embeddings(problems: Sequence[Problem]) -> list[Panel]:
    names = list(dict.fromkeys(n for p in problems for n in p.space.names))
    weights = [np.array([[c.get(n, 0.0) for n in names] for c in p.space.enumerate()], dtype=float)
               for p in problems]
    stacked = np.vstack(weights)
    mean = stacked.mean(axis=0)
    _, _, components = np.linalg.svd(stacked - mean, full_matrices=False)
    axes = components[:2].T
    panels = []
    for problem, w in zip(problems, weights, strict=True):
        points = (w - mean) @ axes
        best = problem.best_config
        best_xy = (np.array([best.get(n, 0.0) for n in names], dtype=float) - mean) @ axes
        values = np.array([problem.evaluate(c).metric for c in problem.space.enumerate()])
        panels.append(Panel(problem.env_id, _title(problem), "embedding", "mixture PC 1", "mixture PC 2",
                            points[:, 0], points[:, 1], values, best, problem.best_value,
                            (float(best_xy[0]), float(best_xy[1]))))
    return panels


def _scatter(problem: Problem, samples: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    configs = [problem.space.sample(rng) for _ in range(samples)]
    outcomes = [problem.evaluate(c) for c in configs]
    best = problem.best_config
    best_outcome = problem.evaluate(best)
    if "params" in best_outcome.details:
        x, label = np.array([o.details["params"] for o in outcomes], dtype=float), "model parameters"
        best_x = float(best_outcome.details["params"])
    else:
        x, label = np.array([problem.space.encode(c)[0] for c in configs]), problem.space.names[0]
        best_x = float(problem.space.encode(best)[0])
    values = np.array([o.metric for o in outcomes])
    return Panel(problem.env_id, _title(problem), "scatter", label, problem.task.metric_name, x, values, values,
                 best, problem.best_value, (best_x, problem.best_value))


# --- helpers -------------------------------------------------------------------------------------------------
def _gap(values: np.ndarray, best: float) -> np.ndarray:
    """``|value - best| / |best|`` (the absolute gap where the best is 0)."""
    return np.abs(values - best) / (abs(best) or 1.0)


def _is_mixture(space: ConfigSpace) -> bool:
    if len(space.parameters) < 3 or not all(p.is_numeric for p in space.parameters):
        return False
    sums = np.array([math.fsum(float(v) for v in c.values()) for c in space.enumerate()])
    return bool(np.all(np.abs(sums - 1.0) < MIXTURE_TOL))


def _title(problem: Problem) -> str:
    size = f"{len(problem.space)} runs" if problem.space.is_finite else "sampled"
    return f"{problem.env_id.removeprefix('LLMConfig-').removesuffix('-v0')} ({problem.fidelity.role}, {size})"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "task"

