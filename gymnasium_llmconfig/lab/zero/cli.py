"""``llmconfig zero``: LLMZero's schedule search (``run``) and its comparison with static baselines (``compare``).

The main CLI mounts :data:`zero_app`; heavy dependencies are imported only when a command runs.
"""

from __future__ import annotations

import typer

from gymnasium_llmconfig.lab.cli_errors import ReportingGroup

zero_app = typer.Typer(
    name="zero",
    help="LLMZero: search multi-stage GRPO schedules over live training runs (paper 003).",
    cls=ReportingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@zero_app.callback()
def _group() -> None:
    """LLMZero: search multi-stage GRPO schedules over live training runs (paper 003)."""
