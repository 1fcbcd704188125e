"""Fakes for LLMZero's search tests: a deterministic phase runner, a seeded proposer, a simple stopper."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.lab.zero.types import (
    PhaseConfig,
    PhaseProgress,
    PhaseResult,
    PhaseSpec,
    Proposal,
    ProposalContext,
    StopDecision,
)

ROOT = PhaseConfig(lr=1e-4, kl_coef=1e-3, temperature=1.0, clip_low=0.2, clip_high=0.28,
                   max_response_length=8, rollouts=4, batch_size=4, grad_clip=1.0, norm_adv=True)


class Killed(Exception):
    """Stands in for a kill in the middle of a phase."""


class FakeRunner:
    """Validation score grows with the global step at a rate peaking at lr = 1e-3; > 8 rollouts fail (memory).

    Validates and checkpoints every 2 steps; asks the stopper at each validation.
    """

    def __init__(self, out_dir: Path, kill_at: str | None = None, kill_with: type[BaseException] = Killed) -> None:
        self.out_dir, self.kill_at, self.kill_with = out_dir, kill_at, kill_with
        self.calls: list[tuple[str, PhaseSpec, bool, float | None]] = []
        self.released: dict[str, set[int]] = {}

    def run(self, node_id: str, spec: PhaseSpec, stopper: Any, best: PhaseResult | None) -> PhaseResult:
        self.calls.append((node_id, spec, stopper is not None, best.score if best else None))
        if node_id == self.kill_at:
            (self.out_dir / "nodes" / node_id).mkdir(parents=True)
            (self.out_dir / "nodes" / node_id / "trace.jsonl").write_text('{"step": 1, "partial": true}\n')
            (self.out_dir / "checkpoints" / node_id).mkdir(parents=True)
            raise self.kill_with(node_id)
        cfg = spec.config
        if cfg.rollouts > 8:
            return PhaseResult("failed", None, None, None, [], [{"step": spec.resume_step}], [], 10, 0.0, 0.0,
                               failure=f"memory: {cfg.rollouts} rollouts over the budget")
        rate = 0.02 / (1 + abs(math.log10(cfg.lr) + 3))
        trace, vals, status, reason = [], [], "completed", ""
        for k in range(1, spec.steps + 1):
            step = spec.resume_step + k
            trace.append({"step": step, "reward_mean": round(rate * step, 6)})
            if k % 2 == 0:
                vals.append((step, round(min(0.9, 0.1 + rate * step), 6)))
                if stopper is not None:
                    decision = stopper.decide(PhaseProgress(spec, trace, vals), best)
                    if decision.stop:
                        status, reason = "early-stopped", decision.reason
                        break
        score, best_step = max((v, s) for s, v in vals) if vals else (None, None)
        return PhaseResult(status, score, best_step, score, vals, trace, [s for s, _ in vals], 100 * len(trace),
                           0.0, 0.0, stop_reason=reason)

    def release(self, node_id: str, keep_steps: set[int]) -> None:
        self.released[node_id] = set(keep_steps)
        if (self.out_dir / "checkpoints" / node_id).exists() and not keep_steps:
            (self.out_dir / "checkpoints" / node_id).rmdir()


class FakeProposer:
    """Doubles or halves lr (seeded), picks rollouts from ``rollouts``, resumes at the last checkpoint + offset."""

    name = "fake"

    def __init__(self, rollouts: tuple[int, ...] = (4,), offset: int = 0) -> None:
        self.rollouts, self.offset = rollouts, offset
        self.contexts: list[ProposalContext] = []

    def propose(self, ctx: ProposalContext) -> Proposal:
        self.contexts.append(ctx)
        rng = random.Random(ctx.seed)
        cfg = ctx.parent_config
        if ctx.mode == "debug":
            new = replace(cfg, rollouts=cfg.rollouts // 2)
        else:
            new = replace(cfg, lr=cfg.lr * rng.choice([0.5, 2.0]), rollouts=rng.choice(self.rollouts))
        resume = max(ctx.checkpoints) + self.offset if ctx.checkpoints else None
        return Proposal(new, resume, ctx.default_steps, f"{ctx.mode} proposal", source="fake")


class BehindStopper:
    """Stops a phase at its second validation when it is still behind the best phase."""

    name = "behind"

    def __init__(self) -> None:
        self.bests: list[float | None] = []

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision:
        self.bests.append(best.score if best else None)
        behind = best is not None and len(running.validations) >= 2 and running.best_validation < best.score
        return StopDecision(behind, "behind the best phase" if behind else "")
