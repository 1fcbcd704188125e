"""``llmconfig collect``: run real training sweeps and write tables the registry can serve.

The main CLI mounts :data:`collect_app` as ``llmconfig collect``; it also runs
on its own with ``python -m gymnasium_llmconfig.lab.collect.cli``. Torch is imported
only when a command runs, so mounting this app keeps ``llmconfig`` usable
without the training extras.
"""

from __future__ import annotations

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


@collect_app.command()
def pretrain(
    spec: Annotated[Path, typer.Option("--spec", help="Sweep spec YAML (grid, corpus, task text).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory; rerunning with the same one resumes.")],
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel runs; > 1 fans out through Ray.")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Torch CPU threads per run.")] = 1,
) -> None:
    """Pretrain tiny GPT models over the spec's grid; write runs.jsonl, runs.csv and registry.yaml."""
    console = Console(stderr=True)
    try:
        from gymnasium_llmconfig.lab.collect.sweep import collect, load_spec
    except ImportError as exc:
        raise fail(f"llmconfig collect needs PyTorch ({exc}); pip install torch") from None
    sweep = load_spec(spec)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("pretrain", total=None)
        total = len(sweep.runs())

        def on_start(skipped: int) -> None:  # the bar (and its ETA) counts only runs still to do
            progress.update(bar, total=total - skipped, description=f"pretrain ({skipped}/{total} done before)")

        def on_result(rid: str, rec: dict[str, Any]) -> None:
            progress.advance(bar)
            loss = rec["final_loss"] if rec["final_loss"] is not None else rec["error"]
            progress.console.print(
                f"{rid} {rec['model']} D={rec['tokens']} lr={rec['lr']:g} bs={rec['batch_size']}: "
                f"{rec['status']} loss={loss} ({rec['wall_time_s']:.1f}s)",
                highlight=False,
            )

        summary = collect(
            sweep, out, device=device, workers=workers, threads=threads, on_start=on_start, on_result=on_result
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "no rows"
    console.print(
        f"{summary.total} runs: {summary.skipped} already done, {summary.ran} ran; table: {counts}; "
        f"wrote {summary.out}/runs.csv and registry.yaml",
        highlight=False,
    )


if __name__ == "__main__":
    collect_app()
