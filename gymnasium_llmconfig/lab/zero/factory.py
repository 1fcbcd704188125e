"""Proposers and early stoppers by name, configured from ``--agent-arg key=value`` pairs.

One set of agent args serves both factories (the LLM proposer and the LLM stopper share the chat
backend's options), so a key is checked against everything any of them accepts: a key nobody knows
is an :class:`InvalidArgument` that lists the known ones; each factory takes the keys it uses.
Values may be text (as typed) or already parsed (``leaderboard.runner.parse_agent_args``); they are
converted to each option's type, read from the constructor's default.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from typing import Any

from agents.llm.backend import BACKENDS, ChatBackend, make_backend
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.types import EarlyStopper, Proposer

PROPOSERS = ("heuristic", "llm")
STOPPERS = ("extrapolation", "llm", "none")
#: Keys that pick and configure the chat backend itself (the rest go to its constructor).
BACKEND_KEYS = ("backend", "model")
#: Constructor arguments that are wiring, not options a user sets.
_NOT_OPTIONS = {"self", "backend", "fallback", "sleep", "model"}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _backend_class(kind: str) -> type:
    if kind == "openai":
        from agents.llm.openai_chat import OpenAIBackend

        return OpenAIBackend
    from agents.llm.hf import TransformersBackend

    return TransformersBackend


def _extrapolation_class() -> type:
    from gymnasium_llmconfig.lab.zero.stopper import ExtrapolationStopper

    return ExtrapolationStopper


def _llm_classes() -> tuple[type, type]:
    from gymnasium_llmconfig.lab.zero.llm_stopper import LLMStopper
    from gymnasium_llmconfig.lab.zero.proposer import LLMProposer

    return LLMProposer, LLMStopper


def _options(cls: type) -> dict[str, Any]:
    """``{name: default}`` of ``cls``'s keyword options."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.name not in _NOT_OPTIONS and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def known_keys() -> list[str]:
    """Every agent-arg key some proposer, stopper or backend accepts."""
    classes = [*_llm_classes(), _backend_class("openai"), _backend_class("transformers")]
    with contextlib.suppress(ImportError):  # zeroengine's stopper not merged yet: its options are unknown
        classes.append(_extrapolation_class())
    keys = set(BACKEND_KEYS)
    for cls in classes:
        keys.update(_options(cls))
    return sorted(keys)


def check_args(args: Mapping[str, Any]) -> None:
    unknown = sorted(set(args) - set(known_keys()))
    if unknown:
        raise InvalidArgument(f"unknown --agent-arg key(s) {', '.join(unknown)}; known keys: "
                              f"{', '.join(known_keys())}")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (text from the command line becomes a number or a flag)."""
    if not isinstance(value, str) or default is None or default is inspect.Parameter.empty:
        return value
    text = value.strip()
    try:
        if isinstance(default, bool):
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[type(default)]
        raise InvalidArgument(f"--agent-arg {key}={value!r}: expected {expected}") from None
    return value


def _kwargs(cls: type, args: Mapping[str, Any]) -> dict[str, Any]:
    options = _options(cls)
    return {k: _coerce(k, v, options[k]) for k, v in args.items() if k in options}


def build_backend(args: Mapping[str, Any]) -> ChatBackend:
    """The chat backend the args name (``backend=transformers|openai``, ``model=...``, its own options)."""
    kind = str(args.get("backend", "transformers")).strip().lower()
    if kind not in BACKENDS:
        raise InvalidArgument(f"--agent-arg backend={kind!r} is not a chat backend; choose one of "
                              f"{', '.join(BACKENDS)}")
    kwargs = _kwargs(_backend_class(kind), args)
    if "model" in args:
        kwargs["model"] = args["model"]
    return make_backend(kind, **kwargs)


def _unknown_kind(what: str, kind: str, choices: tuple[str, ...]) -> InvalidArgument:
    return InvalidArgument(f"unknown {what} {kind!r}; choose one of {', '.join(choices)}")


def make_proposer(kind: str, args: Mapping[str, Any] | None = None) -> Proposer:
    """``heuristic`` or ``llm`` (the latter builds its chat backend from ``args``)."""
    args = dict(args or {})
    check_args(args)
    if kind == "heuristic":
        from gymnasium_llmconfig.lab.zero.proposer import HeuristicProposer

        return HeuristicProposer()
    if kind == "llm":
        proposer_cls, _ = _llm_classes()
        kwargs = _kwargs(proposer_cls, args)
        if kwargs.get("images") and str(args.get("backend", "transformers")).lower() != "openai":
            raise InvalidArgument("--agent-arg images=true needs backend=openai (an OpenAI-compatible endpoint "
                                  "serving a vision model); the local backend reads text only")
        return proposer_cls(build_backend(args), **kwargs)
    raise _unknown_kind("proposer", kind, PROPOSERS)


def make_stopper(kind: str, args: Mapping[str, Any] | None = None) -> EarlyStopper | None:
    """``extrapolation`` (zeroengine's), ``llm`` (through the chat backend of ``args``) or ``none`` (``None``)."""
    args = dict(args or {})
    check_args(args)
    if kind == "none":
        return None
    if kind == "extrapolation":
        cls = _extrapolation_class()
        return cls(**_kwargs(cls, args))
    if kind == "llm":
        _, stopper_cls = _llm_classes()
        return stopper_cls(build_backend(args), **_kwargs(stopper_cls, args))
    raise _unknown_kind("early stopper", kind, STOPPERS)
