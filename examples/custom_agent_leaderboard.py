"""Put your own agent on the leaderboard: a class with reset/act/observe, next to the zoo's random search.

Usage: ``python examples/custom_agent_leaderboard.py [--quick] [--out DIR]``.

``LocalSearch`` implements the agent protocol (``agents/base.py``) directly, with
no base class: it starts at the centre of the space and then always runs the
untried config nearest (in the space's vector encoding) to the best one so far.
The script plays it and ``random`` on the smoke suite (the high Micro and GRPO envs,
shipped in the package) with :func:`run_benchmark`, in this process, and prints
the report's overall table. The same run from the command line::

    PYTHONPATH=examples llmconfig bench --suite smoke --agents random,custom_agent_leaderboard:LocalSearch --out DIR

``--quick`` plays budgets 1-3 with one seed. Re-running into the same ``--out`` resumes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.lab.leaderboard.runner import AgentSpec, BenchmarkPlan, run_benchmark
from gymnasium_llmconfig.parsing import TOOL_NAME


class LocalSearch:
    """Centre first, then the untried config nearest the incumbent (finite spaces)."""

    name = "local-search"

    def reset(self, card: TaskCard, seed: int | None = None) -> None:
        if not card.space.is_finite:
            raise TypeError(f"LocalSearch walks a finite space; {card.env_id} has an infinite one")
        self.card = card
        self.configs = card.space.enumerate()
        self.points = np.array([card.space.encode(c) for c in self.configs])
        self.untried = set(range(len(self.configs)))
        self.best: tuple[float, int] | None = None
        self.last = -1

    def act(self, observation: str) -> str:
        anchor = self.points[self.best[1]] if self.best else self.points.mean(axis=0)
        self.last = min(self.untried, key=lambda k: (float(np.linalg.norm(self.points[k] - anchor)), k))
        self.untried.discard(self.last)
        return json.dumps({"name": TOOL_NAME, "arguments": self.configs[self.last]})

    def observe(self, observation: str, reward: float, info: dict[str, Any]) -> None:
        metric = info.get("metric")
        if info.get("valid") and metric is not None and (
            self.best is None or self.card.task.better(metric, self.best[0])
        ):
            self.best = (metric, self.last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="budgets 1-3, one seed")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a temporary one)")
    args = parser.parse_args()
    plan = BenchmarkPlan(
        suite="smoke",
        agents=[AgentSpec("random"), AgentSpec(f"{Path(__file__).stem}:LocalSearch")],
        budgets=[1, 2, 3] if args.quick else [1, 2, 3, 4, 5],
        seeds=[0] if args.quick else [0, 1, 2],
    )
    with tempfile.TemporaryDirectory(prefix="custom_agent_") as tmp:
        out = args.out or Path(tmp)
        outcome = run_benchmark(plan, out, workers=0, progress=False)
        print(f"played {outcome.played} episodes ({outcome.skipped} already done) in {outcome.wall_s:.1f} s")
        report = (out / "leaderboard.md").read_text()
        print("## Overall" + (report.partition("## Overall")[2].partition("\n## ")[0] or report))
        if args.out:
            print(f"full report: {out / 'leaderboard.md'}, {out / 'leaderboard.html'}")


if __name__ == "__main__":
    main()
