"""``llmconfig collect``: run real training sweeps and write tables the registry can serve.

The main CLI mounts :data:`collect_app` as ``llmconfig collect``; it also runs
on its own with ``python -m gymnasium_llmconfig.lab.collect.cli``. Torch is imported
only when a command runs, so mounting this app keeps ``llmconfig`` usable
without the training extras.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from gymnasium_llmconfig.lab.cli_errors import ReportingGroup, fail

collect_app = typer.Typer(
    name="collect",
    help="Collect real LLM training sweeps into tables (one row per run).",
    cls=ReportingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@collect_app.callback()
def _group() -> None:
    """Collect real LLM training sweeps into tables (one row per run)."""


_SPEC = typer.Option("--spec", help="Sweep spec YAML (grid, fidelities, task text).")
_OUT = typer.Option("--out", help="Output directory; rerunning with the same one resumes.")
_DEVICE = typer.Option("--device", help="cpu or cuda.")
_WORKERS = typer.Option("--workers", min=1, help="Parallel runs; > 1 fans out through Ray.")
_THREADS = typer.Option("--threads", min=1, help="Torch CPU threads per run.")


def _with_progress(name: str, total: int, describe: Callable[[dict[str, Any]], str],
                   collect: Callable[..., Any]) -> None:
    """Run ``collect(on_start=..., on_result=...)`` under a progress bar; print one line per finished run."""
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(name, total=None)

        def on_start(skipped: int) -> None:  # the bar (and its ETA) counts only runs still to do
            progress.update(bar, total=total - skipped, description=f"{name} ({skipped}/{total} done before)")

        def on_result(rid: str, rec: dict[str, Any]) -> None:
            progress.advance(bar)
            progress.console.print(f"{rid} {describe(rec)} ({rec['wall_time_s']:.1f}s)", highlight=False)

        summary = collect(on_start=on_start, on_result=on_result, console=progress.console)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "no rows"
    console.print(
        f"{summary.total} runs: {summary.skipped} already done, {summary.ran} ran; table: {counts}; "
        f"wrote {summary.out}/runs.csv and registry.yaml",
        highlight=False,
    )


def _needs_torch(exc: ImportError) -> typer.Exit:
    return fail(f"llmconfig collect needs PyTorch ({exc}); pip install torch")


@collect_app.command()
def pretrain(
    spec: Annotated[Path, _SPEC],
    out: Annotated[Path, _OUT],
    device: Annotated[str, _DEVICE] = "cpu",
    workers: Annotated[int, _WORKERS] = 1,
    threads: Annotated[int, _THREADS] = 1,
) -> None:
    """Pretrain tiny GPT models over the spec's grid; write runs.jsonl, runs.csv and registry.yaml."""
    try:
        from gymnasium_llmconfig.lab.collect.sweep import collect, load_spec
    except ImportError as exc:
        raise _needs_torch(exc) from None
    sweep = load_spec(spec)

    def describe(rec: dict[str, Any]) -> str:
        loss = rec["final_loss"] if rec["final_loss"] is not None else rec["error"]
        return f"{rec['model']} D={rec['tokens']} lr={rec['lr']:g} bs={rec['batch_size']}: {rec['status']} loss={loss}"

    def run(console: Console, **progress: Any) -> Any:
        return collect(sweep, out, device=device, workers=workers, threads=threads, **progress)

    _with_progress("pretrain", len(sweep.runs()), describe, run)


@collect_app.command()
def grpo(
    spec: Annotated[Path, _SPEC],
    out: Annotated[Path, _OUT],
    device: Annotated[str, _DEVICE] = "cpu",
    workers: Annotated[int, _WORKERS] = 1,
    threads: Annotated[int, _THREADS] = 1,
) -> None:
    """GRPO-train SFT-warmed tiny policies on verifiable tasks over the spec's grid; write runs.csv, table.csv
    (mean over seeds, what the envs serve) and registry.yaml."""
    try:
        from gymnasium_llmconfig.lab.grpo.sweep import collect, load_spec
    except ImportError as exc:
        raise _needs_torch(exc) from None
    sweep = load_spec(spec)

    def describe(rec: dict[str, Any]) -> str:
        acc = rec["test_accuracy"] if rec["test_accuracy"] is not None else rec["error"]
        return (f"{rec['fidelity']} lr={rec['lr']:g} bs={rec['batch_size']} kl={rec['kl_coef']:g} "
                f"seed={rec['seed']}: {rec['status']} acc={acc} (from {rec['initial_accuracy']})")

    def run(console: Console, **progress: Any) -> Any:
        def on_base(key: str, base: dict[str, Any]) -> None:
            console.print(f"base policy {key}: {base['sft_steps']} SFT steps, test accuracy "
                          f"{base['initial_accuracy']}", highlight=False)

        return collect(sweep, out, device=device, workers=workers, threads=threads, on_base=on_base, **progress)

    _with_progress("grpo", len(sweep.runs()), describe, run)


if __name__ == "__main__":
    collect_app()
