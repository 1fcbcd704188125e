"""The classical l2h leaderboard, timed: every zoo agent without an LLM, budgets 1-5, 3 seeds.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/leaderboard_l2h.py [OUT] [--workers N]``
(default OUT: ``results/l2h``). It is ``llmconfig bench`` with the defaults, plus a printed summary: wall
time (fits included), per-agent episode time, and the overall regret table. Re-running resumes.
``--quick`` plays random and topk on the smoke suite (Micro and GRPO, no data needed) at budget 1, one seed, in
this process (default OUT: ``results/l2h-quick``), for CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import pandas as pd
from rich.console import Console

from gymnasium_llmconfig.data import DataError
from gymnasium_llmconfig.lab.cli import DEFAULT_AGENTS
from gymnasium_llmconfig.lab.leaderboard.runner import (
    AgentSpec,
    BenchmarkPlan,
    run_benchmark,
)
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore
from gymnasium_llmconfig.metrics import summarize

QUICK_AGENTS = "random,topk"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default=None, help="results folder (default results/l2h)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--agents", default=None, help=f"comma-separated agents (default {DEFAULT_AGENTS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_AGENTS} on the smoke suite, T=1, one seed")
    args = parser.parse_args()
    quick = args.quick
    out = args.out or ("results/l2h-quick" if quick else "results/l2h")
    agents = args.agents or (QUICK_AGENTS if quick else DEFAULT_AGENTS)
    plan = BenchmarkPlan(suite="smoke" if quick else "l2h", agents=[AgentSpec(a) for a in agents.split(",")],
                         budgets=[1] if quick else [1, 2, 3, 4, 5], seeds=[0] if quick else [0, 1, 2],
                         env_kwargs={"on_invalid": "terminate", "top_k": 5})
    start = time.perf_counter()
    try:
        outcome = run_benchmark(plan, out, workers=0 if quick and args.workers is None else args.workers,
                                progress=not quick)
    except DataError as exc:
        sys.exit(f"leaderboard_l2h.py: {exc}")
    console = Console()
    console.print(f"wall time {time.perf_counter() - start:.1f} s; played {outcome.played}, "
                  f"skipped {outcome.skipped}")
    rows = ResultStore(out).rows()
    episode_time: dict[str, float] = defaultdict(float)
    for row in rows:
        episode_time[row.agent] += row.wall_s
    table = {}
    for agent in dict.fromkeys(r.agent for r in rows):
        overall = summarize([r for r in rows if r.agent == agent]).query("level == 'overall'")
        table[agent] = {f"T={int(b)}": m for b, m in zip(overall["budget"], overall["mean"], strict=True)}
        table[agent]["episode s"] = episode_time[agent]
    frame = pd.DataFrame(table).T.sort_values(f"T={max(plan.budgets)}")
    console.print(frame.round(3).to_string())


if __name__ == "__main__":
    main()
