"""The LLM early stopper (paper 003 §3.5, App. G.2): asks a chat model whether a running phase can
still beat the best one, at each validation.

Guards kept in code, not left to the model: with no best phase to beat, or before ``min_steps``
steps of the phase (App. G.2's "too early to judge" rule, counted from the phase's resume step),
the model is not asked and the phase continues. A reply without a readable ``DECISION:`` counts as
CONTINUE (App. G.2's default) and says so in the reason. Backend errors are not caught.
"""

from __future__ import annotations

import re

from agents.llm.backend import ChatBackend
from gymnasium_llmconfig.lab.zero.prompts import STOPPER_SYSTEM, stopper_prompt
from gymnasium_llmconfig.lab.zero.stopper import MIN_STEPS
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseResult, StopDecision

_DECISION = re.compile(r"DECISION\W{0,6}(CONTINUE|STOP)\b", re.IGNORECASE)
_REASON = re.compile(r"REASON\W{0,6}(.*?)(?=DECISION|\Z)", re.IGNORECASE | re.DOTALL)


def parse_decision(reply: str) -> tuple[bool | None, str]:
    """(stop, reason) from ``REASON: ... DECISION: CONTINUE|STOP`` (the last decision wins);
    ``stop`` is ``None`` when no decision can be read."""
    body = reply.rsplit("</think>", 1)[-1]
    decisions = _DECISION.findall(body)
    reasons = _REASON.findall(body)
    reason = " ".join(reasons[-1].split()) if reasons else ""
    if not decisions:
        return None, reason
    return decisions[-1].upper() == "STOP", reason


def phase_steps(running: PhaseProgress) -> int:
    """Steps the running phase has trained (global steps minus its resume step)."""
    if not running.trace:
        return 0
    return int(running.trace[-1].get("step", len(running.trace))) - running.spec.resume_step


class LLMStopper:
    """:class:`EarlyStopper` over a chat backend (App. G.2's prompt structure, our words)."""

    name = "llm"

    def __init__(self, backend: ChatBackend, *, min_steps: int = MIN_STEPS, max_new_tokens: int = 256,
                 temperature: float = 0.0, seed: int = 0):
        self.backend = backend
        self.min_steps = int(min_steps)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.seed = int(seed)
        #: how many times the model was asked, and how many replies could not be read.
        self.calls = 0
        self.unreadable = 0

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision:
        if best is None or best.score is None:
            return StopDecision(False, "no finished phase to compare with yet")
        done = phase_steps(running)
        if done < self.min_steps:
            return StopDecision(False, f"only {done} of the minimum {self.min_steps} steps run")
        messages = [{"role": "system", "content": STOPPER_SYSTEM},
                    {"role": "user", "content": stopper_prompt(running, best, self.min_steps)}]
        reply = self.backend.generate(messages, self.max_new_tokens, self.temperature, self.seed + self.calls)
        self.calls += 1
        stop, reason = parse_decision(reply)
        if stop is None:
            self.unreadable += 1
            snippet = " ".join(reply.split())[:200]
            return StopDecision(False, f"reply had no readable DECISION, counted as CONTINUE: {snippet!r}")
        return StopDecision(stop, reason or ("STOP" if stop else "CONTINUE"))
