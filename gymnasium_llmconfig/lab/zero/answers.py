"""Reading a proposer's reply (paper 003 App. G.1's answer, as our JSON object) into a :class:`Proposal`.

Robust to what chat models do: prose or a ``<think>`` block around the object, code fences,
trailing commas, Python-style literals, numbers sent as strings. Unknown fields are ignored and a
checkpoint that was not offered is snapped to the nearest offered one; both are noted in the
diagnosis (so ``tree.json`` shows them). Values outside the allowed ranges are clamped by
``space.clamp_config`` and listed in ``Proposal.clamped``. Anything that cannot be read raises
:class:`AnswerError`, whose message is told to the model when the proposer retries.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.prompts import ANSWER_KEYS
from gymnasium_llmconfig.lab.zero.types import PhaseConfig, Proposal, ProposalContext
from gymnasium_llmconfig.parsing import parse_action

FIELDS = {f.name: f.type for f in fields(PhaseConfig)}
#: A phase may ask for at most this many times the default phase length (our bound: one proposal
#: cannot spend the search's budget on a single phase); values above are clamped and recorded.
MAX_STEPS_FACTOR = 3
_SCRATCH = ("scratch", "none", "null", "base", "from scratch", "")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class AnswerError(ValueError):
    """A reply that could not be read; the message says what was wrong (shown to the model on retry)."""


def drop_trailing_commas(text: str) -> str:
    """Remove commas that directly precede ``}`` or ``]`` outside strings (valid JSON never has them)."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                out.append(text[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == '"':
            quote = ch
        elif ch == ",":
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] in "}]":
                i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def extract_json_object(text: str) -> dict[str, Any]:
    """The answer object in a reply: the last one after any ``</think>`` (else the last one anywhere, for
    a reply cut off while thinking); :class:`AnswerError` if there is none."""
    if not isinstance(text, str):
        raise AnswerError(f"the reply must be text, got {type(text).__name__}")
    after = text.rsplit("</think>", 1)[-1]
    for body in (after, text) if after != text else (text,):
        obj = parse_action(drop_trailing_commas(body)).config
        if obj is not None and set(obj) & (set(ANSWER_KEYS) | set(FIELDS)):
            return obj
    if obj is None:
        raise AnswerError("no JSON object found in the reply")
    raise AnswerError(f"the JSON object has none of the keys {', '.join(ANSWER_KEYS)}")


def _number(label: str, value: Any) -> float:
    if isinstance(value, bool):
        raise AnswerError(f"{label} must be a number, got {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise AnswerError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise AnswerError(f"{label} must be a finite number, got {value!r}")
    return number


def coerce_value(name: str, value: Any) -> Any:
    """A proposed value as its field's type: booleans from true/false words, numbers from strings."""
    kind = FIELDS[name]
    if kind in (bool, "bool"):
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise AnswerError(f"changes.{name} must be true or false, got {value!r}")
    number = _number(f"changes.{name}", value)
    return round(number) if kind in (int, "int") else number


def nearest_checkpoint(target: float, checkpoints: list[int]) -> int:
    """The offered checkpoint closest to ``target`` (the earlier one on a tie)."""
    return min(checkpoints, key=lambda s: (abs(s - target), s))


def _checkpoint(raw: Any, ctx: ProposalContext, notes: list[str]) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _SCRATCH):
        return None
    try:
        step = _number("checkpoint", raw)
    except AnswerError:
        raise AnswerError(f'checkpoint must be one of the offered steps or "scratch", got {raw!r}') from None
    if ctx.mode == "scratch" or not ctx.checkpoints:
        notes.append(f"checkpoint {raw!r} ignored: none was offered, so the phase starts from scratch")
        return None
    chosen = nearest_checkpoint(step, ctx.checkpoints)
    if chosen != step:
        notes.append(f"checkpoint {raw!r} was not offered; snapped to {chosen}")
    return chosen


def _steps(raw: Any, ctx: ProposalContext, clamped: list[str]) -> int:
    if raw is None:
        return ctx.default_steps
    steps = round(_number("steps", raw))
    bounded = min(max(steps, 1), MAX_STEPS_FACTOR * ctx.default_steps)
    if bounded != steps:
        clamped.append("steps")
    return bounded


def changes_between(old: PhaseConfig, new: PhaseConfig) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field that differs (the ``Proposal.changes`` record)."""
    before, after = old.to_dict(), new.to_dict()
    return {k: [before[k], after[k]] for k in before if before[k] != after[k]}


def read_answer(obj: dict[str, Any], ctx: ProposalContext, *, default_checkpoint: int | None,
                source: str = "llm", parse_failures: int = 0) -> Proposal:
    """The proposal an answer object describes, relative to ``ctx.parent_config``.

    A missing ``changes`` with config fields at the top level is read as the changes (models often
    flatten the object); a missing ``checkpoint`` takes ``default_checkpoint``; missing ``steps`` the default.
    """
    raw_changes = obj.get("changes")
    if raw_changes is None:
        raw_changes = {k: v for k, v in obj.items() if k in FIELDS}
    if not isinstance(raw_changes, dict):
        raise AnswerError(f'"changes" must be an object mapping field names to values, got {raw_changes!r}')
    notes: list[str] = []
    ignored = sorted(str(k) for k in raw_changes if k not in FIELDS)
    if ignored:
        notes.append("ignored unknown fields: " + ", ".join(ignored))
    merged = ctx.parent_config.to_dict()
    merged.update({k: coerce_value(k, v) for k, v in raw_changes.items() if k in FIELDS})
    config, clamped = space.clamp_config(merged)
    resume = _checkpoint(obj["checkpoint"], ctx, notes) if "checkpoint" in obj else (
        None if ctx.mode == "scratch" else default_checkpoint)
    steps = _steps(obj.get("steps"), ctx, clamped)
    diagnosis = str(obj.get("diagnosis") or "").strip()
    if notes:
        diagnosis = f"{diagnosis} [{'; '.join(notes)}]".strip()
    return Proposal(config=config, resume_step=resume, steps=steps, diagnosis=diagnosis,
                    changes=changes_between(ctx.parent_config, config), clamped=clamped, source=source,
                    parse_failures=parse_failures)
