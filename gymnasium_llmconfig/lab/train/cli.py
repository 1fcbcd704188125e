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


def _only_openrlhf(backend: str) -> None:
    if backend != "openrlhf":
        raise InvalidArgument(f"--backend {backend!r} is not available here; this command runs --backend openrlhf "
                              "(OpenRLHF on a Ray GPU cluster)")


Backend = Annotated[str, typer.Option(help="Where to train: openrlhf (OpenRLHF on a Ray GPU cluster).")]
Model = Annotated[str, typer.Option(help="The policy to train: a Hugging Face model id or local path.")]
Out = Annotated[Path, typer.Option(help="Output directory: OUT/openrlhf/ (job files), OUT/model, OUT/checkpoints.")]
Address = Annotated[str, typer.Option(help="Ray cluster: auto, HOST:PORT, ray://HOST:PORT or http://HOST:8265.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Write the job files, submit nothing.")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Any OpenRLHF flag as key=value "
                                                                   "(e.g. actor.adam.lr=2e-6); repeatable.")]


@train_app.command("grpo")
def grpo(
    model: Model,
    out: Out,
    backend: Backend = "openrlhf",
    suite: Annotated[str, typer.Option(help="Suite whose training samples are played (`llmconfig suites`).")] = "l2h",
    max_budget: Annotated[int, typer.Option(min=1, help="Each training sample is played at budgets 1..N.")] = 5,
    seeds: Annotated[int, typer.Option(min=1, help="Env reset seeds per (sample, budget): 0..N-1.")] = 1,
    top_k: Annotated[int, typer.Option(min=1, help="Demonstrations per lower-fidelity env in each prompt.")] = 5,
    address: Address = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Training samples per step (paper: 64).")] = 64,
    group_size: Annotated[int, typer.Option(min=2, help="Rollouts per sample, G (paper: 5).")] = 5,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (paper: 1e-6).")] = 1e-6,
    kl_coef: Annotated[float, typer.Option(min=0.0, help="Weight of the k3 KL loss to the reference.")] = 1e-3,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of rollouts.")] = 1.0,
    nodes: Annotated[int, typer.Option(min=1, help="Nodes for the actor and reference models.")] = 1,
    gpus_per_node: Annotated[int, typer.Option(min=1, help="GPUs per node (vLLM engines colocated).")] = 4,
    dry_run: DryRun = False,
    overrides: Overrides = None,
) -> None:
    """Multi-turn GRPO (paper 000, §4.2.3) of an LLM agent on a suite's training envs."""
    from gymnasium_llmconfig.lab.train.openrlhf.launch import GRPOSettings, launch_grpo

    _only_openrlhf(backend)
    settings = GRPOSettings(batch_size, group_size, lr, kl_coef, temperature)
    _report(launch_grpo(suite, model, out, address, dry_run, overrides or [], list(range(1, max_budget + 1)),
                        list(range(seeds)), top_k, nodes, gpus_per_node, settings), "prompts")


@train_app.command("sft")
def sft(
    model: Model,
    out: Out,
    data: Annotated[Path, typer.Option(help="Trajectories: JSON lines, each with a `messages` chat.")],
    backend: Backend = "openrlhf",
    address: Address = "auto",
    gpus_per_node: Annotated[int, typer.Option(min=1, help="GPUs of the one node that trains.")] = 4,
    dry_run: DryRun = False,
    overrides: Overrides = None,
) -> None:
    """Multi-turn SFT (policy distillation, paper 000, §4.2.2; loss on assistant turns only)."""
    from gymnasium_llmconfig.lab.train.openrlhf.launch import launch_sft

    _only_openrlhf(backend)
    _report(launch_sft(data, model, out, address, dry_run, overrides or [], gpus_per_node), "trajectories")


def _report(launch: Launch, what: str) -> None:
    files = ", ".join(path.name for path in launch.files)
    state = "Submitted" if launch.submitted else f"Dry run: nothing submitted; run {launch.files[-1]} to submit"
    typer.echo(f"Wrote {files} ({launch.samples} {what}) to {launch.directory}. {state}.")
    for note in launch.notes:
        typer.echo(f"note: {note}")
