"""The body of ``llmconfig train sft``: the recipe from the options, training, a one-line summary."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from gymnasium_llmconfig.budget import parse_budgets
from gymnasium_llmconfig.lab.train.sft import RECIPE, SFTRecipe, train_sft

console = Console()


def run_sft(*, trajectories: Sequence[Path], model: str, out: Path, suite: str, budgets: str | None,
            max_trajectories: int | None, lora: bool, lora_r: int, lora_alpha: int, epochs: float, lr: float,
            batch_size: int, grad_accum: int, max_length: int, seed: int, device: str, threads: int | None,
            save_steps: int, progress: bool) -> Path:
    recipe = SFTRecipe(
        trajectories=tuple(str(p) for p in trajectories), suite=suite, model=model,
        budgets=None if budgets is None else tuple(parse_budgets(budgets)), max_trajectories=max_trajectories,
        lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs, learning_rate=lr, batch_size=batch_size,
        grad_accum=grad_accum, max_length=max_length, seed=seed, device=device, threads=threads,
        save_steps=save_steps,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = train_sft(recipe, out, progress=progress)
    stats = json.loads((path / RECIPE).read_text())["stats"]
    console.print(f"Done. Checkpoint in {path} ({stats['trajectories']} trajectories, {stats['steps']} steps, "
                  f"loss {stats['loss_first']} -> {stats['loss_last']}); play it with "
                  f"`llmconfig bench --agents llm-prompt --agent-arg model={path}`.", highlight=False)
    return path
