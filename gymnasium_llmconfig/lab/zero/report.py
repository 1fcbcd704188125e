"""A search's report: ``report.md`` and a self-contained ``report.html`` from ``tree.json`` and the node traces.

What a reader of paper 003 looks for in one search: every node (§3.2's tree, with how each was made
and ended), the best strategy as a phase-by-phase schedule (Fig. 3: config, validation and test per
phase), the tree drawn, the schedule plotted, and the §4.2-4.3 statistics of :mod:`analysis`.
Test scores are shown at the best-validation step only, as the paper reports them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.lab.zero import analysis
from gymnasium_llmconfig.lab.zero.doc import Doc
from gymnasium_llmconfig.lab.zero.plots import bands_png, schedule_png, tree_png
from gymnasium_llmconfig.lab.zero.space import CAPACITY, REGULARIZATION
from gymnasium_llmconfig.lab.zero.types import NodeRecord
from gymnasium_llmconfig.storage import read_jsonl


def fmt(value: Any) -> str:
    """A cell: ``-`` for nothing, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pct(share: float) -> str:
    """A share as a whole percentage (``-`` when undefined, e.g. no transitions)."""
    return "-" if math.isnan(share) else f"{100 * share:.0f}%"


def _changes(node: NodeRecord) -> str:
    return "; ".join(f"{k} {fmt(old)}→{fmt(new)}" for k, (old, new) in node.changes.items())


def _phases(search_dir: Path, path: Sequence[NodeRecord]) -> list[dict[str, Any]]:
    """Each phase of the path as the trajectory really ran it: from its resume step to the step the next
    phase resumed from (the last phase: to where it stopped), with its validations and test scores there."""
    phases = []
    for i, node in enumerate(path):
        start = node.resume_step
        end = path[i + 1].resume_step if i + 1 < len(path) else start + analysis.steps_run(node)
        rows = read_jsonl(search_dir / node.trace) if node.trace else []
        tests = [(int(r["step"]), float(r["test"])) for r in rows if r.get("test") is not None and "step" in r]
        if not tests and node.best_step is not None and node.test_score is not None:
            tests = [(node.best_step, node.test_score)]
        phases.append({
            "node": node, "start": start, "end": max(end, start),
            "validations": [(int(s), float(v)) for s, v in node.validations if start <= s <= end],
            "tests": [(s, v) for s, v in tests if start <= s <= end],
            "config": node.config,
        })
    return phases


def write_run_report(search_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``tree.png``, ``schedule.png``) and ``report.html`` into ``search_dir``."""
    search_dir = Path(search_dir)
    nodes = analysis.load_nodes(search_dir)
    doc = Doc(f"LLMZero search: {search_dir.name}")
    best = analysis.best_node(nodes)
    path = analysis.best_path(nodes)
    stops = analysis.early_stop_stats(nodes)
    curve = analysis.best_so_far(nodes)
    doc.table(["summary", ""], [
        ["nodes", str(len(nodes))],
        ["best node (validation)", "-" if best is None else f"{best.id}: {fmt(best.score)} at step {best.best_step}"],
        ["test at the best-validation step", "-" if best is None else fmt(best.test_score)],
        ["compute", f"{fmt(curve[-1].cpu_seconds) if curve else 0} CPU s, {curve[-1].tokens if curve else 0} tokens"],
        ["early-stopped", f"{stops.stopped} of {stops.nodes} ({pct(stops.rate)})"],
        ["compute saved by early stopping (est.)", f"{fmt(stops.saved_cpu_seconds)} CPU s "
                                                   f"({pct(stops.saved_share)} of the unstopped total)"],
    ])
    doc.note("Test scores are read at each phase's best-validation step and never used to choose anything "
             "(paper 003 §4.2). Saved compute prices each stopped phase's unrun steps at its own CPU s per step.")

    doc.heading("Best path as a schedule")
    if path:
        stats = analysis.path_stats(path)
        keys = list(path[0].config)
        rows = []
        for i, node in enumerate(path):
            moved = set(analysis.changed(path[i - 1].config, node.config)) if i else set()
            rows.append([f"P{i + 1}", node.id, str(node.resume_step), str(analysis.steps_run(node)), fmt(node.score),
                         fmt(node.test_score), *(fmt(node.config[k]) + ("*" if k in moved else "") for k in keys)])
        doc.table(["phase", "node", "resume", "steps", "val", "test", *keys], rows)
        doc.note("*: changed at this transition.")
        doc.table(["parameter", "class", "direction reversals"],
                  [[k, "capacity" if k in CAPACITY else "regularization" if k in REGULARIZATION
                    else "other", str(stats.reversals[k])] for k in keys])
        doc.note(f"{stats.transitions} transitions; parameters changed per transition: "
                 f"{stats.changes_per_transition or '-'} (mean {fmt(stats.mean_changes)}); transitions that improved "
                 f"validation: {stats.improving} ({pct(stats.improving_share)}). Reversals: capacity "
                 f"{stats.group_reversals(CAPACITY)}, regularization "
                 f"{stats.group_reversals(REGULARIZATION)} (paper 003 §4.3.2).")
        phases = _phases(search_dir, path)
        moving = [k for k in keys if len({str(p["config"][k]) for p in phases}) > 1]
        doc.figure("schedule.png", schedule_png(phases, moving),
                   "Best path: validation and test vs global step, changing hyperparameters under it")
    else:
        doc.note("No node has a validation score yet.")

    doc.heading("Tree")
    if nodes:
        doc.figure("tree.png", tree_png(nodes, [n.id for n in path]), "The search tree")
    doc.heading("Nodes")
    doc.table(["id", "parent", "kind", "iteration", "resume step", "status", "score", "test at best val",
               "steps", "CPU s", "changes", "note"],
              [[n.id, n.parent or "-", n.kind, str(n.iteration), str(n.resume_step), n.status, fmt(n.score),
                fmt(n.test_score), f"{analysis.steps_run(n)}/{n.steps}", fmt(n.cpu_seconds), _changes(n) or "-",
                (n.failure or n.stop_reason or "")[:120]] for n in nodes])
    return doc.write(search_dir)


def interval(cell: dict[str, Any] | None, percent: bool = False) -> str:
    """``mean [low, high]`` from an interval's dict; the mean alone for one seed, ``-`` for none."""
    if not cell or cell.get("mean") is None:
        return "-"
    show = (lambda v: f"{100 * v:.0f}%") if percent else fmt
    if cell.get("low") is None:
        return show(cell["mean"])
    return f"{show(cell['mean'])} [{show(cell['low'])}, {show(cell['high'])}]"


def write_compare_report(out: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """``OUT/report.md`` (+ PNGs) and ``OUT/report.html`` from :func:`compare.summarize`'s summary."""
    methods, table = summary["methods"], summary["table"]
    vs = {m: d for m, d in summary.get("vs_grid", {}).items() if m != summary["reference"]}
    doc = Doc("LLMZero vs static baselines and ablations")
    doc.note(f"{len(methods)} methods x {len(summary['seeds'])} seeds, {summary['iterations']} iterations each. "
             f"Cells: mean [95% Student-t interval over seeds]; Δ: difference to {summary['reference']} search, "
             "paired by seed, with its own interval. Test scores are read at the best-validation node "
             "(paper 003 §4.2), never selected on. Equal compute: every method's best-so-far read at the "
             "smallest total CPU-seconds among the methods with an iteration budget, per seed "
             f"({', '.join(f'seed {s}: {fmt(b)} s' for s, b in summary['equal_compute_budget'].items())}).")
    doc.table(["method", "what"], [[m, summary["methods_info"][m]["what"]] for m in methods])
    doc.heading("At equal iterations and at equal compute")
    doc.table(["method", "seeds", "best val", "test at best val", "Δ test", "val (eq. compute)",
               "test (eq. compute)", "Δ test (eq. compute)", "CPU s", "tokens"],
              [[m, str(table[m]["best_val"]["n"]), interval(table[m]["best_val"]), interval(table[m]["test_at_best"]),
                interval(vs.get(m, {}).get("test_at_best")), interval(table[m]["eq_compute_val"]),
                interval(table[m]["eq_compute_test"]), interval(vs.get(m, {}).get("eq_compute_test")),
                interval(table[m]["cpu_seconds"]), interval(table[m]["tokens"])] for m in methods])
    doc.heading("Search behaviour (paper 003 §4.2, §4.3.2)")
    doc.table(["method", "nodes", "early-stopped", "CPU saved by stopping", "capacity reversals",
               "regularization reversals", "params changed / transition", "improving transitions"],
              [[m, interval(table[m]["nodes"]), interval(table[m]["early_stop_rate"], True),
                interval(table[m]["saved_cpu_share"], True), interval(table[m]["capacity_reversals"]),
                interval(table[m]["regularization_reversals"]), interval(table[m]["changes_per_transition"]),
                interval(table[m]["improving_share"], True)] for m in methods])
    doc.note("Reversals, changes and improving transitions are counted along each run's best path (scratch "
             "phase to best-validation node); static runs have one-phase paths, so none.")
    doc.heading("Best so far")
    curves = summary["curves"]
    for axis, xlabel in (("iteration", "iteration"), ("cpu_seconds", "cumulative CPU-seconds")):
        for key, label in (("best_val", "best validation so far"), ("test_at_best", "test at best validation")):
            name = f"{key}_vs_{axis}.png"
            png = bands_png({m: curves[axis][m][key] for m in methods}, title=f"{label} vs {xlabel}",
                            xlabel=xlabel, ylabel=label)
            doc.figure(name, png, f"{label} vs {xlabel} (mean over seeds, 95% t band)")
    doc.heading("Per run")
    doc.table(["method", "seed", "nodes", "best val", "test at best val", "CPU s", "best path"],
              [[m, s, str(r["nodes"]), fmt(r["best_val"]), fmt(r["test_at_best"]), fmt(r["cpu_seconds"]),
                " → ".join(r["path"])] for m in methods for s, r in summary["runs"][m].items()])
    return doc.write(Path(out))
