"""``llmconfig train``: the paper's Step 2 (trajectory simulation, policy distillation) and Step 3 (GRPO).

The main CLI mounts :data:`train_app`; heavy dependencies are imported only when a command runs.
"""

from __future__ import annotations

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
