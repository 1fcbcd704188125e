"""Learning agents against training coverage (paper 000 §6, Figs. 11-12): l2h-sparse20, -sparse40, l2h, l2h-reversed.

Each learning agent (every zoo agent with ``fit``, unless ``--agents`` names
others) is fitted on each suite's thinned training envs
(``TrainingSet.from_suite``) and plays the suite's test envs of ``--tasks`` at
budgets 1..5 over ``--seeds`` seeds; ``random`` (no fit) is the reference.
The figure plots mean normalized regret (pooled over budgets) against the
share of training runs kept (20%, 40%, 100%), with the reversed suite as its
own point at its own coverage. Run in one process with one torch thread:

``LLMCONFIG_DATA_DIR=../shared/llmconfig-data nice -n 5 python benchmarks/stress_suites.py [--tasks Micro,Pretrain]``

Writes ``benchmarks/results/stress_suites.{png,md,json}`` (``--out``). ``--quick``: Micro only, one
learning agent, budgets 1-2, one seed, into a temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import tempfile
import time
from pathlib import Path

import gymnasium
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import run_episode
from agents.zoo import agent_names, make_agent, resolve_agent
from gymnasium_llmconfig.curation import Suite, resolve_suite
from gymnasium_llmconfig.registry import load_problem, load_registry
from gymnasium_llmconfig.training_data import TrainingSet

SUITES = ("l2h-sparse20", "l2h-sparse40", "l2h", "l2h-reversed")
REFERENCE = "random"


def restricted(name: str, tasks: set[str]) -> Suite:
    """The suite with only the envs of ``tasks`` (fits then read those tasks' training envs only)."""
    suite = resolve_suite(name)
    registry = load_registry()
    keep = lambda ids: tuple(e for e in ids if registry.env(e)[0].name in tasks)  # noqa: E731
    return dataclasses.replace(suite, train=keep(suite.train), test=keep(suite.test))


def coverage(training: TrainingSet, suite: Suite) -> float:
    """Share of the suite's training runs (finite tables) that the fit sees."""
    full = sum(len(load_problem(e).space) for e in suite.train if load_problem(e).space.is_finite)
    kept = sum(len(env.space) for env in training if env.space.is_finite)
    return kept / full if full else 1.0


def play(agent_name: str, training: TrainingSet | None, suite: Suite, budgets: list[int],
         seeds: list[int]) -> dict[int, float]:
    """Mean normalized regret per budget over the suite's test envs (averaged per task, then tasks) and seeds."""
    agent = make_agent(agent_name)
    if training is not None:
        agent.fit(training)
    registry = load_registry()
    per_budget = {}
    for budget in budgets:
        by_task: dict[str, list[float]] = {}
        for env_id in suite.test:
            for seed in seeds:
                infos = run_episode(gymnasium.make(env_id, budget=budget), agent, seed=seed)
                by_task.setdefault(registry.env(env_id)[0].name, []).append(infos[-1]["normalized_regret"])
        per_budget[budget] = float(np.mean([np.mean(v) for v in by_task.values()]))
    return per_budget


def figure(results: dict[str, dict[str, dict]], title: str) -> bytes:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for agent, by_suite in results.items():
        sparse = [(by_suite[s]["coverage"], by_suite[s]["mean"]) for s in SUITES[:3] if s in by_suite]
        line = ax.plot(*zip(*sorted(sparse), strict=True), marker="o", label=agent)[0]
        if "l2h-reversed" in by_suite:
            point = by_suite["l2h-reversed"]
            ax.plot(point["coverage"], point["mean"], marker="X", markersize=11, color=line.get_color(),
                    linestyle="none")
    ax.plot([], [], marker="X", color="gray", linestyle="none", label="l2h-reversed (at its coverage)")
    ax.set_xlabel("share of training runs the fit sees")
    ax.set_ylabel("normalized regret, mean over budgets (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="Micro,Pretrain", help="comma-separated tasks (default Micro,Pretrain)")
    parser.add_argument("--agents", default=None, help="learning agents (default: every zoo agent with fit)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None, help="folder (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="Micro, one learner, budgets 1-2, one seed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    learners = args.agents.split(",") if args.agents else [a for a in agent_names()
                                                            if hasattr(resolve_agent(a), "fit")]
    tasks = {"Micro"} if args.quick else set(args.tasks.split(","))
    learners = learners[:1] if args.quick else learners
    budgets, seeds = ([1, 2], [0]) if args.quick else ([1, 2, 3, 4, 5], list(range(args.seeds)))
    out = Path(args.out or (tempfile.mkdtemp() if args.quick else "benchmarks/results"))
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict]] = {}
    start = time.perf_counter()
    for name in SUITES:
        suite = restricted(name, tasks)
        training = TrainingSet.from_suite(suite)
        covered = coverage(training, suite)
        for agent in [*learners, REFERENCE]:
            if agent == REFERENCE and name != "l2h":
                continue  # random sees no training data: one reference run is enough
            t0 = time.perf_counter()
            per_budget = play(agent, None if agent == REFERENCE else training, suite, budgets, seeds)
            mean = float(np.mean(list(per_budget.values())))
            results.setdefault(agent, {})[name] = {"coverage": covered, "per_budget": per_budget, "mean": mean,
                                                   "test_envs": len(suite.test), "wall_s": time.perf_counter() - t0}
            print(f"{name:13s} {agent:18s} coverage {covered:.2f}  regret {mean:.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    title = (f"Stress suites on {', '.join(sorted(tasks))}: budgets {budgets[0]}-{budgets[-1]}, "
             f"{len(seeds)} seed(s)")
    (out / "stress_suites.png").write_bytes(figure({a: r for a, r in results.items() if a != REFERENCE}, title))
    (out / "stress_suites.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# {title}", "", f"Wall time {time.perf_counter() - start:.0f} s, one process, one torch thread.",
             "", "| agent | " + " | ".join(f"{s} (coverage)" for s in SUITES) + " |",
             "|---|" + "---:|" * len(SUITES)]
    for agent, by_suite in results.items():
        cells = [f"{by_suite[s]['mean']:.3f} ({by_suite[s]['coverage']:.2f})" if s in by_suite else "-"
                 for s in SUITES]
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    (out / "stress_suites.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'stress_suites.png'} and .md/.json; {time.perf_counter() - start:.0f} s")
    assert all(math.isfinite(r["mean"]) for by_suite in results.values() for r in by_suite.values())


if __name__ == "__main__":
    main()
