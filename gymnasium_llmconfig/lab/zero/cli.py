"""``llmconfig zero``: LLMZero's schedule search (``run``) and its comparison with static baselines (``compare``).

The main CLI mounts :data:`zero_app`; heavy dependencies are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gymnasium_llmconfig.lab.cli_errors import ReportingGroup

zero_app = typer.Typer(
    name="zero",
    help="LLMZero: search multi-stage GRPO schedules over live training runs (paper 003).",
    cls=ReportingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@zero_app.callback()
def _group() -> None:
    """LLMZero: search multi-stage GRPO schedules over live training runs (paper 003)."""


# --- llmconfig zero compare ---------------------------------------------------------------------


@zero_app.command("compare")
def compare_command(
    methods: Annotated[str, typer.Option(
        help="Comma-separated: llmzero, grid, random, practitioner, no-multistage, no-earlystop, no-scratch.")]
    = "llmzero,grid,random,practitioner",
    seeds: Annotated[int, typer.Option(help="Seeds per method (0..N-1); intervals need 2 or more.")] = 5,
    out: Annotated[Path, typer.Option(help="Comparison directory; rerunning with it resumes.")] = Path("runs/cmp"),
    workers: Annotated[int | None, typer.Option(
        help="Local Ray workers, one job each (0: one by one in this process; default: every core).")] = None,
    address: Annotated[str | None, typer.Option(help="An existing Ray cluster ('auto' or host:port).")] = None,
    iterations: Annotated[int, typer.Option(min=1, help="Phases (search) or trials (static) per job.")] = 16,
    proposer: Annotated[str, typer.Option(help="Search proposer: heuristic or llm.")] = "heuristic",
    stopper: Annotated[str, typer.Option(help="Search early stopper: extrapolation, llm or none.")] = "extrapolation",
    agent_arg: Annotated[list[str] | None, typer.Option(
        help="Proposer/stopper option key=value (backend=openai, model=..., base_url=...); repeatable.")] = None,
    family: Annotated[str | None, typer.Option(help="GRPO task family (default: add3).")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Steps of a search phase (default 24).")] = None,
    full_steps: Annotated[int | None, typer.Option(min=1, help="Steps of one static baseline run (96).")] = None,
    val_every: Annotated[int | None, typer.Option(min=1, help="Validate and checkpoint every k steps (6).")] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Training problems (256).")] = None,
    memory_budget: Annotated[int | None, typer.Option(
        min=1, help="Token slots a phase may use, batch x rollouts x length (2048).")] = None,
    cache_dir: Annotated[str | None, typer.Option(help="Where the SFT-warmed base is cached (OUT/base).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads per job (1).")] = None,
) -> None:
    """Compare LLMZero with static baselines and its ablations over seeds (paper 003 §4), with intervals."""
    from dataclasses import replace

    from gymnasium_llmconfig.lab.leaderboard.runner import parse_agent_args
    from gymnasium_llmconfig.lab.zero import report
    from gymnasium_llmconfig.lab.zero.compare import compare, prepare_base
    from gymnasium_llmconfig.lab.zero.factory import make_proposer, make_stopper
    from gymnasium_llmconfig.lab.zero.live import LiveSettings
    from gymnasium_llmconfig.lab.zero.settings import SearchSettings

    flags = {"family": family, "default_steps": steps, "full_steps": full_steps, "val_every": val_every,
             "samples": samples, "memory_budget": memory_budget, "cache_dir": cache_dir, "threads": threads}
    live = replace(LiveSettings(), **{k: v for k, v in flags.items() if v is not None})
    live = replace(live, cache_dir=live.cache_dir or str(out / "base"))
    live.validate()
    args = parse_agent_args(agent_arg or [], ["zero"])["zero"]
    if "llmzero" in methods or "no-" in methods:  # refuse a bad proposer or stopper before any work
        make_proposer(proposer, args)
        make_stopper(stopper, args)
    search = SearchSettings(iterations=iterations, default_steps=live.default_steps).to_dict()
    live_dict = {k: v for k, v in live.to_dict().items() if k != "seed"}
    console = Console()
    bar = Progress(TextColumn("[bold]compare"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console)
    task = bar.add_task("compare", total=None)

    def planned(jobs: list) -> None:
        todo = sum(not job.done for job in jobs)
        bar.update(task, total=todo)
        if todo < len(jobs):
            bar.console.print(f"{len(jobs) - todo} of {len(jobs)} jobs already done in {out}", highlight=False)

    def finished(job, info: dict) -> None:
        bar.console.print(f"{job.method} seed {job.seed}: {info['nodes']} phases", highlight=False)
        bar.advance(task)

    with bar:
        try:
            summary = compare(out, [m.strip() for m in methods.split(",") if m.strip()], seeds, live_dict, search,
                              live.full_steps, workers=workers, address=address, prepare=prepare_base,
                              on_plan=planned, on_done=finished, proposer=proposer, proposer_args=args,
                              stopper=stopper, stopper_args=args)
        except KeyboardInterrupt:
            console.print(f"Interrupted: every finished phase is kept under {out}; rerun the same command to resume.",
                          highlight=False)
            raise typer.Exit(130) from None
    for method in summary["methods"]:
        cell = summary["table"][method]["test_at_best"]
        console.print(f"{method}: test at best validation {report.interval(cell)} over {cell['n']} seed(s)",
                      highlight=False)
    console.print(f"Wrote {out / 'summary.json'}, {out / 'report.md'} and {out / 'report.html'}", highlight=False)
