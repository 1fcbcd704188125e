"""``llmconfig cost RESULTS_DIR``: the amortized cost of learning from cheap runs (paper 000 §5.1.4, Appendix D).

Per task of a leaderboard run, for each learning agent L (one with ``fit``)
against each from-scratch agent b, in Appendix D's notation:

- the target is L's mean normalized regret on the task's test envs at budget
  ``budget`` (5 by default, as §5.1.4); ``S_meta`` is the smallest budget at
  which L reaches it, ``S_base`` the smallest at which b does. When b never does
  within the budgets played, ``S_base`` is censored to the largest budget + 1
  (a lower bound: b needs at least one more run) and marked ``>=``;
- ``t_HF`` is the mean GPU-hours of one run of the task's test envs, ``t_LF``
  of one run of its training envs, ``alpha = t_HF / t_LF``; ``M`` is the
  number of training envs and ``E_m`` their mean number of runs, so the
  one-time training cost is ``M * E_m * t_LF`` (every run of every training env:
  the grid the learner reads);
- cumulative cost over K = 1..30 target tasks: ``C_meta(K) = M E_m t_LF + K S_meta t_HF``
  (eq. 5) and ``C_base(K) = K S_base t_HF`` (eq. 4);
- break-even (inequality 6, solved for K as in 8): the smallest K with
  ``M E_m < K dS alpha`` (``dS = S_base - S_meta``), none when ``dS <= 0``;
- leverage (inequality 7): the threshold ``E_m / (dS alpha)`` that the task
  leverage ratio ``K / M`` must exceed.

Writes ``cost.md``, ``cost.json`` and ``cost_curves.png`` (one panel per task,
like the paper's Fig. 6) into the output directory.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agents.zoo import resolve_agent
from gymnasium_llmconfig.cost import env_cost
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument, LLMConfigError
from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore
from gymnasium_llmconfig.metrics import summarize
from gymnasium_llmconfig.registry import load_registry
from gymnasium_llmconfig.storage import atomic_write

TASKS_K = 30  # the paper extrapolates to 30 target tasks


@dataclass(frozen=True)
class Amortization:
    """One (task, learner, baseline) comparison: Appendix D's quantities and the cumulative curves."""

    task: str
    learner: str
    baseline: str
    target_regret: float
    s_meta: int
    s_base: int
    censored: bool
    t_hf: float
    t_lf: float
    m: int
    e_m: float
    train_hours: float
    alpha: float
    break_even_k: int | None
    leverage_threshold: float | None
    meta_curve: tuple[float, ...]
    base_curve: tuple[float, ...]


def amortize(*, task: str, learner: str, baseline: str, target_regret: float, s_meta: int, s_base: int,
             censored: bool, t_hf: float, train_runs: int, m: int, train_hours: float,
             n_tasks: int = TASKS_K) -> Amortization:
    """Appendix D from measured quantities (see the module docstring); ``train_hours`` = M E_m t_LF."""
    e_m = train_runs / m
    t_lf = train_hours / train_runs
    alpha = t_hf / t_lf
    gain = s_base - s_meta
    break_even = math.floor(m * e_m / (gain * alpha)) + 1 if gain > 0 else None
    threshold = e_m / (gain * alpha) if gain > 0 else None
    ks = range(1, n_tasks + 1)
    return Amortization(task, learner, baseline, target_regret, s_meta, s_base, censored, t_hf, t_lf, m, e_m,
                        train_hours, alpha, break_even, threshold,
                        tuple(train_hours + k * s_meta * t_hf for k in ks), tuple(k * s_base * t_hf for k in ks))


def analyze(out: Path, *, budget: int = 5, learners: Sequence[str] | None = None,
            baselines: Sequence[str] | None = None) -> list[Amortization]:
    """Every (task, learner, baseline) of the results in ``out`` (a directory ``llmconfig bench`` wrote)."""
    if not out.is_dir():
        raise InvalidArgument(f"{out} is not a results directory; run `llmconfig bench --out {out}` first")
    store = ResultStore(out)
    rows = store.rows()
    suite_name = store.settings().get("suite")
    if not rows or suite_name is None:
        raise InvalidArgument(f"no episodes (or no run.json) in {out}; run `llmconfig bench --out {out}` first")
    agents = sorted({r.agent for r in rows})
    learning = [a for a in agents if _learns(a)]
    learners = list(learners) if learners else learning
    # topk replays the training envs' best configs, so it is not "from scratch" either
    baselines = list(baselines) if baselines else [a for a in agents if a not in learning and a != "topk"]
    missing = [a for a in (*learners, *baselines) if a not in agents]
    if missing or not learners or not baselines:
        raise InvalidArgument(
            f"{out} needs at least one learning agent and one from-scratch agent (it has {', '.join(agents)}; "
            f"learning: {', '.join(learning) or 'none'}{'; not in it: ' + ', '.join(missing) if missing else ''}); "
            "run `llmconfig bench` with e.g. --agents fsbo,random,optuna-tpe, or name them with --learner/--baseline")
    suite = resolve_suite(suite_name)
    registry = load_registry()
    curves = {a: _task_regret(a, rows) for a in (*learners, *baselines)}
    results = []
    for task in sorted({r.task for r in rows}):
        tests = sorted({r.env_id for r in rows if r.task == task})
        trains = [e for e in suite.train if registry.env(e)[0].name == task]
        if not trains:
            continue  # nothing to amortize: the suite trains on no env of this task
        test_costs = [env_cost(e, registry) for e in tests]
        train_costs = [env_cost(e, registry) for e in trains]
        t_hf = math.fsum(c.mean_run_hours for c in test_costs) / len(test_costs)
        for learner in learners:
            own = curves[learner].get(task, {})
            if budget not in own:
                raise InvalidArgument(f"{learner} has no episodes at budget {budget} on {task} in {out}; "
                                      f"pick a played budget with --budget ({sorted(own)})")
            target = own[budget]
            s_meta = _reach(own, target)
            for baseline in baselines:
                theirs = curves[baseline].get(task, {})
                if not theirs:
                    continue
                s_base = _reach(theirs, target)
                censored = s_base is None
                results.append(amortize(
                    task=task, learner=learner, baseline=baseline, target_regret=target, s_meta=s_meta,
                    s_base=max(theirs) + 1 if censored else s_base, censored=censored, t_hf=t_hf,
                    train_runs=sum(c.runs for c in train_costs), m=len(trains),
                    train_hours=math.fsum(c.total_hours for c in train_costs)))
    return results


def write_cost_report(out: Path, results: Sequence[Amortization], dest: Path | None = None) -> dict[str, Path]:
    """``cost.md``, ``cost.json`` and ``cost_curves.png`` in ``dest`` (default ``out``)."""
    dest = dest or out
    dest.mkdir(parents=True, exist_ok=True)
    files = {
        "markdown": (dest / "cost.md", _markdown(out, results).encode()),
        "json": (dest / "cost.json", (json.dumps([asdict(r) for r in results], indent=1) + "\n").encode()),
        "png": (dest / "cost_curves.png", _figure(results)),
    }
    for path, data in files.values():
        atomic_write(path, lambda handle, data=data: handle.write(data), binary=True)
    return {name: path for name, (path, _) in files.items()}


def _learns(label: str) -> bool:
    """An agent whose class has ``fit`` (the leaderboard fits it on the training envs); unknown labels do not."""
    try:
        return hasattr(resolve_agent(label.split("[", 1)[0]), "fit")
    except (LLMConfigError, ImportError):  # a module:Class no longer importable here: from scratch
        return False


def _task_regret(agent: str, rows: Sequence[LeaderboardRow]) -> dict[str, dict[int, float]]:
    """Task -> budget -> mean normalized regret over seeds (envs averaged per seed, as the leaderboard)."""
    frame = summarize([r for r in rows if r.agent == agent])
    tasks = frame[frame["level"] == "task"]
    out: dict[str, dict[int, float]] = {}
    for name, budget, mean in tasks[["name", "budget", "mean"]].itertuples(index=False):
        out.setdefault(str(name), {})[int(budget)] = float(mean)
    return out


def _reach(regret: Mapping[int, float], target: float) -> int | None:
    """The smallest budget whose mean regret is at most ``target`` (1e-12 slack), None if none is."""
    return next((b for b in sorted(regret) if regret[b] <= target + 1e-12), None)


def _markdown(out: Path, results: Sequence[Amortization]) -> str:
    lines = [f"# Amortized cost of {out}", "",
             "Paper 000 §5.1.4 and Appendix D; GPU-hours per run from the registry's `cost:` (its basis per task "
             "in README). `>=`: the baseline never reached the target within the budgets played, so S_base is a "
             "lower bound (largest budget + 1).", "",
             "| task | learner | baseline | target regret | S_meta | S_base | t_HF (h) | alpha | M | E_m | "
             f"training (h) | break-even K (6) | K/M threshold (7) | C_base/C_meta at K={TASKS_K} |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = r.base_curve[-1] / r.meta_curve[-1]
        lines.append(
            f"| {r.task} | {r.learner} | {r.baseline} | {r.target_regret:.3f} | {r.s_meta} | "
            f"{'>=' if r.censored else ''}{r.s_base} | {r.t_hf:.4g} | {r.alpha:.3g} | {r.m} | {r.e_m:.3g} | "
            f"{r.train_hours:.4g} | {r.break_even_k if r.break_even_k is not None else 'never'} | "
            f"{f'{r.leverage_threshold:.3g}' if r.leverage_threshold is not None else '-'} | {ratio:.3g} |")
    if not results:
        lines.append("| - | - | - | - | - | - | - | - | - | - | - | - | - | - |")
    return "\n".join(lines) + "\n"


def _figure(results: Sequence[Amortization]) -> bytes:
    tasks = list(dict.fromkeys(r.task for r in results)) or ["no results"]
    fig = Figure(figsize=(4.2 * len(tasks), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        ks = range(1, TASKS_K + 1)
        drawn: set[str] = set()
        for r in (r for r in results if r.task == task):
            if r.learner not in drawn:  # a learner's curve does not depend on the baseline
                ax.plot(ks, r.meta_curve, linewidth=2.2, label=f"{r.learner}: training + {r.s_meta} runs/task")
                drawn.add(r.learner)
            # a baseline's runs per task depend on the learner whose regret it must match
            ax.plot(ks, r.base_curve, linestyle="--", linewidth=1.2,
                    label=f"{r.baseline}: {'>=' if r.censored else ''}{r.s_base} runs/task to match {r.learner}")
            drawn.add(r.baseline)
        ax.set_title(task)
        ax.set_xlabel("target tasks K")
        ax.set_ylabel("cumulative GPU-hours")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def summary_line(results: Sequence[Amortization]) -> str:
    """One line for the terminal."""
    done = [r for r in results if r.break_even_k is not None]
    return f"{len(results)} comparisons; {len(done)} break even within reach (the rest never: dS <= 0)."

