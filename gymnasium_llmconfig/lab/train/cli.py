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


@train_app.command("trajectories")
def trajectories(
    suite: Annotated[str, typer.Option(help="Suite whose training samples are played (`llmconfig suites`).")] = "l2h",
    teacher: Annotated[str, typer.Option(help="Scripted teacher: a zoo agent (`llmconfig agents`) whose proposals "
                                              "are written as chats ending at the env's best config.")]
    = "fidelity-transfer",
    model: Annotated[str | None, typer.Option(help="Use a chat model as generator instead of the teacher: "
                                                   "`smollm2`, a local model directory, a cached hub name, or "
                                                   "with --base-url a served model name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint serving --model "
                                                      "(key from $OPENAI_API_KEY).")] = None,
    rollouts: Annotated[int, typer.Option(min=1, help="Chat generator: rollouts sampled per sample.")] = 20,
    temperature: Annotated[float, typer.Option(min=0.0, help="Chat generator: sampling temperature.")] = 0.8,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Chat generator: reply length limit.")] = 512,
    budgets: Annotated[str, typer.Option(help="Budgets, e.g. 1-5 or 1,3,5.")] = "1-5",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per (sample, budget): 0..N-1.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory; re-running with it resumes.")] = Path("runs/traj"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Step 2a (paper §4.2.2): simulate successful trajectories on the suite's training samples."""
    from gymnasium_llmconfig.lab.train.trajectories_cli import run_trajectories

    run_trajectories(suite=suite, teacher=teacher, model=model, base_url=base_url, rollouts=rollouts,
                     temperature=temperature, max_new_tokens=max_new_tokens, budgets=budgets, seeds=seeds,
                     out=out, progress=progress)


@train_app.command("sft")
def sft(
    trajectories: Annotated[list[Path], typer.Option(help="trajectories.jsonl written by `llmconfig train "
                                                         "trajectories`; repeatable.")],
    model: Annotated[str, typer.Option(help="Base model: `smollm2` (packaged), a local model directory, or a hub "
                                            "name already in the local cache.")] = "smollm2",
    out: Annotated[Path, typer.Option(help="Checkpoint directory (what `llm-prompt` loads with model=OUT); "
                                           "re-running resumes.")] = Path("runs/sft"),
    suite: Annotated[str, typer.Option(help="The suite the trajectories must come from.")] = "l2h",
    budgets: Annotated[str | None, typer.Option(help="Train only on trajectories at these budgets (1-5, 1,3,5).")]
    = None,
    max_trajectories: Annotated[int | None, typer.Option(min=1, help="At most this many trajectories, spread over "
                                                                     "envs and budgets.")] = None,
    lora: Annotated[bool, typer.Option(help="LoRA (peft) instead of full fine-tuning; merged at the end.")] = False,
    lora_r: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    lora_alpha: Annotated[int, typer.Option(min=1, help="LoRA alpha.")] = 32,
    epochs: Annotated[float, typer.Option(min=0.0, help="Passes over the trajectories.")] = 2.0,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (cosine schedule).")] = 1e-4,
    batch_size: Annotated[int, typer.Option(min=1, help="Trajectories per forward pass.")] = 1,
    grad_accum: Annotated[int, typer.Option(min=1, help="Forward passes per optimizer step.")] = 8,
    max_length: Annotated[int, typer.Option(min=16, help="Tokens per trajectory (longer ones are cut).")] = 4096,
    seed: Annotated[int, typer.Option(help="Seed of the trainer and of --max-trajectories' choice.")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present, bf16), cpu (fp32), cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads on CPU.")] = None,
    save_steps: Annotated[int, typer.Option(min=1, help="Optimizer steps between resume checkpoints "
                                                        "(each holds weights and optimizer state).")] = 10,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Step 2b (paper §4.2.2): multi-turn SFT with the loss on the assistant's tokens only."""
    from gymnasium_llmconfig.lab.train.sft_cli import run_sft

    run_sft(trajectories=trajectories, model=model, out=out, suite=suite, budgets=budgets,
            max_trajectories=max_trajectories, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs,
            lr=lr, batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, seed=seed, device=device,
            threads=threads, save_steps=save_steps, progress=progress)


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
