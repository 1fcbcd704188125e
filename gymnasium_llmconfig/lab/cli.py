"""The ``llmconfig`` command line: list envs, play one, manage data, run and report leaderboards."""

from __future__ import annotations

import functools
import os
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agents.llm.backend import BackendUnavailable
from gymnasium_llmconfig import data
from gymnasium_llmconfig.config_space import format_value
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.extras import install_hint
from gymnasium_llmconfig.lab.cli_errors import ReportingGroup, fail
from gymnasium_llmconfig.lab.collect.cli import collect_app
from gymnasium_llmconfig.lab.train.cli import train_app
from gymnasium_llmconfig.lab.zero.cli import zero_app
from gymnasium_llmconfig.registry import load_problem, load_registry

app = typer.Typer(
    cls=ReportingGroup,
    help="Gymnasium envs for configuring expensive LLM experiments from real runs.",
    no_args_is_help=True,
)
data_app = typer.Typer(help="Find, verify and download the raw data files.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(collect_app, name="collect", help="Run real training sweeps and write tables the registry serves.")
app.add_typer(train_app, name="train", help="Train LLM agents on a suite's training envs (trajectories, sft, grpo).")
app.add_typer(zero_app, name="zero", help="LLMZero: search multi-stage GRPO schedules over live training runs.")
console = Console()


RESUME_HINT = "Interrupted: re-run the same command to resume."


def _user_facing(prefer_extra: str | None = None, resumable: bool = False,
                 ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Turn what a user can fix into one line: a missing optional dependency (the extra to install,
    ``prefer_extra`` first) and, for a ``resumable`` command, Ctrl-C (exit 130 and the resume hint, also
    before the runner takes Ctrl-C over)."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                command(*args, **kwargs)
            except KeyboardInterrupt:
                if not resumable:
                    raise
                _ignore_further_interrupts()
                console.print(RESUME_HINT, highlight=False)
                raise typer.Exit(130) from None
            except (ImportError, BackendUnavailable) as exc:
                message = _missing_dependency(exc, prefer_extra)
                if message is None:
                    raise
                raise fail(message) from None
        return run
    return decorate


def _ignore_further_interrupts() -> None:
    """After the first Ctrl-C the process is ending: a second one must not cut its clean exit (code 130)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _missing_dependency(error: BaseException, prefer_extra: str | None) -> str | None:
    """The install hint for the first missing optional module in ``error``'s chain; a backend's own message."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ImportError) and (hint := install_hint(cause, prefer_extra)):
            return hint
        cause = cause.__cause__ or cause.__context__
    return str(error) if isinstance(error, BackendUnavailable) else None


@app.command("envs")
@_user_facing()
def envs(task: Annotated[str | None, typer.Option(help="Only this task (e.g. Pretrain).")] = None) -> None:
    """List env ids with task, fidelity, role, number of configs, best and worst value."""
    registry = load_registry()
    if task is not None:
        registry.task(task)  # an unknown name fails here, with the closest names
    table = Table(title="LLMConfig envs")
    missing = False
    table.add_column("env id", no_wrap=True)
    for column in ("task", "fidelity", "role", "configs", "best", "worst"):
        table.add_column(column, overflow="fold")
    for env_id in registry.env_ids(task=task):
        spec, fidelity = registry.env(env_id)
        try:
            problem = load_problem(env_id)
        except data.DataError:
            table.add_row(env_id, spec.name, fidelity.name, fidelity.role, "-", "[yellow]data missing[/]", "-")
            missing = True
            continue
        size = str(len(problem.space)) if problem.space.is_finite else "inf"
        table.add_row(env_id, spec.name, fidelity.name, fidelity.role, size,
                      format_value(problem.best_value), format_value(problem.worst_value))
    console.print(table)
    if missing:
        console.print(f"[yellow]data missing:[/] {_mirror_line()} Fix: `llmconfig data pull` downloads the "
                      "missing files (`llmconfig data status` lists them).", highlight=False)


@app.command("suites")
def suites() -> None:
    """List the named suites: which envs an agent trains on and which it is tested on."""
    registry = load_registry()
    table = Table(title="LLMConfig suites")
    for column in ("suite", "description", "train envs", "test envs"):
        table.add_column(column, overflow="fold")
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notes are printed below the table instead
        for name in registry.suites:
            suite = resolve_suite(name, registry)
            table.add_row(name, suite.description, str(len(suite.train)), str(len(suite.test)))
            notes.extend(suite.notes)
    console.print(table)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command("play")
@_user_facing()
def play(
    env_id: Annotated[str, typer.Argument(help="An env id from `llmconfig envs`.")],
    budget: Annotated[int, typer.Option(min=1, help="Number of trials.")] = 5,
    reveal_names: Annotated[bool, typer.Option(help="Show dataset and benchmark names.")] = False,
) -> None:
    """Play one episode at the terminal: type a JSON config per trial (Ctrl-D to quit)."""
    from gymnasium_llmconfig.env import LLMConfigEnv

    env = LLMConfigEnv(env_id, budget=budget, reveal_names=reveal_names, on_invalid="ignore")
    prompt, _ = env.reset()
    console.print(prompt, markup=False, highlight=False)
    total, info = 0.0, None
    while True:
        try:
            action = console.input("\n[bold cyan]your config>[/] ")
        except (EOFError, KeyboardInterrupt):
            best = info and info["best_config"]
            summary = (f" Your best: {env.problem.space.canonical_text(best)} -> {info['metric_name']} = "
                       f"{format_value(info['best_metric'])}; normalized regret {info['normalized_regret']:.4f}."
                       if best else " No valid configuration was run.")
            console.print(f"\nStopped.{summary}", highlight=False, markup=False)
            break
        text, reward, terminated, truncated, info = env.step(action)
        total += reward
        console.print(text, markup=False, highlight=False)
        if terminated or truncated:
            console.print(f"\nEpisode over. Return {total:.4f}; normalized regret of your best: "
                          f"{info['normalized_regret']:.4f}", highlight=False)
            break


@data_app.command("status")
def data_status() -> None:
    """Where each source file is found, whether it verifies, and its licence."""
    table = Table(title="LLMConfig data sources")
    for column in ("source", "file", "found where", "verified", "licence"):
        table.add_column(column, overflow="fold")
    for source in load_registry().sources():
        st = data.status(source)
        verified = "[green]yes[/]" if st.verified else ("[red]NO (refused)[/]" if st.found else "no")
        where = f"{st.where}: {st.found}" if st.found else "[yellow]missing[/]"
        table.add_row(source.name, source.path, where, verified, source.licence or "-")
    console.print(table)
    console.print(f"{_mirror_line()} Cache: {data.cache_dir()}.", highlight=False)


def _mirror_line() -> str:
    """What ``$LLMCONFIG_DATA_DIR`` is: unset, a missing folder, or the mirror in use."""
    name = data.sources.DATA_DIR_ENV
    value = os.environ.get(name)
    if not value:
        return f"${name} is not set (point it at a data mirror, if you have one)."
    if not Path(value).expanduser().is_dir():
        return f"${name}={value}, which does not exist."
    return f"${name}={value}."


@data_app.command("pull")
def data_pull(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: every missing one).")] = None,
    force: Annotated[bool, typer.Option(help="Download even if a verified copy exists.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Consent to the downloads without being asked.")] = False,
) -> None:
    """Download source files into the user cache (verified by sha256, written atomically), with your consent."""
    known = {s.name: s for s in load_registry().sources()}
    unknown = [name for name in sources or [] if name not in known]
    if unknown:
        raise fail(f"unknown source(s) {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in sources] if sources else [s for s in known.values() if s.fetchable]
    wanted = [s for s in chosen if force or not data.status(s).verified]
    if wanted and not yes:
        _ask_consent(wanted)
    failures = 0
    for source in chosen:
        st = data.status(source)
        if source not in wanted:
            console.print(f"[green]ok[/] {source.name} ({st.where})", highlight=False)
            continue
        try:
            path = data.pull(source, force=force)
            console.print(f"[green]pulled[/] {source.name} -> {path}", highlight=False)
        except data.DataError as exc:
            failures += 1
            console.print(f"[red]failed[/] {source.name}: {exc}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _ask_consent(sources: list[data.DataSource]) -> None:
    """List what would be downloaded, with its licence, and ask; off a terminal, ``--yes`` is the consent."""
    for source in sources:
        console.print(f"- {source.name}: {source.url} (licence: {source.licence or 'not stated'})", highlight=False)
    if not _on_terminal():
        raise fail(f"{len(sources)} file(s) would be downloaded into {data.cache_dir()}; "
                   "re-run with --yes to consent (no terminal to ask on)")
    if not typer.confirm(f"Download these {len(sources)} file(s) into {data.cache_dir()}?", default=False):
        raise fail("nothing downloaded (no consent); re-run with --yes to skip this question", code=1)


def _on_terminal() -> bool:
    return sys.stdin.isatty()


DEFAULT_AGENTS = "random,topk,optuna-tpe,gp-bo,fsbo,metabo,nap,fidelity-transfer"


@app.command("bench")
@_user_facing(prefer_extra="bench", resumable=True)
def bench(
    suite: Annotated[str, typer.Option(help="Suite whose test envs are played (`llmconfig suites`).")] = "l2h",
    agents: Annotated[str, typer.Option(help="Comma-separated agents: names (`llmconfig agents`), "
                                             "entry-point names or module:Class.")] = DEFAULT_AGENTS,
    budgets: Annotated[str, typer.Option(help="Budgets, e.g. 1-5 or 1,3,5.")] = "1-5",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per (agent, env, budget): 0..N-1.")] = 3,
    out: Annotated[Path, typer.Option(help="Results directory; re-running with it resumes.")] = Path("results"),
    workers: Annotated[int | None, typer.Option(min=0, help="Local Ray workers (default: all cores; "
                                                            "0 = play in this process, no Ray).")] = None,
    address: Annotated[str | None, typer.Option(help="Address of a running Ray cluster (e.g. auto).")] = None,
    agent_arg: Annotated[list[str] | None, typer.Option(help="Agent argument key=value (all agents) or "
                                                              "agent.key=value; repeatable.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="Only these test envs of the suite; repeatable.")] = None,
    on_invalid: Annotated[str, typer.Option(help="Env rule for invalid actions: terminate|penalize|ignore.")]
    = "terminate",
    top_k: Annotated[int, typer.Option(min=1, help="Demonstrations per lower-fidelity env in each prompt.")] = 5,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run a leaderboard: every agent on every test env of a suite at each budget and seed."""
    from gymnasium_llmconfig.budget import parse_budgets
    from gymnasium_llmconfig.lab.leaderboard.runner import AgentSpec, BenchmarkPlan, parse_agent_args, run_benchmark

    references = [a.strip() for a in agents.split(",") if a.strip()]
    if not references:
        raise fail("--agents is empty; name at least one agent (see `llmconfig agents`)")
    kwargs = parse_agent_args(agent_arg or [], references)
    plan = BenchmarkPlan(suite=suite, agents=[AgentSpec(r, kwargs[r]) for r in references],
                         budgets=parse_budgets(budgets), seeds=list(range(seeds)),
                         env_kwargs={"on_invalid": on_invalid, "top_k": top_k}, envs=env or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_benchmark(plan, out, workers=workers, address=address, progress=progress)
    if outcome.interrupted:
        _ignore_further_interrupts()
    state = RESUME_HINT if outcome.interrupted else "Done."
    console.print(f"{state} Played {outcome.played} episodes, {outcome.skipped} already in {out}; "
                  f"{outcome.wall_s:.1f} s. Report: {outcome.report['markdown']} and {outcome.report['html']}",
                  highlight=False)
    if outcome.interrupted:
        raise typer.Exit(130)


@app.command("report")
@_user_facing()
def report(out: Annotated[Path, typer.Argument(help="A results directory written by `llmconfig bench`.")]) -> None:
    """Rebuild the leaderboard report (markdown, HTML, plots) from stored results."""
    from gymnasium_llmconfig.lab.leaderboard.report import write_report
    from gymnasium_llmconfig.lab.leaderboard.store import ResultStore

    store = ResultStore(out)
    rows = store.rows()
    if not rows:
        raise fail(f"no episodes in {store.episodes_path}; run `llmconfig bench --out {out}` first")
    paths = write_report(rows, out, run_info=store.settings())
    console.print(f"Report of {len(rows)} episodes: {paths['markdown']} and {paths['html']}", highlight=False)


@app.command("cost")
@_user_facing()
def cost(
    results: Annotated[Path, typer.Argument(help="A results directory written by `llmconfig bench`.")],
    budget: Annotated[int, typer.Option(min=1, help="Budget whose regret the learning agents must be matched at.")]
    = 5,
    learner: Annotated[list[str] | None, typer.Option(help="Learning agent(s) (default: every agent with fit).")]
    = None,
    baseline: Annotated[list[str] | None, typer.Option(help="From-scratch agent(s) (default: every other agent "
                                                            "but topk).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where cost.md/.json/_curves.png go (default: RESULTS).")] = None,
) -> None:
    """Amortized cost (paper §5.1.4, App. D): cumulative GPU-hours over K=1..30 tasks, break-even K, leverage."""
    from gymnasium_llmconfig.lab.leaderboard.cost import analyze, summary_line, write_cost_report

    found = analyze(results, budget=budget, learners=learner, baselines=baseline)
    paths = write_cost_report(results, found, out)
    console.print(f"{summary_line(found)} {paths['markdown']}, {paths['json']}, {paths['png']}", highlight=False)


@app.command("landscape")
@_user_facing()
def landscape(
    env_ids: Annotated[list[str], typer.Argument(help="Env ids (`llmconfig envs`); one figure per task, "
                                                      "their fidelities side by side in the order given.")],
    out: Annotated[Path, typer.Option(help="Directory for landscape_<task>.png.")] = Path("landscapes"),
    x: Annotated[str | None, typer.Option(help="Heatmap x parameter (default: the numeric one with most values).")]
    = None,
    y: Annotated[str | None, typer.Option(help="Heatmap y parameter (default: the next one).")] = None,
    samples: Annotated[int, typer.Option(min=10, help="Sampled configs per infinite-space env (Arch).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the sampled configs.")] = 0,
) -> None:
    """Draw each env's target over its space: heatmaps (grids), mixture embeddings, architecture scatters."""
    from gymnasium_llmconfig.lab.landscape import write_landscapes

    for path in write_landscapes(env_ids, out, x=x, y=y, samples=samples, seed=seed):
        console.print(f"wrote {path}", highlight=False)


@app.command("agents")
def list_agents() -> None:
    """List the agents `llmconfig bench --agents` accepts by name."""
    from agents.zoo import ENTRY_POINT_GROUP, agent_names

    for name in agent_names():
        console.print(name, highlight=False)
    console.print(f"\nOr your own: module:Class, or an entry point in the group {ENTRY_POINT_GROUP!r}.",
                  highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
