"""Turn an agent's free text into a config proposal.

Accepted forms, anywhere in the text: a JSON object, a fenced ```json block,
or a tool call ``{"name": "exec_config", "arguments": {...}}`` (arguments may
also be a JSON string, as OpenAI-style APIs send them). When the text holds
several, the last one wins, so an agent may think aloud before answering.
Python-style dicts (single quotes, True/False) are accepted as a fallback.
Parsing never raises: failures come back as a message for the agent.
"""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass
from typing import Any

TOOL_NAME = "exec_config"
#: Only the tail of very long texts is scanned: the answer comes last, and this bounds the cost.
MAX_SCAN_CHARS = 20_000
_MAX_CANDIDATES = 512
#: The Python-literal fallback looks for a closing brace at most this far from an opening one...
_BRACE_WINDOW = 4000
#: ...and at most this many characters in all per action, so that text full of unclosed braces
#: (``{{{{...``) costs a few milliseconds, not 512 windows of 4,000 steps (0.2 s).
_BRACE_BUDGET = 20_000
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ParsedAction:
    """A config dict, or ``None`` with ``error`` saying what was wrong."""

    config: dict[str, Any] | None
    error: str | None = None
    form: str = ""  # "json" | "tool_call" | "python" | ""


def parse_action(text: Any) -> ParsedAction:
    """Extract the last config proposal from ``text``; never raises."""
    if not isinstance(text, str):
        return ParsedAction(None, f"the action must be text, got {type(text).__name__}")
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            return _from_object(json.loads(stripped), "json")
        except (ValueError, RecursionError):
            pass
    try:
        return _scan(text[-MAX_SCAN_CHARS:])
    except RecursionError:
        return ParsedAction(None, "the proposal is nested too deeply to read")


def _scan(text: str) -> ParsedAction:
    found: list[tuple[Any, str]] = []
    pos = text.find("{")
    attempts = 0
    brace_budget = _BRACE_BUDGET
    while pos != -1 and attempts < _MAX_CANDIDATES:
        attempts += 1
        obj, end, form, scanned = _decode_at(text, pos, min(_BRACE_WINDOW, brace_budget))
        brace_budget -= scanned
        if obj is not None:
            found.append((obj, form))
            pos = text.find("{", end)
        else:
            pos = text.find("{", pos + 1)
    for obj, form in reversed(found):
        parsed = _from_object(obj, form)
        if parsed.config is not None:
            return parsed
    if found:
        return _from_object(found[-1][0], found[-1][1])
    return ParsedAction(
        None,
        "no JSON object found; answer with a JSON object such as "
        '{"param": value, ...} or a tool call {"name": "exec_config", "arguments": {...}}',
    )


def _decode_at(text: str, pos: int, window: int) -> tuple[Any, int, str, int]:
    """(object or None, where to look next, form, characters the Python fallback scanned)."""
    try:
        obj, end = _DECODER.raw_decode(text, pos)
        return obj, end, "json", 0
    except ValueError:
        pass
    end = _matching_brace(text, pos, window)
    if end == -1:
        return None, pos + 1, "", window
    try:
        with warnings.catch_warnings():  # stray backslashes in free text are not the agent's problem
            warnings.simplefilter("ignore")
            obj = ast.literal_eval(text[pos : end + 1])
    except (ValueError, SyntaxError, MemoryError, TypeError, RecursionError):
        return None, pos + 1, "", end + 1 - pos
    return (obj, end + 1, "python", end + 1 - pos) if isinstance(obj, dict) else (None, pos + 1, "", end + 1 - pos)


def _matching_brace(text: str, start: int, window: int) -> int:
    """Index of the brace closing ``text[start]`` within ``window`` characters, or -1."""
    depth = 0
    quote = ""
    for i in range(start, min(len(text), start + window)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _from_object(obj: Any, form: str) -> ParsedAction:
    if not isinstance(obj, dict):
        return ParsedAction(None, "the proposal must be a JSON object mapping parameter names to values")
    call = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    if "arguments" in call or call.get("name") == TOOL_NAME:
        name = call.get("name")
        if name not in (None, TOOL_NAME):
            return ParsedAction(None, f"unknown tool {name!r}; the only tool is {TOOL_NAME!r}")
        args = call.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                return ParsedAction(None, f"the {TOOL_NAME} arguments are not valid JSON")
        if not isinstance(args, dict):
            return ParsedAction(None, f"the {TOOL_NAME} arguments must be a JSON object of parameter values")
        return ParsedAction(args, None, "tool_call")
    if len(obj) == 1 and isinstance(obj.get("config"), dict):
        return ParsedAction(obj["config"], None, form)
    if not obj:
        return ParsedAction(None, "the proposal is an empty object; give a value for every parameter")
    return ParsedAction(obj, None, form)
