"""One GRPO run for the collector: a config in, an outcome record out (never an exception).

The run starts from a shared warm-started policy (the same base for every config of a
fidelity, as paper 000 §A.4 starts every run from the same instruct model), trains with
:class:`GRPOTrainer` for ``epochs`` passes over ``samples`` training prompts, and is scored by
greedy exact-match accuracy on the family's test split.

* ``status="ok"``: trained to the end.
* ``status="diverged"``: a loss or gradient became NaN/inf; training stops there and the run is
  scored by the test accuracy of the policy it ended with (usually near 0).
* ``status="failed"``: any exception; ``error`` holds its text, the accuracy is ``None``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Points kept per training curve in a run's record.
CURVE_POINTS = 20
#: Fraction of final steps averaged into ``final_reward``.
SMOOTH_FRAC = 0.1


@dataclass(frozen=True)
class BaseSpec:
    """What determines a warm-started base policy: the family, the policy shape and the SFT recipe."""

    family: str
    model: str
    n_layer: int
    d_model: int
    n_head: int
    sft_target_accuracy: float
    sft_max_steps: int
    sft_lr: float
    sft_batch_size: int
    sft_pool: int
    sft_seed: int
    sft_check_every: int
    val_size: int
    test_size: int
    #: Tokens the policy may generate; 0: the family's longest answer plus EOS (the collector's bases).
    #: LLMZero sets more, so a response-length cap has room above the answer (paper 003 §4.3.2).
    max_new_tokens: int = 0

    @property
    def key(self) -> str:
        raw = asdict(self)
        if not self.max_new_tokens:
            del raw["max_new_tokens"]  # the collector's bases keep the keys (and caches) they had
        blob = json.dumps(raw, sort_keys=True)
        return f"{self.family}-{self.model}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class GRPORun:
    """Everything that determines one run's outcome: its base, its fidelity and its GRPO config."""

    base: BaseSpec
    fidelity: str
    samples: int
    epochs: int
    lr: float
    batch_size: int
    kl_coef: float
    group_size: int
    temperature: float
    clip_eps: float
    updates_per_batch: int
    weight_decay: float
    grad_clip: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def steps(self) -> int:
        return self.epochs * (self.samples // self.batch_size)


def _curve(values: list[float]) -> list[list[Any]]:
    """At most :data:`CURVE_POINTS` ``[step, value]`` pairs, evenly spaced, always with the last step."""
    if not values:
        return []
    idx = np.unique(np.linspace(0, len(values) - 1, min(CURVE_POINTS, len(values))).round().astype(int))
    return [[int(i) + 1, round(values[i], 4) if math.isfinite(values[i]) else None] for i in idx]


def _train(run: GRPORun, base: dict[str, Any], device: str) -> dict[str, Any]:
    from gymnasium_llmconfig.lab.grpo.base import load_base
    from gymnasium_llmconfig.lab.grpo.tasks import make_split, parse_family
    from gymnasium_llmconfig.lab.grpo.trainer import GRPOConfig, GRPOTrainer

    family = parse_family(run.base.family)
    policy = load_base(base, device)
    train = make_split(family, "train", run.samples, seed=run.seed)
    test = make_split(family, "test", run.base.test_size)
    cfg = GRPOConfig(lr=run.lr, batch_size=run.batch_size, kl_coef=run.kl_coef, epochs=run.epochs,
                     group_size=run.group_size, temperature=run.temperature, clip_eps=run.clip_eps,
                     updates_per_batch=run.updates_per_batch, weight_decay=run.weight_decay,
                     grad_clip=run.grad_clip, seed=run.seed)
    trainer = GRPOTrainer(policy, train, cfg)
    history: list[dict[str, Any]] = []
    while not trainer.done:
        history.append(trainer.step())
    rewards = [h["reward_mean"] for h in history]
    tail = rewards[-max(1, math.ceil(SMOOTH_FRAC * len(rewards))):]
    kls = [h.get("kl", math.nan) for h in history]
    return {
        "status": trainer.status,
        "test_accuracy": round(trainer.evaluate(test), 5),
        "steps_done": trainer.step_index,
        "final_reward": round(float(np.mean(tail)), 5),
        "max_kl": round(float(np.nanmax(kls)), 5) if any(math.isfinite(k) for k in kls) else None,
        "mean_response_length": round(float(np.mean([h["response_length"] for h in history])), 3),
        "truncation_ratio": round(float(np.mean([h["truncation_ratio"] for h in history])), 4),
        "reward_curve": _curve(rewards),
        "kl_curve": _curve(kls),
        "length_curve": _curve([h["response_length"] for h in history]),
    }


def _record(run: GRPORun, base: dict[str, Any] | None, device: str, outcome: dict[str, Any], wall: float,
            error: str = "") -> dict[str, Any]:
    import torch

    b = run.base
    return {
        "fidelity": run.fidelity, "family": b.family, "model": b.model, "n_layer": b.n_layer,
        "d_model": b.d_model, "n_head": b.n_head, "samples": run.samples, "epochs": run.epochs,
        "lr": run.lr, "batch_size": run.batch_size, "kl_coef": run.kl_coef, "group_size": run.group_size,
        "temperature": run.temperature, "seed": run.seed, "steps": run.steps,
        "initial_accuracy": None if base is None else base["initial_accuracy"],
        "n_params": None if base is None else base["n_params"],
        "base": b.key,
        **outcome,
        "wall_time_s": round(wall, 3),
        "device": device,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "error": error,
    }


def failure_record(run: GRPORun, base: dict[str, Any] | None, device: str, error: str,
                   wall: float = 0.0) -> dict[str, Any]:
    """The record of a run that raised instead of finishing: no accuracy, the error text."""
    return _record(run, base, device, {"status": "failed", "test_accuracy": None}, wall, error)


def run_grpo(run: GRPORun, bases: dict[str, dict[str, Any]], device: str = "cpu") -> dict[str, Any]:
    """Train one run from its base and return its record. Deterministic on CPU for a fixed thread count."""
    start = time.perf_counter()
    base = bases.get(run.base.key)
    try:
        outcome = _train(run, bases[run.base.key], device)
    except Exception as exc:
        return failure_record(run, base, device, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    return _record(run, base, device, outcome, time.perf_counter() - start)
