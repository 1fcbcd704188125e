"""One place where the command line turns a user error into its one-line message and exit code 2.

Every ``llmconfig`` app (the main one and ``collect``, also when run on its
own) is built on :class:`ReportingGroup`; a command that meets bad input
raises an :class:`~gymnasium_llmconfig.errors.LLMConfigError` (or calls
:func:`fail`) instead of catching and printing errors itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from gymnasium_llmconfig.errors import LLMConfigError

if TYPE_CHECKING:  # typer >= 0.2x vendors click and no longer installs it
    import click

#: Exit code of a user error, as click uses for usage errors.
USER_ERROR = 2

_stderr = Console(stderr=True)


def fail(message: str, code: int = USER_ERROR) -> typer.Exit:
    """Print a user-facing error (no traceback) and return the exit to raise."""
    _stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # "[bench]" is text, not markup
    return typer.Exit(code)


class ReportingGroup(TyperGroup):
    """A Typer group whose commands' :class:`LLMConfigError` become ``error: <message>`` and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LLMConfigError as exc:
            raise fail(str(exc)) from None
