"""Hand-built traces, configs and a scripted chat backend for the LLMZero proposer/stopper tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.types import PhaseConfig, PhaseResult, ProposalContext

HEALTHY = {"reward_mean": lambda i: 0.3 + 0.01 * i, "reward_std": lambda i: 0.4, "entropy": lambda i: 1.0 - 0.01 * i,
           "kl": lambda i: 0.01 * i, "clip_fraction": lambda i: 0.05, "grad_norm": lambda i: 0.5,
           "response_length": lambda i: 5.0, "truncation_ratio": lambda i: 0.0, "tokens": lambda i: 600,
           "step_seconds": lambda i: 0.3}


def make_trace(n: int = 20, start: int = 0, **overrides: Sequence[float] | Callable[[int], float]
               ) -> list[dict[str, Any]]:
    """``n`` steps (global steps ``start+1..start+n``) of a healthy run, with some metrics replaced."""
    columns = {**HEALTHY, **overrides}
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"step": start + i + 1, "status": "running"}
        for name, col in columns.items():
            row[name] = col(i) if callable(col) else col[i]
        rows.append(row)
    return rows


def mid_config(**changes: Any) -> PhaseConfig:
    """A config in the middle of every range (geometric middle for positive ranges), so x2 and /2 fit."""
    raw: dict[str, Any] = {}
    for name, allowed in space.RANGES.items():
        default = space.PRACTITIONER.to_dict()[name]
        if isinstance(default, bool) or len(allowed) != 2:
            raw[name] = default
            continue
        lo, hi = allowed
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 4
        raw[name] = round(mid) if isinstance(default, int) else mid
    raw.update(changes)
    return space.clamp_config(raw)[0]


def make_result(trace: list[dict[str, Any]], validations: list[tuple[int, float]], *, status: str = "completed",
                failure: str = "", checkpoints: list[int] | None = None) -> PhaseResult:
    best_step, score = max(validations, key=lambda sv: sv[1], default=(None, None))
    return PhaseResult(status=status, score=score, best_step=best_step, test_score=score,  # type: ignore[arg-type]
                       validations=validations, trace=trace,
                       checkpoints=checkpoints if checkpoints is not None else [s for s, _ in validations],
                       tokens=600 * len(trace), cpu_seconds=1.0, wall_seconds=1.0, failure=failure)


def make_ctx(result: PhaseResult | None = None, *, mode: str = "evolve", config: PhaseConfig | None = None,
             checkpoints: list[int] | None = None, seed: int = 0, default_steps: int = 20) -> ProposalContext:
    result = result if result is not None else make_result(make_trace(), [(5, 0.3), (10, 0.33), (15, 0.36),
                                                                          (20, 0.38)])
    if checkpoints is None:
        checkpoints = [] if mode == "scratch" else list(result.checkpoints)
    return ProposalContext(mode=mode, parent_config=config or mid_config(), parent_result=result,  # type: ignore[arg-type]
                           checkpoints=checkpoints, best_score=result.score, default_steps=default_steps, seed=seed)


class ScriptedBackend:
    """A chat backend that answers from a script and records every chat it was sent."""

    name = "scripted"

    def __init__(self, replies: Sequence[str | Exception]):
        self.replies = list(replies)
        self.chats: list[list[dict[str, Any]]] = []

    def generate(self, messages: list[dict[str, Any]], max_new_tokens: int, temperature: float,
                 seed: int | None) -> str:
        self.chats.append([dict(m) for m in messages])
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply
