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
from gymnasium_llmconfig.lab.zero.live import LiveSettings
from gymnasium_llmconfig.lab.zero.types import NodeRecord

zero_app = typer.Typer(
    name="zero",
    help="LLMZero: search multi-stage GRPO schedules over live training runs (paper 003).",
    cls=ReportingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# Options both commands take (one declaration each, so their help and bounds cannot drift apart).
Proposer = Annotated[str, typer.Option(help="Who proposes each phase: heuristic or llm.")]
Stopper = Annotated[str, typer.Option(help="Early stopper: extrapolation, llm or none.")]
AgentArgs = Annotated[list[str] | None, typer.Option(
    help="Proposer/stopper option key=value, e.g. backend=openai, model=..., base_url=...; repeatable.")]
Family = Annotated[str, typer.Option(help="GRPO task family.")]
Steps = Annotated[int, typer.Option(min=1, help="Steps of a search phase (the root's and the proposer's default).")]
ValEvery = Annotated[int, typer.Option(min=1, help="Validate and checkpoint every k steps.")]
Samples = Annotated[int, typer.Option(min=1, help="Training problems.")]
ValSize = Annotated[int, typer.Option(min=1, help="Validation problems.")]
TestSize = Annotated[int, typer.Option(min=1, help="Test problems (reported only).")]
MemoryBudget = Annotated[int, typer.Option(min=1, help="Token slots a phase may use: batch x rollouts x length; "
                                                       "above it a phase fails.")]
CacheDir = Annotated[str, typer.Option(help="Where the SFT-warmed base is cached (default: OUT/base).")]
Threads = Annotated[int, typer.Option(min=1, help="Torch threads per phase.")]


#: What the live phases (torch, safetensors checkpoints), the reports (matplotlib) and the intervals (scipy)
#: import; ``compare`` fans out on Ray too. All come with the ``bench`` extra.
STACK = ("torch", "safetensors", "matplotlib", "scipy")


def require_stack(modules: tuple[str, ...]) -> None:
    """One message naming every missing module and the extra that installs them, before any work."""
    import importlib.util

    from gymnasium_llmconfig.errors import InvalidArgument

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidArgument(f"llmconfig zero needs {', '.join(missing)}, not installed here. "
                              "Fix: pip install 'gymnasium-llmconfig[bench]'")


@zero_app.callback()
def _group() -> None:
    """LLMZero: search multi-stage GRPO schedules over live training runs (paper 003)."""


@zero_app.command("run")
def run(
    iterations: Annotated[int, typer.Option(min=1, help="Phases to run, the root included (paper: 16).")] = 16,
    proposer: Proposer = "heuristic",
    agent_arg: AgentArgs = None,
    stopper: Stopper = "extrapolation",
    seed: Annotated[int, typer.Option(help="Seed of the search and of every phase's data order.")] = 0,
    out: Annotated[Path, typer.Option(help="Search directory; rerunning with it resumes.")] = Path("runs/zero"),
    family: Family = LiveSettings.family,
    steps: Steps = LiveSettings.default_steps,
    val_every: ValEvery = LiveSettings.val_every,
    samples: Samples = LiveSettings.samples,
    val_size: ValSize = LiveSettings.val_size,
    test_size: TestSize = LiveSettings.test_size,
    memory_budget: MemoryBudget = LiveSettings.memory_budget,
    cache_dir: CacheDir = LiveSettings.cache_dir,
    threads: Threads = LiveSettings.threads,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Search a multi-stage GRPO schedule: a tree of live training phases (paper 003, Algorithm 1)."""
    require_stack(STACK)
    from gymnasium_llmconfig.lab.zero.run import run_zero, zero_run

    plan = zero_run(out, iterations=iterations, seed=seed, proposer=proposer, stopper=stopper,
                    agent_args=agent_arg or [],
                    live={"family": family, "default_steps": steps, "val_every": val_every, "samples": samples,
                          "val_size": val_size, "test_size": test_size, "memory_budget": memory_budget,
                          "cache_dir": cache_dir, "threads": threads})
    console = Console()
    bar = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, disable=not progress)

    def finished(node: NodeRecord) -> None:
        score = "-" if node.score is None else f"{node.score:.3f}"
        console.print(f"{node.id:>4} {node.kind:<7} {node.status:<13} score {score}", highlight=False)
        bar.advance(task)

    with bar:
        task = bar.add_task("search", total=iterations)
        try:
            tree, (md, html) = run_zero(plan, finished)
        except KeyboardInterrupt:
            console.print(f"Interrupted: {out / 'tree.json'} keeps every finished phase; rerun the same command "
                          "to resume.", highlight=False)
            raise typer.Exit(130) from None
    best = tree.best_node()
    summary = f"best {best.id} (validation {best.score:.3f})" if best else "no phase validated"
    console.print(f"Done: {len(tree.nodes)} phases in {out / 'tree.json'}, {summary}. Report: {md} and {html}",
                  highlight=False)


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
    proposer: Proposer = "heuristic",
    stopper: Stopper = "extrapolation",
    agent_arg: AgentArgs = None,
    family: Family = LiveSettings.family,
    steps: Steps = LiveSettings.default_steps,
    full_steps: Annotated[int, typer.Option(min=1, help="Steps of one static baseline run.")]
    = LiveSettings.full_steps,
    val_every: ValEvery = LiveSettings.val_every,
    samples: Samples = LiveSettings.samples,
    val_size: ValSize = LiveSettings.val_size,
    test_size: TestSize = LiveSettings.test_size,
    memory_budget: MemoryBudget = LiveSettings.memory_budget,
    cache_dir: CacheDir = LiveSettings.cache_dir,
    threads: Threads = LiveSettings.threads,
) -> None:
    """Compare LLMZero with static baselines and its ablations over seeds (paper 003 §4), with intervals."""
    require_stack((*STACK, "ray"))
    from dataclasses import replace

    from gymnasium_llmconfig.lab.zero import report
    from gymnasium_llmconfig.lab.zero.compare import compare, prepare_base
    from gymnasium_llmconfig.lab.zero.factory import make_proposer, make_stopper
    from gymnasium_llmconfig.lab.zero.run import agent_args_for, parse_agent_args
    from gymnasium_llmconfig.lab.zero.settings import SearchSettings

    live = replace(LiveSettings(), family=family, default_steps=steps, full_steps=full_steps, val_every=val_every,
                   samples=samples, val_size=val_size, test_size=test_size, memory_budget=memory_budget,
                   cache_dir=cache_dir or str(out / "base"), threads=threads)
    live.validate()
    args = agent_args_for(live, parse_agent_args(agent_arg or []))
    make_proposer(proposer, args)  # a bad proposer, stopper or agent arg is refused before any work
    make_stopper(stopper, args)
    search = SearchSettings(iterations=iterations, default_steps=live.default_steps).to_dict()
    live_dict = {k: v for k, v in live.to_dict().items() if k != "seed"}  # each job sets its own
    console = Console()
    bar = Progress(TextColumn("[bold]compare"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console)
    task = bar.add_task("compare", total=None)

    def planned(jobs: list) -> None:
        todo = sum(not job.done for job in jobs)
        bar.update(task, total=todo)
        if todo < len(jobs):
            console.print(f"{len(jobs) - todo} of {len(jobs)} jobs already done in {out}", highlight=False)

    def finished(job, info: dict) -> None:
        console.print(f"{job.method} seed {job.seed}: {info['nodes']} phases", highlight=False)
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
