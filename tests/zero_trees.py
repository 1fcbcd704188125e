"""Hand-built LLMZero trees for the analysis and report tests (no training: every number is chosen by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.lab.zero.types import NodeRecord

BASE_CONFIG = {"lr": 1e-3, "kl_coef": 0.01, "temperature": 1.0, "clip_low": 0.2, "clip_high": 0.2,
               "max_response_length": 8, "rollouts": 4, "batch_size": 8, "grad_clip": 1.0, "norm_adv": True}


def node(id: str, parent: str | None, iteration: int, score: float | None, *, kind: str = "evolve",
         resume_step: int = 0, steps: int = 10, status: str = "completed", test: float | None = None,
         validations: list[list[float]] | None = None, tokens: int = 100, cpu: float = 10.0,
         **config: Any) -> NodeRecord:
    cfg = {**BASE_CONFIG, **config}
    vals = validations or []
    best = max(vals, key=lambda v: v[1])[0] if vals else None
    return NodeRecord(id=id, parent=parent, kind=kind, iteration=iteration, resume_step=resume_step, config=cfg,
                      steps=steps, status=status, score=score, best_step=best, test_score=test, validations=vals,
                      checkpoints=[], tokens=tokens, cpu_seconds=cpu, wall_seconds=cpu, trace=f"nodes/{id}/trace.jsonl")


def small_tree() -> list[NodeRecord]:
    """root r; a (from r, raises lr and kl); b (from r, stopped early at half its steps); c (from a, lowers lr,
    doubles rollouts: the best); d (from scratch, failed). Best path r -> a -> c."""
    return [
        node("r", None, 0, 0.3, kind="root", test=0.25, validations=[[5, 0.2], [10, 0.3]], tokens=100, cpu=10),
        node("a", "r", 1, 0.5, resume_step=10, test=0.4, validations=[[15, 0.45], [20, 0.5]], tokens=120, cpu=12,
             lr=2e-3, kl_coef=0.02),
        node("b", "r", 2, 0.25, resume_step=5, status="early-stopped", test=0.2, validations=[[10, 0.25]],
             tokens=40, cpu=4, temperature=0.7),
        node("c", "a", 3, 0.6, resume_step=20, test=0.45, validations=[[25, 0.55], [30, 0.6]], tokens=150, cpu=12,
             lr=1e-3, kl_coef=0.02, rollouts=8),
        node("d", None, 4, None, kind="scratch", status="failed", tokens=10, cpu=2, lr=1e-1),
    ]


def write_tree(out: Path, nodes: list[NodeRecord], traces: bool = True) -> Path:
    """``out/tree.json`` in the search's shape, and a small trace per node (a test score every 5 steps)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "tree.json").write_text(json.dumps({"settings": {}, "nodes": [n.to_dict() for n in nodes]}))
    for n in nodes if traces else []:
        trace = out / n.trace
        trace.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"step": s, "reward_mean": 0.1 * k, "val": v, "test": round(v - 0.05, 6)}
                for k, (s, v) in enumerate(n.validations)]
        trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


class FakeRunner:
    """A :class:`PhaseRunner` that trains nothing: the score is a smooth function of the config (best at LR
    2.5e-4), each step costs 1 CPU s and 10 tokens, validation every 2 steps; it records every call."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.calls: list[tuple[str, Any]] = []
        self.released: list[str] = []

    def run(self, node_id, spec, stopper, best):
        import math

        from gymnasium_llmconfig.lab.zero.types import PhaseResult

        self.calls.append((node_id, spec))
        peak = 1 - abs(math.log10(spec.config.lr / 2.5e-4)) / 2
        vals = [(spec.resume_step + k, round(peak * k / spec.steps, 6)) for k in range(2, spec.steps + 1, 2)]
        trace = self.out_dir / "nodes" / node_id / "trace.jsonl"
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.write_text("".join(json.dumps({"step": s, "val": v, "test": v / 2}) + "\n" for s, v in vals))
        best_step, score = max(vals, key=lambda v: v[1])
        return PhaseResult(status="completed", score=score, best_step=best_step, test_score=score / 2,
                           validations=vals, trace=[], checkpoints=[spec.resume_step + spec.steps],
                           tokens=10 * spec.steps, cpu_seconds=float(spec.steps), wall_seconds=float(spec.steps))

    def release(self, node_id, keep_steps):
        self.released.append(node_id)


def fake_runner(live: dict[str, Any], out_dir: Path) -> FakeRunner:
    """``compare.Job.make_runner`` for tests: the fake runner in the job's directory."""
    return FakeRunner(out_dir)
