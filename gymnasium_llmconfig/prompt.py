"""Text the env shows: the task prompt at reset and the feedback after each step.

The prompt has the paper's three parts: Task (description, optimization
target), Context (fidelity metadata, demonstrations, configuration space,
budget) and Instructions (the answer format). Everything is plain printable
ASCII so that it is a member of the env's ``Text`` observation space.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from gymnasium_llmconfig.card import TaskCard
from gymnasium_llmconfig.config_space import format_value
from gymnasium_llmconfig.parsing import TOOL_NAME

#: Characters of observations and actions: printable ASCII plus tab and newline.
CHARSET = frozenset(string.printable) - frozenset("\r\x0b\x0c")
_OUTSIDE_CHARSET = re.compile(r"[^\x20-\x7e\n\t]")


def to_charset(text: str) -> str:
    """Replace anything outside :data:`CHARSET` so observations stay in the space."""
    if text.isascii() and not _OUTSIDE_CHARSET.search(text):
        return text
    return _OUTSIDE_CHARSET.sub("?", text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out.

    Error messages quote the proposal; a 1 MB key must not make feedback too long for the Text space.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def format_mapping(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in values.items())


def render_prompt(card: TaskCard, space_text: str) -> str:
    task, fid = card.task, card.fidelity
    goal = "as low as possible" if task.direction == "minimize" else "as high as possible"
    metric_line = f"Optimization target: {task.metric_name} ({task.direction})"
    if task.metric_description:
        metric_line += f": {task.metric_description}"
    parts = [
        "# Task",
        f"{task.title}.",
        task.description,
        metric_line + f". Make it {goal}.",
        "",
        "# Context",
        f"Fidelity: {fid.name} (role: {fid.role}).",
    ]
    if fid.metadata:
        parts.append(f"Fidelity metadata: {format_mapping(fid.metadata)}.")
    if fid.description:
        parts.append(fid.description)
    for demo in card.demonstrations:
        parts.append("")
        parts.append(f"Results from a lower-fidelity experiment: {demo.fidelity.name} "
                     f"({format_mapping(demo.fidelity.metadata)}):")
        for rank, (config, value) in enumerate(demo.configs, start=1):
            parts.append(f"  {rank}. {card.space.canonical_text(config)} -> {task.metric_name} = {format_value(value)}")
    shown = ", ".join(f'"{n}": ...' for n in card.space.names[:4]) + (", ..." if len(card.space.names) > 4 else "")
    parts += [
        "",
        "Configuration space:",
        space_text,
        "",
        f"Budget: {card.budget} trial(s). Each trial runs one configuration and reports its result; "
        "a repeated or invalid configuration wastes the episode.",
        "",
        "# Instructions",
        "Think step by step about which configuration is most promising given the context and the "
        "results so far, then run it by calling the tool exactly once per turn:",
        f'{{"name": "{TOOL_NAME}", "arguments": {{{shown}}}}}',
        "A plain JSON object of parameter values is accepted too. Propose a different configuration in every trial.",
    ]
    return to_charset("\n".join(parts))
