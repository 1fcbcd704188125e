"""``llmconfig train``: the paper's Step 2 (trajectory simulation, policy distillation) and Step 3 (GRPO).

The main CLI mounts :data:`train_app`; heavy dependencies are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.cli_errors import ReportingGroup

if TYPE_CHECKING:
    from gymnasium_llmconfig.lab.train.openrlhf.launch import Launch

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


LOCAL, CLUSTER = "Local trainer", "OpenRLHF cluster"  # --help panels
Backend = Annotated[str, typer.Option(help="Where to train: local (this machine, CPU or one GPU) or openrlhf "
                                             "(OpenRLHF on a Ray GPU cluster).")]
Address = Annotated[str, typer.Option(help="Ray cluster: auto, HOST:PORT, ray://HOST:PORT or http://HOST:8265.",
                                      rich_help_panel=CLUSTER)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Write the job files, submit nothing.",
                                      rich_help_panel=CLUSTER)]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Any OpenRLHF flag as key=value "
                                                                   "(e.g. actor.adam.lr=2e-6); repeatable.",
                                                     rich_help_panel=CLUSTER)]
GPUsPerNode = Annotated[int, typer.Option(min=1, help="GPUs per node (vLLM engines colocated).",
                                          rich_help_panel=CLUSTER)]
BACKENDS = ("local", "openrlhf")


def _backend(backend: str, model: str, cluster_only: dict[str, bool]) -> str:
    """The backend, refusing options of the other one and a model the cluster cannot load, before any work."""
    from agents.llm.models import DEFAULT_NAMES

    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise InvalidArgument(f"--backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if backend == "local":
        given = [flag for flag, used in cluster_only.items() if used]
        if given:
            raise InvalidArgument(f"{', '.join(given)} only apply to --backend openrlhf (a Ray GPU cluster); drop "
                                  "them, or add --backend openrlhf")
    elif model.strip().lower() in DEFAULT_NAMES:
        raise InvalidArgument("--backend openrlhf loads the policy with Hugging Face on the cluster: pass --model as "
                              "a hub id or a directory the cluster can read (e.g. Qwen/Qwen3-4B); the packaged "
                              "smollm2 is a GGUF file inside a Python package")
    return backend


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



@train_app.command("grpo")
def grpo(
    suite: Annotated[str, typer.Option(help="Suite whose training pairs are played (`llmconfig suites`).")] = "l2h",
    model: Annotated[str, typer.Option(help="smollm2 (packaged), a local Hugging Face model directory (e.g. the "
                                            "output of `train sft`), or a hub id in the local cache; with "
                                            "--backend openrlhf, any id the cluster can load.")] = "smollm2",
    out: Annotated[Path, typer.Option(help="Output: metrics.jsonl, metrics.png, resume state and the trained "
                                           "checkpoint (local), or OUT/openrlhf/ job files (openrlhf); re-running "
                                           "with it resumes.")] = Path("runs/grpo"),
    backend: Backend = "local",
    budgets: Annotated[str, typer.Option(help="Interaction budgets of the samples, e.g. 1-5.")] = "1-5",
    batch_size: Annotated[int, typer.Option(min=1, help="Training samples per step (paper: 64).")] = 64,
    group_size: Annotated[int, typer.Option(min=2, help="Rollouts per sample, G (paper: 5).")] = 5,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (paper: 1e-6).")] = 1e-6,
    kl_coef: Annotated[float, typer.Option(min=0.0, help="Weight of the k3 KL to the reference policy (the paper "
                                                         "does not state it; 1e-3 is verl's default).")] = 1e-3,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of training rollouts.")] = 1.0,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.", rich_help_panel=LOCAL)] = 100,
    clip_eps: Annotated[float, typer.Option(min=0.0, help="PPO clip range.", rich_help_panel=LOCAL)] = 0.2,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Reply length limit per turn.",
                                                rich_help_panel=LOCAL)] = 512,
    lora: Annotated[bool, typer.Option(help="Train a LoRA adapter (peft) instead of every weight.",
                                       rich_help_panel=LOCAL)] = False,
    lora_rank: Annotated[int, typer.Option(min=1, help="LoRA rank.", rich_help_panel=LOCAL)] = 16,
    eval_every: Annotated[int, typer.Option(min=1, help="Evaluate on test envs and checkpoint every k steps.",
                                            rich_help_panel=LOCAL)] = 10,
    eval_envs: Annotated[int, typer.Option(min=0, help="Test pairs evaluated (0 = all).", rich_help_panel=LOCAL)] = 2,
    eval_seeds: Annotated[int, typer.Option(min=1, help="Seeds per test env and budget (regret mean@k).",
                                            rich_help_panel=LOCAL)] = 3,
    rollout_batch: Annotated[int, typer.Option(min=1, help="Episodes generated in lockstep; lower it when memory "
                                                           "runs out.", rich_help_panel=LOCAL)] = 16,
    micro_batch: Annotated[int, typer.Option(min=1, help="Sequences per forward/backward pass.",
                                             rich_help_panel=LOCAL)] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the sample order and sampling.", rich_help_panel=LOCAL)] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu, cuda, cuda:1, ...",
                                        rich_help_panel=LOCAL)] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (default: torch's).",
                                                rich_help_panel=LOCAL)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.", rich_help_panel=LOCAL)] = True,
    seeds: Annotated[int, typer.Option(min=1, help="Env reset seeds per (sample, budget): 0..N-1.",
                                       rich_help_panel=CLUSTER)] = 1,
    top_k: Annotated[int, typer.Option(min=1, help="Demonstrations per lower-fidelity env in each prompt.",
                                       rich_help_panel=CLUSTER)] = 5,
    address: Address = "auto",
    nodes: Annotated[int, typer.Option(min=1, help="Nodes for the actor and reference models.",
                                       rich_help_panel=CLUSTER)] = 1,
    gpus_per_node: GPUsPerNode = 4,
    dry_run: DryRun = False,
    overrides: Overrides = None,
) -> None:
    """Multi-turn GRPO (paper 000, §4.2.3) on the suite's training samples: locally (a checkpoint `llm-prompt` loads)
    or on a Ray GPU cluster through OpenRLHF."""
    from gymnasium_llmconfig.budget import parse_budgets

    chosen = _backend(backend, model, {"--dry-run": dry_run, "--set": bool(overrides)})
    budget_list = parse_budgets(budgets)
    if chosen == "openrlhf":
        from gymnasium_llmconfig.lab.train.openrlhf.launch import GRPOSettings as ClusterSettings
        from gymnasium_llmconfig.lab.train.openrlhf.launch import launch_grpo

        settings = ClusterSettings(batch_size, group_size, lr, kl_coef, temperature)
        _report(launch_grpo(suite, model, out, address, dry_run, overrides or [], budget_list, list(range(seeds)),
                            top_k, nodes, gpus_per_node, settings), "prompts")
        return
    from gymnasium_llmconfig.lab.train.grpo import GRPOSettings, run_grpo

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    settings = GRPOSettings(
        suite=suite, model=model, steps=steps, batch_size=batch_size, group_size=group_size,
        budgets=tuple(budget_list), lr=lr, kl_coef=kl_coef, clip_eps=clip_eps, temperature=temperature,
        max_new_tokens=max_new_tokens, lora=lora, lora_rank=lora_rank, eval_every=eval_every, eval_envs=eval_envs,
        eval_seeds=eval_seeds, rollout_batch=rollout_batch, micro_batch=micro_batch, seed=seed, device=device,
    )
    row = run_grpo(settings, out, progress=progress)
    regret = row.get("test_regret_mean3")
    typer.echo(f"Done: {row.get('step', 0)} steps in {out}; last critic score {row.get('critic_score_mean', 0):+.3f}"
               + ("" if regret is None else f", test regret mean@{eval_seeds} {regret:.3f}")
               + f". Play it: llmconfig bench --agents llm-prompt --agent-arg model={out}")


@train_app.command("sft")
def sft(
    trajectories: Annotated[list[Path], typer.Option(help="trajectories.jsonl written by `llmconfig train "
                                                         "trajectories` (JSON lines, each with a `messages` chat); "
                                                         "repeatable (one file with --backend openrlhf).")],
    model: Annotated[str, typer.Option(help="Base model: `smollm2` (packaged), a local model directory, or a hub "
                                            "name already in the local cache; with --backend openrlhf, any id the "
                                            "cluster can load.")] = "smollm2",
    out: Annotated[Path, typer.Option(help="Checkpoint directory (what `llm-prompt` loads with model=OUT); "
                                           "re-running resumes. With --backend openrlhf: OUT/openrlhf/ (job files), "
                                           "OUT/model, OUT/checkpoints.")] = Path("runs/sft"),
    backend: Backend = "local",
    suite: Annotated[str, typer.Option(help="The suite the trajectories must come from.",
                                       rich_help_panel=LOCAL)] = "l2h",
    budgets: Annotated[str | None, typer.Option(help="Train only on trajectories at these budgets (1-5, 1,3,5).",
                                                rich_help_panel=LOCAL)] = None,
    max_trajectories: Annotated[int | None, typer.Option(min=1, help="At most this many trajectories, spread over "
                                                                     "envs and budgets.", rich_help_panel=LOCAL)]
    = None,
    lora: Annotated[bool, typer.Option(help="LoRA (peft) instead of full fine-tuning; merged at the end.",
                                       rich_help_panel=LOCAL)] = False,
    lora_r: Annotated[int, typer.Option(min=1, help="LoRA rank.", rich_help_panel=LOCAL)] = 16,
    lora_alpha: Annotated[int, typer.Option(min=1, help="LoRA alpha.", rich_help_panel=LOCAL)] = 32,
    epochs: Annotated[float, typer.Option(min=0.0, help="Passes over the trajectories.", rich_help_panel=LOCAL)]
    = 2.0,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (cosine schedule).",
                                      rich_help_panel=LOCAL)] = 1e-4,
    batch_size: Annotated[int, typer.Option(min=1, help="Trajectories per forward pass.", rich_help_panel=LOCAL)]
    = 1,
    grad_accum: Annotated[int, typer.Option(min=1, help="Forward passes per optimizer step.",
                                            rich_help_panel=LOCAL)] = 8,
    max_length: Annotated[int, typer.Option(min=16, help="Tokens per trajectory (longer ones are cut).",
                                            rich_help_panel=LOCAL)] = 4096,
    seed: Annotated[int, typer.Option(help="Seed of the trainer and of --max-trajectories' choice.",
                                      rich_help_panel=LOCAL)] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present, bf16), cpu (fp32), cuda.",
                                        rich_help_panel=LOCAL)] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads on CPU.", rich_help_panel=LOCAL)] = None,
    save_steps: Annotated[int, typer.Option(min=1, help="Optimizer steps between resume checkpoints "
                                                        "(each holds weights and optimizer state).",
                                            rich_help_panel=LOCAL)] = 10,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.", rich_help_panel=LOCAL)] = True,
    address: Address = "auto",
    gpus_per_node: GPUsPerNode = 4,
    dry_run: DryRun = False,
    overrides: Overrides = None,
) -> None:
    """Step 2b (paper §4.2.2): multi-turn SFT with the loss on the assistant's tokens only, locally or through
    OpenRLHF on a Ray GPU cluster."""
    if _backend(backend, model, {"--dry-run": dry_run, "--set": bool(overrides)}) == "openrlhf":
        from gymnasium_llmconfig.lab.train.openrlhf.launch import launch_sft

        if len(trajectories) != 1:
            raise InvalidArgument(f"--backend openrlhf trains on one --trajectories file, got {len(trajectories)}; "
                                  "concatenate them first (cat a.jsonl b.jsonl > all.jsonl)")
        _report(launch_sft(trajectories[0], model, out, address, dry_run, overrides or [], gpus_per_node),
                "trajectories")
        return
    from gymnasium_llmconfig.lab.train.sft_cli import run_sft

    run_sft(trajectories=trajectories, model=model, out=out, suite=suite, budgets=budgets,
            max_trajectories=max_trajectories, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs,
            lr=lr, batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, seed=seed, device=device,
            threads=threads, save_steps=save_steps, progress=progress)


def _report(launch: Launch, what: str) -> None:
    files = ", ".join(path.name for path in launch.files)
    state = "Submitted" if launch.submitted else f"Dry run: nothing submitted; run {launch.files[-1]} to submit"
    typer.echo(f"Wrote {files} ({launch.samples} {what}) to {launch.directory}. {state}.")
    for note in launch.notes:
        typer.echo(f"note: {note}")
