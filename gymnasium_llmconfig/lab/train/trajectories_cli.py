"""The body of ``llmconfig train trajectories``: build the generator, run with a progress bar."""

from __future__ import annotations

import warnings
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from gymnasium_llmconfig.budget import parse_budgets
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.train import trajectories as traj

console = Console()


def _generator(suite: traj.Suite, teacher: str, model: str | None, base_url: str | None, rollouts: int,
               temperature: float, max_new_tokens: int) -> object:
    if model is None:
        if base_url is not None:
            raise InvalidArgument("--base-url needs --model (the served model's name)")
        from agents.zoo import resolve_agent

        resolve_agent(teacher)  # an unknown name fails here, before any env is built
        return traj.ScriptedTeacher(teacher, suite)
    from agents.llm.backend import make_backend

    if base_url is not None:
        backend, name = make_backend("openai", model=model, base_url=base_url), f"openai:{model}"
    else:
        backend = make_backend("transformers", model=model)
        name = f"transformers:{backend.model_id}"
    return traj.ChatGenerator(backend, name, rollouts=rollouts, temperature=temperature,
                              max_new_tokens=max_new_tokens)


def run_trajectories(*, suite: str, teacher: str, model: str | None, base_url: str | None, rollouts: int,
                     temperature: float, max_new_tokens: int, budgets: str, seeds: int, out: Path,
                     progress: bool) -> Path:
    resolved = resolve_suite(suite)
    generator = _generator(resolved, teacher, model, base_url, rollouts, temperature, max_new_tokens)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), disable=not progress)
    with bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = bar.add_task(f"trajectories ({generator.name})", total=None)
        path = traj.run(generator, resolved, out, parse_budgets(budgets), list(range(seeds)),
                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"Done. {path} holds {len(traj.read_jsonl(path))} trajectories of suite {suite!r}.",
                  highlight=False)
    return path
