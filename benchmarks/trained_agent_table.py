"""The table of ``benchmarks/results/trained_agent_l2h.md``: agents from ``llmconfig bench`` result dirs side by side.

    python benchmarks/trained_agent_table.py results/trained-baselines results/trained-sft=sft results/trained-base=base

For every agent in the given result directories (``DIR=LABEL`` renames the agents of DIR to LABEL,
so two runs of ``llm-prompt`` with different models stay apart): execution and unique-config rates (mean over
episodes), and normalized regret at each budget as the leaderboard reports it (per seed: envs
averaged within a task, then tasks; mean ± std over seeds), over the envs every directory shares
(``--tasks`` keeps only some tasks), then each agent's regret per task.
``--quick`` builds the table from a tiny in-process leaderboard (used by the test suite).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gymnasium_llmconfig import metrics
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore


def _rows(spec: str) -> list[Any]:
    directory, _, label = spec.partition("=")
    rows = ResultStore(Path(directory)).rows()
    return [replace(r, agent=label) for r in rows] if label else rows


def table(result_dirs: Sequence[str], tasks: Sequence[str] | None = None) -> str:
    """Markdown rows (agent, exec rate, unique rate, regret at each budget) over the shared envs (of ``tasks``),
    then each agent's regret per task (mean over budgets), which shows where an overall number comes from."""
    per_dir = [_rows(str(d)) for d in result_dirs]
    if tasks is not None:
        known = {r.task for group in per_dir for r in group}
        if unknown := sorted(set(tasks) - known):
            raise SystemExit(f"--tasks: {', '.join(unknown)} not in these results; "
                             f"they hold {', '.join(sorted(known))}")
        per_dir = [[r for r in group if r.task in tasks] for group in per_dir]
    rows = [row for group in per_dir for row in group]
    if not rows:
        raise SystemExit(f"no episodes in {', '.join(map(str, result_dirs))}")
    envs = set.intersection(*({r.env_id for r in group} for group in per_dir))
    rows = [r for r in rows if r.env_id in envs]
    budgets = sorted({r.budget for r in rows})
    lines = ["| agent | episodes | exec rate | unique rate | " + " | ".join(f"T={b}" for b in budgets) + " |",
             "|---|---|---|---|" + "---|" * len(budgets)]
    by_agent = {agent: [r for r in rows if r.agent == agent] for agent in sorted({r.agent for r in rows})}
    summaries = {agent: metrics.summarize(mine) for agent, mine in by_agent.items()}
    for agent, mine in by_agent.items():
        summary = summaries[agent]
        overall = summary[summary.level == "overall"].set_index("budget")
        cells = []
        for b in budgets:
            mean, std = overall.loc[b, "mean"], overall.loc[b, "std"]
            cells.append(f"{mean:.3f}" + ("" if std != std or std < 5e-4 else f" ± {std:.3f}"))
        exec_rate = sum(r.execution_rate for r in mine) / len(mine)
        unique = sum(r.unique_config_rate for r in mine) / len(mine)
        lines.append(f"| {agent} | {len(mine)} | {exec_rate:.3f} | {unique:.3f} | " + " | ".join(cells) + " |")
    return ("\n".join(lines) + "\n\n" + per_task(rows, summaries) + f"\n\nEnvs ({len(envs)}): "
            + ", ".join(f"`{e}`" for e in sorted(envs)) + "\n")


def per_task(rows: Sequence[Any], summaries: dict[str, Any]) -> str:
    """Normalized regret per agent and task, averaged over budgets (and seeds), with the envs per task;
    ``summaries`` are each agent's :func:`metrics.summarize` of ``rows``."""
    names = sorted({r.task for r in rows})
    envs = {t: len({r.env_id for r in rows if r.task == t}) for t in names}
    lines = ["| agent (regret, mean over budgets) | " + " | ".join(f"{t} ({envs[t]})" for t in names) + " |",
             "|---|" + "---|" * len(names)]
    for agent, summary in summaries.items():
        tasks = summary[summary.level == "task"].groupby("name")["mean"].mean()
        lines.append(f"| {agent} | " + " | ".join(f"{tasks[t]:.3f}" if t in tasks else "-" for t in names) + " |")
    return "\n".join(lines)


def _quick() -> str:
    from gymnasium_llmconfig.lab.leaderboard.runner import AgentSpec, BenchmarkPlan, run_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        plan = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random", {})], budgets=[1, 2], seeds=[0, 1],
                             envs=["LLMConfig-Micro-M-D750K-v0"])
        run_benchmark(plan, Path(tmp), workers=0, progress=False)
        return table([tmp])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="*", help="result directories written by `llmconfig bench`, as DIR or DIR=LABEL")
    parser.add_argument("--tasks", help="only these tasks, comma-separated (e.g. the ones whose prompts fit a model)")
    parser.add_argument("--quick", action="store_true", help="a tiny in-process leaderboard instead")
    args = parser.parse_args(argv)
    if not args.quick and not args.dirs:
        parser.error("give result directories, or --quick")
    print(_quick() if args.quick else table(args.dirs, args.tasks.split(",") if args.tasks else None))


if __name__ == "__main__":
    main()
