"""``llmconfig zero compare``: LLMZero against static baselines and its ablations over seeds (paper 003 §4).

One job per (method, seed), each in ``OUT/<method>/seed<k>/`` with its own ``tree.json`` and node
traces, fanned out through the project's executor (Ray, or in process for ``workers=0``). A job
that finished has a ``done.json`` and is skipped on a rerun; an unfinished one resumes from its
``tree.json`` (the search and the static baselines both resume). The SFT-warmed base policy is built
once in the driver, into the cache every job reads (``LiveSettings.cache_dir``), so every method
starts from the same weights. Then :func:`summarize` writes ``OUT/summary.json`` and the report.

The paper ran one seed per task; here every number comes with a 95 % Student-t interval over seeds,
and each method's difference to grid search is paired by seed (same seed: same base policy draw and
same task samples).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import InvalidArgument, LLMConfigError
from gymnasium_llmconfig.lab.executor import make_executor
from gymnasium_llmconfig.lab.zero import analysis
from gymnasium_llmconfig.lab.zero.baselines import STATIC, check_methods, describe, run_static, search_settings
from gymnasium_llmconfig.lab.zero.types import PhaseRunner
from gymnasium_llmconfig.storage import atomic_write, jsonable

DONE = "done.json"
#: The settings a comparison was started with; a rerun must match them to resume.
COMPARE_FILE = "compare.json"
#: Metrics of one finished job, aggregated over seeds (names as in ``summary.json``).
METRICS = ("best_val", "test_at_best", "eq_compute_val", "eq_compute_test", "cpu_seconds", "tokens", "nodes",
           "early_stop_rate", "saved_cpu_share", "capacity_reversals", "regularization_reversals",
           "changes_per_transition", "improving_share")
#: Points of the best-so-far vs CPU-seconds curves.
CPU_GRID = 40


def check_seeds(seeds: int) -> list[int]:
    if seeds < 1:
        raise InvalidArgument(f"--seeds must be at least 1 (got {seeds}): the number of seeds per method, 0..N-1")
    return list(range(seeds))


def check_fanout(workers: int | None, address: str | None) -> None:
    if workers is not None and address:
        raise InvalidArgument("give --workers (local Ray workers) or --address (an existing Ray cluster), not both")
    if workers is not None and workers < 0:
        raise InvalidArgument(f"--workers must be >= 0 (0: run the jobs one by one in this process), got {workers}")


@dataclass(frozen=True)
class Job:
    """One (method, seed) run, everything a worker needs as plain data (it may run on another machine).

    ``make_runner(live, out_dir)`` builds the phase runner in the worker; a module-level function, so
    Ray ships it by reference.
    """

    method: str
    seed: int
    out_dir: str
    live: dict[str, Any]
    search: dict[str, Any]
    full_steps: int
    proposer: str = "heuristic"
    proposer_args: dict[str, str] = field(default_factory=dict)
    stopper: str = "extrapolation"
    stopper_args: dict[str, str] = field(default_factory=dict)
    make_runner: Callable[[dict[str, Any], Path], PhaseRunner] | None = None

    @property
    def done(self) -> bool:
        return (Path(self.out_dir) / DONE).is_file()


def prepare_base(live: dict[str, Any]) -> None:
    """Build the SFT-warmed base once, in the driver, into ``live["cache_dir"]`` where every job finds it."""
    from gymnasium_llmconfig.lab.grpo.base import build_base
    from gymnasium_llmconfig.lab.zero.live import LiveSettings

    build_base(LiveSettings.from_dict(live).base_spec(), Path(live["cache_dir"]))


def live_runner(live: dict[str, Any], out_dir: Path) -> PhaseRunner:
    """The real thing: a :class:`LivePhaseRunner` over the GRPO trainer."""
    from gymnasium_llmconfig.lab.zero.live import LivePhaseRunner, LiveSettings

    return LivePhaseRunner(LiveSettings.from_dict(live), out_dir)


def run_job(job: Job) -> dict[str, Any]:
    """Run (or resume) one job to the end and mark it done; returns its method, seed and node count."""
    from gymnasium_llmconfig.lab.zero.settings import SearchSettings

    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runner = (job.make_runner or live_runner)(job.live, out)
    settings = SearchSettings.from_dict(job.search)
    if job.method in STATIC:
        tree = run_static(job.method, out, runner, settings, steps=job.full_steps)
    else:
        from gymnasium_llmconfig.lab.zero.factory import make_proposer, make_stopper
        from gymnasium_llmconfig.lab.zero.search import run_search

        settings = search_settings(job.method, settings)
        stopper = make_stopper(job.stopper, job.stopper_args) if settings.early_stop else None
        tree = run_search(out, runner, make_proposer(job.proposer, job.proposer_args), stopper, settings)
    from gymnasium_llmconfig.lab.zero.report import write_run_report

    write_run_report(out)  # each job's own tree, drawn
    info = {"method": job.method, "seed": job.seed, "nodes": len(tree.nodes)}
    atomic_write(out / DONE, lambda handle: json.dump(info, handle))
    return info


def plan(out: Path, methods: Sequence[str], seeds: Sequence[int], live: dict[str, Any], search: dict[str, Any],
         full_steps: int, **job_options: Any) -> list[Job]:
    """Every (method, seed) job; each seed sets both the training seed and the search's (or the draws')."""
    return [Job(method, seed, str(out / method / f"seed{seed}"), {**live, "seed": seed}, {**search, "seed": seed},
                full_steps, **job_options)
            for method in methods for seed in seeds]


class JobsFailed(LLMConfigError, RuntimeError):
    """Some jobs' workers died; the others finished and are summarized. A rerun resumes the failed ones."""


def run_jobs(jobs: Sequence[Job], workers: int | None, address: str | None,
             on_done: Callable[[Job, dict[str, Any]], None] | None = None) -> list[str]:
    """Run the jobs not done yet, one task each, and call ``on_done`` as each finishes.

    Returns one line per job whose worker died (out of memory, killed): it is not marked done, so the
    next run resumes it from its ``tree.json``. Ctrl-C cancels the jobs in flight.
    """
    todo = [job for job in jobs if not job.done]
    failed: list[str] = []
    if not todo:
        return failed
    with make_executor(workers, address) as executor:
        pending = {executor.submit(run_job, job): job for job in todo}
        try:
            for handle in executor.as_completed(pending):
                job = pending.pop(handle)
                try:
                    info = executor.result(handle)
                except executor.task_errors as exc:
                    failed.append(f"{job.method} seed {job.seed}: {type(exc).__name__}: {str(exc)[:300]}")
                    continue
                if on_done:
                    on_done(job, info)
        except KeyboardInterrupt:
            executor.cancel(pending)
            raise
    return failed


# --- summary ------------------------------------------------------------------------------------


def tree_stats(nodes: Sequence[analysis.NodeRecord], iterations: int, budget: float) -> dict[str, Any]:
    """One job's numbers: incumbent at the iteration budget and at ``budget`` CPU-seconds, compute, early
    stopping, and the best path's §4.3.2 statistics."""
    from gymnasium_llmconfig.lab.zero.space import CAPACITY, REGULARIZATION

    curve = analysis.best_so_far(nodes)
    final = analysis.at_iteration(curve, iterations - 1)
    equal = analysis.at_compute(curve, budget)
    stops = analysis.early_stop_stats(nodes)
    path = analysis.path_stats(analysis.best_path(nodes))
    return {
        "best_val": final and final.best_val, "test_at_best": final and final.test_at_best,
        "eq_compute_val": equal and equal.best_val, "eq_compute_test": equal and equal.test_at_best,
        "eq_compute_budget": budget,
        "cpu_seconds": curve[-1].cpu_seconds if curve else 0.0, "tokens": curve[-1].tokens if curve else 0,
        "nodes": len(nodes), "early_stop_rate": stops.rate, "saved_cpu_share": stops.saved_share,
        "capacity_reversals": path.group_reversals(CAPACITY) if path.phases else None,
        "regularization_reversals": path.group_reversals(REGULARIZATION) if path.phases else None,
        "changes_per_transition": path.mean_changes, "improving_share": path.improving_share,
        "path": [n.id for n in analysis.best_path(nodes)],
    }


def _finite(value: Any) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def equal_compute_budget(totals: dict[str, float]) -> float:
    """The CPU-seconds every method is read at: the smallest total among the methods with an iteration budget.

    The practitioner's single run is left out of the minimum (it spends one run by design; taking its
    total would read every other method after its first trial only), unless it is all there is.
    """
    budgeted = {m: t for m, t in totals.items() if m != "practitioner"} or totals
    return min(budgeted.values())


def summarize(out: Path, methods: Sequence[str], seeds: Sequence[int], iterations: int,
              settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """``OUT/summary.json`` over the finished jobs: per-job statistics, intervals per method, paired differences
    to grid, and the best-so-far curves (vs iteration, vs CPU-seconds) with their bands."""
    trees = {(m, s): analysis.load_nodes(out / m / f"seed{s}") for m in methods for s in seeds
             if (out / m / f"seed{s}" / DONE).is_file()}
    curves = {key: curve for key, nodes in trees.items() if (curve := analysis.best_so_far(nodes))}
    budgets = {s: equal_compute_budget({m: curves[m, s][-1].cpu_seconds for m in methods if (m, s) in curves})
               for s in seeds if any((m, s) in curves for m in methods)}
    runs = {m: {str(s): tree_stats(trees[m, s], iterations, budgets[s]) for s in seeds if (m, s) in curves}
            for m in methods}
    table = {m: {k: analysis.t_interval(_finite(r[k]) for r in runs[m].values()).to_dict() for k in METRICS}
             for m in methods}
    vs_grid = {}
    if analysis.REFERENCE in methods:
        ref = runs[analysis.REFERENCE]
        for m in methods:
            vs_grid[m] = {k: analysis.paired_difference({int(s): _finite(r[k]) for s, r in runs[m].items()},
                                                        {int(s): _finite(r[k]) for s, r in ref.items()}).to_dict()
                          for k in ("best_val", "test_at_best", "eq_compute_val", "eq_compute_test")}
    top = max((c[-1].cpu_seconds for c in curves.values()), default=0.0)
    grid = [top * i / (CPU_GRID - 1) for i in range(CPU_GRID)]
    by_iteration, by_cpu = {}, {}
    for m in methods:
        mine = [curves[m, s] for s in seeds if (m, s) in curves]
        by_iteration[m] = {key: _bands(mine, range(iterations), analysis.at_iteration, key)
                           for key in ("best_val", "test_at_best")}
        spent = min((c[-1].cpu_seconds for c in mine), default=0.0)  # a curve ends where its run ended
        by_cpu[m] = {key: _bands(mine, [x for x in grid if x < spent] + [spent], analysis.at_compute, key)
                     for key in ("best_val", "test_at_best")}
    summary = {
        "methods": list(methods), "seeds": list(seeds), "iterations": iterations, "reference": analysis.REFERENCE,
        "settings": settings or {}, "interval": "95% Student-t over seeds; differences paired by seed",
        "equal_compute_budget": {str(s): b for s, b in budgets.items()},
        "methods_info": {m: describe(m) for m in methods},
        "runs": runs, "table": table, "vs_grid": vs_grid,
        "curves": {"iteration": by_iteration, "cpu_seconds": by_cpu},
    }
    atomic_write(out / "summary.json", lambda handle: json.dump(jsonable(summary), handle, indent=1))
    return summary


def _bands(curves: Sequence[list[analysis.CurvePoint]], xs: Sequence[float],
           read: Callable[[list[analysis.CurvePoint], Any], analysis.CurvePoint | None], key: str) -> list[list[Any]]:
    """``[x, mean, low, high]`` at each x where every seed's curve has a value (a mean over fewer would jump)."""
    rows = []
    for x in xs:
        points = [read(c, x) for c in curves]
        values = [getattr(p, key) if p else None for p in points]
        if curves and all(v is not None for v in values):
            iv = analysis.t_interval(values)
            rows.append([x, iv.mean, iv.low, iv.high])
    return rows


def check_resumable(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to continue ``out`` under other settings than it was started with (methods and seeds may grow)."""
    path = out / COMPARE_FILE
    if path.is_file():
        was = json.loads(path.read_text())
        differ = [k for k in identity if was.get(k) != identity[k]]
        if differ:
            shown = "; ".join(f"{k}: was {was.get(k)}, now {identity[k]}" for k in differ)
            raise InvalidArgument(f"{out} holds a comparison started with other settings ({shown}): rerun with "
                                  "those to resume it, or pass a new --out")


def compare(out: Path, methods: Sequence[str], seeds: int, live: dict[str, Any], search: dict[str, Any],
            full_steps: int, *, workers: int | None = None, address: str | None = None,
            prepare: Callable[[dict[str, Any]], None] | None = None,
            on_done: Callable[[Job, dict[str, Any]], None] | None = None,
            on_plan: Callable[[list[Job]], None] | None = None, **job_options: Any) -> dict[str, Any]:
    """Check every argument, build the base once (``prepare(live)``), run the jobs, summarize, write the report."""
    from gymnasium_llmconfig.lab.zero.report import write_compare_report

    names = check_methods(list(methods))
    seed_list = check_seeds(seeds)
    check_fanout(workers, address)
    out = Path(out)
    identity = {"live": live, "search": search, "full_steps": full_steps,
                **{k: v for k, v in job_options.items() if k in ("proposer", "stopper")}}
    check_resumable(out, identity)
    jobs = plan(out, names, seed_list, live, search, full_steps, **job_options)
    atomic_write(out / COMPARE_FILE, lambda handle: json.dump(jsonable(identity), handle, indent=1))
    if on_plan:
        on_plan(jobs)
    if prepare and any(not job.done for job in jobs):
        prepare(live)
    failed = run_jobs(jobs, workers, address, on_done)
    summary = summarize(out, names, seed_list, int(search["iterations"]), identity)
    write_compare_report(out, summary)
    if failed:
        raise JobsFailed(f"{len(failed)} job(s) did not finish (the summary covers the others): "
                         + "; ".join(failed) + ". Rerun the same command to resume them.")
    return summary

