"""The two proposers (paper 003 §3.4): an LLM reading the run (App. G.1) and a rule-based stand-in.

Both start from the same :func:`summaries.diagnose` of the parent's trace and both return configs
that went through ``space.clamp_config``. The heuristic is our own (the paper has only the LLM):
diagnosis rules map a named problem to coordinated changes, and a healthy run gets a *symmetric*
random perturbation, so capacity (``max_response_length``, ``rollouts``) is as likely to shrink as
to grow. Hard-coding "capacity only grows" would make §4.3.2's finding (capacity grows along the
best paths) an artefact of the proposer.
"""

from __future__ import annotations

import base64
import random
import re
from dataclasses import replace
from typing import Any

from agents.llm.backend import ChatBackend
from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.answers import (
    AnswerError,
    changes_between,
    extract_json_object,
    nearest_checkpoint,
    read_answer,
)
from gymnasium_llmconfig.lab.zero.prompts import PROPOSER_SYSTEM, proposer_prompt, retry_message
from gymnasium_llmconfig.lab.zero.summaries import Diagnostics, diagnose
from gymnasium_llmconfig.lab.zero.types import Proposal, ProposalContext, Proposer

#: Multiplicative steps of a healthy run's perturbation; each is applied up or down with equal odds.
PERTURB_FACTORS = (1.25, 1.5, 2.0)
#: Fields a healthy run's perturbation may move: every numeric field, capacity included.
PERTURBABLE = ("lr", "kl_coef", "temperature", "clip_low", "clip_high", "max_response_length", "rollouts",
               "batch_size", "grad_clip")
#: Raising a zero value (``kl_coef = 0``) sets it to this share of its range's top instead.
FROM_ZERO_SHARE = 0.05
MEMORY_FACTORS = ("batch_size", "rollouts", "max_response_length")
_DIVERGED = re.compile(r"diverg|non-finite|\b(nan|inf)\b")
#: The live runner's memory failure names the budget (``... > budget 2048; lower ...``).
_BUDGET = re.compile(r"budget (\d+)")


def fit_memory(raw: dict[str, Any], budget: int) -> dict[str, Any]:
    """Shrink the memory factors, the one with the most room above its minimum first, until
    ``batch x rollouts x length <= budget`` (or every factor is at its minimum): one debug child fixes an
    out-of-memory failure instead of a chain of halvings."""
    raw = dict(raw)
    while raw["batch_size"] * raw["rollouts"] * raw["max_response_length"] > budget:
        room = {k: raw[k] / space.RANGES[k][0] for k in MEMORY_FACTORS if raw[k] > space.RANGES[k][0]}
        if not room:
            break
        name = max(room, key=lambda k: room[k])
        others = raw["batch_size"] * raw["rollouts"] * raw["max_response_length"] // raw[name]
        raw[name] = max(space.RANGES[name][0], min(raw[name] - 1, budget // others))
    return raw


def _scaled(name: str, value: Any, factor: float) -> Any:
    """``value * factor``; integers move by at least 1 in the factor's direction; zero grows to a floor."""
    if value == 0:
        return space.RANGES[name][1] * FROM_ZERO_SHARE if factor > 1 else 0
    new = value * factor
    if isinstance(value, int):
        rounded = round(new)
        return rounded if rounded != value else value + (1 if factor > 1 else -1)
    return new


def default_checkpoint(ctx: ProposalContext) -> int | None:
    """The heuristic's checkpoint choice among the offered ones (``None``: from scratch).

    Evolve: the offered step nearest the parent's best-validation step (the earlier on a tie):
    resuming at the best validation keeps what the parent learned and drops what it lost after (a
    collapse, overfitting); without a validation, the latest offered step. Debug (the offered steps
    are those the failed phase resumed from): the step it started at, read off its first logged step,
    so the fix retries the same stage; with nothing logged, the latest offered step. Scratch mode or
    nothing offered: ``None``.
    """
    if ctx.mode == "scratch" or not ctx.checkpoints:
        return None
    result = ctx.parent_result
    if ctx.mode == "debug":
        first = result.trace[0].get("step") if result is not None and result.trace else None
        return max(ctx.checkpoints) if first is None else nearest_checkpoint(first - 1, ctx.checkpoints)
    if result is None or result.best_step is None:
        return max(ctx.checkpoints)
    return nearest_checkpoint(result.best_step, ctx.checkpoints)


def diagnostics_for(ctx: ProposalContext) -> Diagnostics:
    result = ctx.parent_result
    trace, validations = (result.trace, result.validations) if result is not None else ([], [])
    return diagnose(trace, validations, ctx.parent_config.grad_clip)


class HeuristicProposer:
    """Rules from the diagnosis to directed changes, first match wins; otherwise a symmetric perturbation.

    Debug mode reads the failure text: out of memory -> shrink the memory factor with the most room
    above its minimum, then (:func:`fit_memory`) until the phase fits the budget the failure names;
    divergence -> the divergence fix (lower lr and grad_clip, raise kl_coef);
    anything else -> lower lr. Otherwise, in this order: a diverged step -> the divergence fix; a KL
    spike -> raise kl_coef, lower lr; a reward or entropy collapse -> lower lr, raise temperature; high
    truncation -> raise max_response_length; noisy rewards -> raise rollouts or batch_size (equal odds;
    the other when one is at its top); a validation plateau with small gradients -> raise lr; a healthy
    run -> 1-3 random fields up or down with equal odds. Every move multiplies by a factor drawn from
    :data:`PERTURB_FACTORS` (or divides, to lower), so two children of one node are rarely the same
    phase. A scratch proposal also gets the perturbation on top of any rule, so a fresh start differs
    from the best node it was modelled on. Deterministic given ``ctx.seed``.
    """

    name = "heuristic"

    def propose(self, ctx: ProposalContext) -> Proposal:
        rng = random.Random(ctx.seed)
        diag = diagnostics_for(ctx)
        raw = ctx.parent_config.to_dict()
        diagnosis, directions = self._rule(ctx, diag, rng)
        moves = {name: rng.choice(PERTURB_FACTORS) ** sign for name, sign in directions.items()}
        if not moves or ctx.mode == "scratch":
            perturbed = self._perturbation(rng, exclude=set(moves))
            moves.update(perturbed)
            diagnosis = diagnosis or "healthy run: explore around it"
            diagnosis += "; perturb " + ", ".join(f"{k} x{f:.3g}" for k, f in perturbed.items())
        for name, factor in moves.items():
            raw[name] = _scaled(name, raw[name], factor)
        budget = _BUDGET.search(ctx.parent_result.failure) if ctx.mode == "debug" and ctx.parent_result else None
        if budget is not None:
            raw = fit_memory(raw, int(budget.group(1)))
        config, clamped = space.clamp_config(raw)
        return Proposal(config=config, resume_step=default_checkpoint(ctx), steps=ctx.default_steps,
                        diagnosis=diagnosis, changes=changes_between(ctx.parent_config, config),
                        clamped=clamped, source="heuristic")

    @staticmethod
    def _rule(ctx: ProposalContext, diag: Diagnostics, rng: random.Random) -> tuple[str, dict[str, int]]:
        """(diagnosis, {field: +1 up / -1 down}) of the first rule that fires; ``("", {})`` for a healthy run."""
        divergence = {"lr": -1, "grad_clip": -1, "kl_coef": 1}
        if ctx.mode == "debug":
            failure = ctx.parent_result.failure if ctx.parent_result is not None else ""
            lowered = failure.lower()
            if "memory" in lowered:
                cfg = ctx.parent_config.to_dict()
                biggest = max(MEMORY_FACTORS, key=lambda k: cfg[k] / max(space.RANGES[k][0], 1))
                return f"out of memory ({failure}): shrink {biggest}", {biggest: -1}
            if _DIVERGED.search(lowered):
                return f"diverged ({failure}): smaller, clipped, more regularized steps", divergence
            return f"failed ({failure or 'no message'}): lower the learning rate", {"lr": -1}
        if diag.diverged_step is not None:
            return f"diverged at step {diag.diverged_step}: smaller, clipped, more regularized steps", divergence
        if diag.kl_spike_step is not None:
            return f"KL spike at step {diag.kl_spike_step}: stronger KL penalty, lower lr", {"kl_coef": 1, "lr": -1}
        if diag.reward_collapse or diag.entropy_collapse:
            what = "reward" if diag.reward_collapse else "entropy"
            return f"{what} collapse: lower lr, sample hotter", {"lr": -1, "temperature": 1}
        if diag.truncation_high:
            return (f"{diag.truncation:.0%} of completions truncated: longer max_response_length",
                    {"max_response_length": 1})
        if diag.noisy:
            cfg = ctx.parent_config.to_dict()
            room = [k for k in ("rollouts", "batch_size") if cfg[k] < space.RANGES[k][1]] or ["rollouts"]
            field = rng.choice(room)
            return f"noisy rewards (scatter {diag.reward_noise:.3g}): more samples per step ({field})", {field: 1}
        if diag.val_plateau and diag.grad_small:
            return "validation plateau with small gradients: raise lr", {"lr": 1}
        return "", {}

    @staticmethod
    def _perturbation(rng: random.Random, exclude: set[str]) -> dict[str, float]:
        """1-3 fields, each times ``f`` or ``1/f`` (equal odds) with ``f`` drawn from :data:`PERTURB_FACTORS`."""
        pool = [k for k in PERTURBABLE if k not in exclude]
        chosen = rng.sample(pool, rng.randint(1, min(3, len(pool))))
        moves: dict[str, float] = {}
        for name in chosen:
            factor = rng.choice(PERTURB_FACTORS)
            moves[name] = factor if rng.random() < 0.5 else 1 / factor
        return moves


class LLMProposer:
    """The LLM proposer (§3.4, App. G.1) over a chat backend, with retries and the heuristic as fallback.

    A reply that cannot be read is answered with what was wrong and asked again (``retries`` times);
    then the ``fallback`` proposes (``source="fallback"``, ``parse_failures`` counted). Backend
    errors (an endpoint that is down) are not caught: the search stops with the tree as it is.
    ``images=True`` attaches a PNG of the parent's metric curves as an OpenAI-style ``image_url``
    content part (§3.4's visual reasoning; only endpoints with vision models accept it).
    """

    name = "llm"

    def __init__(self, backend: ChatBackend, *, retries: int = 2, max_new_tokens: int = 1024,
                 temperature: float = 0.7, images: bool = False, fallback: Proposer | None = None):
        self.backend = backend
        self.retries = int(retries)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.images = bool(images)
        self.fallback: Proposer = fallback if fallback is not None else HeuristicProposer()
        #: the last proposal's chat (prompt, replies, retry requests), for logs and tests.
        self.last_messages: list[dict[str, Any]] = []

    def _user_content(self, prompt: str, ctx: ProposalContext) -> Any:
        result = ctx.parent_result
        if not self.images or result is None or not result.trace:
            return prompt
        from gymnasium_llmconfig.lab.zero.curve_image import metric_curves_png

        png = base64.b64encode(metric_curves_png(result.trace, result.validations)).decode("ascii")
        return [{"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]

    def propose(self, ctx: ProposalContext) -> Proposal:
        diag = diagnostics_for(ctx)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": PROPOSER_SYSTEM},
            {"role": "user", "content": self._user_content(proposer_prompt(ctx, diag), ctx)},
        ]
        failures = 0
        error = ""
        for attempt in range(self.retries + 1):
            reply = self.backend.generate(messages, self.max_new_tokens, self.temperature, ctx.seed + attempt)
            messages.append({"role": "assistant", "content": reply})
            try:
                proposal = read_answer(extract_json_object(reply), ctx, default_checkpoint=default_checkpoint(ctx),
                                       source="llm", parse_failures=failures)
            except AnswerError as exc:
                failures += 1
                error = str(exc)
                if attempt < self.retries:
                    messages.append({"role": "user", "content": retry_message(error)})
                continue
            self.last_messages = messages
            return proposal
        self.last_messages = messages
        fallback = self.fallback.propose(ctx)
        note = f"[LLM reply unreadable {failures}x, last: {error}; heuristic fallback]"
        return replace(fallback, source="fallback", parse_failures=failures,
                       diagnosis=f"{fallback.diagnosis} {note}".strip())
