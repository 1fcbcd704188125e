"""``llmconfig train``: the paper's Step 2 (trajectory simulation, policy distillation) and Step 3 (GRPO).

The main CLI mounts :data:`train_app`; heavy dependencies are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gymnasium_llmconfig.lab.cli_errors import ReportingGroup

train_app = typer.Typer(
    name="train",
    help="Train LLM agents on a suite's training envs (trajectories -> sft -> grpo).",
    cls=ReportingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@train_app.callback()
def _group() -> None:
    """Train LLM agents on a suite's training envs (trajectories -> sft -> grpo)."""


@train_app.command("grpo")
def grpo(
    suite: Annotated[str, typer.Option(help="Suite whose training pairs are played (`llmconfig suites`).")] = "l2h",
    model: Annotated[str, typer.Option(help="smollm2 (packaged), or a local Hugging Face model directory "
                                            "(e.g. the output of `train sft`).")] = "smollm2",
    out: Annotated[Path, typer.Option(help="Output: metrics.jsonl, metrics.png, resume state and the trained "
                                           "checkpoint; re-running with it resumes.")] = Path("runs/grpo"),
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="Training samples per step (paper: 64).")] = 64,
    group_size: Annotated[int, typer.Option(min=2, help="Rollouts per sample, G (paper: 5).")] = 5,
    budgets: Annotated[str, typer.Option(help="Interaction budgets of the samples, e.g. 1-5.")] = "1-5",
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (paper: 1e-6).")] = 1e-6,
    kl_coef: Annotated[float, typer.Option(min=0.0, help="Weight of the k3 KL to the reference policy.")] = 0.04,
    clip_eps: Annotated[float, typer.Option(min=0.0, help="PPO clip range.")] = 0.2,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of training rollouts.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Reply length limit per turn.")] = 512,
    lora: Annotated[bool, typer.Option(help="Train a LoRA adapter (peft) instead of every weight.")] = False,
    lora_rank: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    eval_every: Annotated[int, typer.Option(min=1, help="Evaluate on test envs and checkpoint every k steps.")]
    = 10,
    eval_envs: Annotated[int, typer.Option(min=0, help="Test pairs evaluated (0 = all).")] = 2,
    eval_seeds: Annotated[int, typer.Option(min=1, help="Seeds per test env and budget (regret mean@k).")] = 3,
    rollout_batch: Annotated[int, typer.Option(min=1, help="Episodes generated in lockstep; lower it when "
                                                           "memory runs out.")] = 16,
    micro_batch: Annotated[int, typer.Option(min=1, help="Sequences per forward/backward pass.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the sample order and sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu, cuda, cuda:1, ...")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (default: torch's).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Multi-turn GRPO (paper 000, §4.2.3) on the suite's training samples; writes a checkpoint `llm-prompt` loads."""
    from gymnasium_llmconfig.lab.leaderboard.runner import parse_budgets
    from gymnasium_llmconfig.lab.train.grpo import GRPOSettings, run_grpo

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    settings = GRPOSettings(
        suite=suite, model=model, steps=steps, batch_size=batch_size, group_size=group_size,
        budgets=tuple(parse_budgets(budgets)), lr=lr, kl_coef=kl_coef, clip_eps=clip_eps, temperature=temperature,
        max_new_tokens=max_new_tokens, lora=lora, lora_rank=lora_rank, eval_every=eval_every, eval_envs=eval_envs,
        eval_seeds=eval_seeds, rollout_batch=rollout_batch, micro_batch=micro_batch, seed=seed, device=device,
    )
    row = run_grpo(settings, out, progress=progress)
    regret = row.get("test_regret_mean3")
    typer.echo(f"Done: {row.get('step', 0)} steps in {out}; last critic score {row.get('critic_score_mean', 0):+.3f}"
               + ("" if regret is None else f", test regret mean@{eval_seeds} {regret:.3f}")
               + f". Play it: llmconfig bench --agents llm-prompt --agent-arg model={out}")
