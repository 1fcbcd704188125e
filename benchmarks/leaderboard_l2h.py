"""The classical l2h leaderboard, timed: every zoo agent without an LLM, budgets 1-5, 3 seeds.

Run: ``LLMCONFIG_DATA_DIR=../shared/llmconfig-data python benchmarks/leaderboard_l2h.py [OUT] [--workers N]``
(default OUT: ``results/l2h``). It is ``llmconfig bench`` with the defaults, plus a printed summary: wall
time (fits included), per-agent fit and episode time, and the overall regret table. Re-running resumes.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import pandas as pd
from rich.console import Console

from gymnasium_llmconfig.lab.cli import DEFAULT_AGENTS
from gymnasium_llmconfig.lab.leaderboard.runner import (
    AgentSpec,
    BenchmarkPlan,
    run_benchmark,
)
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore
from gymnasium_llmconfig.metrics import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default="results/l2h")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--agents", default=DEFAULT_AGENTS)
    args = parser.parse_args()
    plan = BenchmarkPlan(suite="l2h", agents=[AgentSpec(a) for a in args.agents.split(",")],
                         budgets=[1, 2, 3, 4, 5], seeds=[0, 1, 2], env_kwargs={"on_invalid": "terminate", "top_k": 5})
    start = time.perf_counter()
    outcome = run_benchmark(plan, args.out, workers=args.workers)
    console = Console()
    console.print(f"wall time {time.perf_counter() - start:.1f} s; played {outcome.played}, "
                  f"skipped {outcome.skipped}")
    rows = ResultStore(args.out).rows()
    episode_time: dict[str, float] = defaultdict(float)
    for row in rows:
        episode_time[row.agent] += row.wall_s
    table = {}
    for agent in dict.fromkeys(r.agent for r in rows):
        overall = summarize([r for r in rows if r.agent == agent]).query("level == 'overall'")
        table[agent] = {f"T={int(b)}": m for b, m in zip(overall["budget"], overall["mean"], strict=True)}
        table[agent]["episode s"] = episode_time[agent]
    frame = pd.DataFrame(table).T.sort_values("T=5")
    console.print(frame.round(3).to_string())


if __name__ == "__main__":
    main()
