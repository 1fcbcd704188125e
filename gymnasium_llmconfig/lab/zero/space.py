"""The phase configuration space at the tiny GRPO trainer's scale (paper 003 §3.4, App. B.2, E.1).

The paper tunes Qwen3-4B with verl; here a char-level policy of 25k parameters is trained on
synthetic verifiable tasks (:mod:`gymnasium_llmconfig.lab.grpo`). Every range keeps the *ratio* of
the paper's (App. B.2: LR one decade, KL two decades, temperature 0.6-1.2, clip 0.15-0.35) and is
moved to where this trainer works, read off the shipped GRPO sweep
(``gymnasium_llmconfig/tables/grpo/sweep.yaml`` and its README):

* LR: 5e-5 .. 5e-4 improved every run, >= 1e-3 collapsed most of them;
* KL: the k3 KL of those runs is 0.1-5 nats per token, so the paper's 1e-3 would be no penalty:
  our KL coefficients sit two decades higher;
* response length counts tokens *including* EOS; the policy generates at most the top of its range
  (8), and a completion that hits the cap without EOS earns no reward (it is truncated).

:data:`RANGES` is what a proposer may set (values outside are clamped and recorded, §3.4's robust
parsing); :func:`sample_config` draws random search's narrower App. B.2-shaped ranges.
"""

from __future__ import annotations

import math
import random
from dataclasses import fields
from typing import Any

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.types import PhaseConfig

#: The practitioner default (App. E.1, Table 12's shape): one general recipe, applied unchanged.
#: Like the paper's, it was tuned on *other* tasks: LR, batch size and KL coefficient are the shipped
#: GRPO table's best config averaged over its families other than add3 (2.5e-4, 16 prompts, 0.1);
#: rollouts 4 and temperature 1.0 are that sweep's fixed settings; ``clip_high`` 0.28, grad clip 1.0 and
#: advantage normalization off are Table 12's values, ``clip_low`` 0.2 the sweep's (and verl's) symmetric
#: default; response length 6 of the range's 8 is Table 12's 6144 of the 8192 the grid runs use.
PRACTITIONER = PhaseConfig(lr=2.5e-4, kl_coef=0.1, temperature=1.0, clip_low=0.2, clip_high=0.28,
                           max_response_length=6, rollouts=4, batch_size=16, grad_clip=1.0, norm_adv=False)

#: Allowed values per field: ``(low, high)`` for numbers, the allowed values for ``norm_adv``.
#: Wider than random search's ranges (the paper's proposals left them too, e.g. KL 5e-3 vs a 1e-3 top)
#: and reaching into the collapse region (LR 3e-3), so a proposer can make, and learn from, mistakes.
RANGES: dict[str, tuple[Any, ...]] = {
    "lr": (1e-5, 3e-3),
    "kl_coef": (0.0, 1.0),
    "temperature": (0.3, 1.5),
    "clip_low": (0.05, 0.5),
    "clip_high": (0.05, 0.5),
    "max_response_length": (2, 8),
    "rollouts": (2, 16),
    "batch_size": (4, 64),
    "grad_clip": (0.1, 5.0),
    "norm_adv": (False, True),
}

#: §4.3.2's classes: capacity grows or shrinks what a step can learn from; regularization sets how far
#: and how freely the policy moves.
CAPACITY = ("max_response_length", "rollouts")
REGULARIZATION = ("lr", "kl_coef", "temperature", "clip_low", "clip_high")

_KIND = {f.name: {"float": float, "int": int, "bool": bool}[str(f.type)] for f in fields(PhaseConfig)}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"config field {name!r} must be a number, got {value!r} "
                              f"({type(value).__name__}); allowed range {RANGES[name]}")
    if math.isnan(value):
        raise InvalidArgument(f"config field {name!r} is NaN; give a number in {RANGES[name]}")
    return value


def clamp_config(raw: dict[str, Any]) -> tuple[PhaseConfig, list[str]]:
    """``raw`` as a :class:`PhaseConfig` inside :data:`RANGES`, and the names of the fields that moved.

    Numbers outside their range are pulled to the nearest bound; an integer field given a fractional
    value is rounded (both count as clamped). Unknown or missing fields, non-numbers and NaN are
    refused with an :class:`InvalidArgument` naming the field and what is allowed.
    """
    if not isinstance(raw, dict):
        raise InvalidArgument(f"a config must be a mapping of field -> value, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_KIND))
    if unknown:
        raise InvalidArgument(f"unknown config field(s) {unknown}; known fields: {sorted(_KIND)}")
    missing = sorted(set(_KIND) - set(raw))
    if missing:
        raise InvalidArgument(f"config is missing field(s) {missing}; every phase sets all of {sorted(_KIND)}")
    out: dict[str, Any] = {}
    clamped: list[str] = []
    for name, kind in _KIND.items():
        value = raw[name]
        if kind is bool:
            if not isinstance(value, bool):
                raise InvalidArgument(f"config field {name!r} must be true or false, got {value!r}")
            out[name] = value
            continue
        low, high = RANGES[name]
        number = min(max(_number(name, value), low), high)
        new = round(number) if kind is int else float(number)
        out[name] = new
        if new != value:
            clamped.append(name)
    return PhaseConfig(**out), clamped


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def sample_config(rng: random.Random) -> PhaseConfig:
    """A random-search config (App. B.2): every B.2 parameter drawn independently, the rest practitioner.

    Ranges keep B.2's shapes at our scale: LR log-uniform over one decade (5e-5..5e-4, the range that
    works here), KL log-uniform over two decades ending at the practitioner's 0.1 (as B.2's ends at
    Table 12's 1e-3), temperature U(0.6, 1.2), one clip ratio U(0.15, 0.35) for both bounds, batch size
    from {8, 16, 32} and rollouts from {3, 4, 6} (B.2's {64, 128, 256} and {6, 8, 12} around the
    practitioner's value), response length from {4, 6, 8} (Table 13's 4096/6144/8192 steps).
    """
    clip = rng.uniform(0.15, 0.35)
    return PhaseConfig(
        lr=_log_uniform(rng, 5e-5, 5e-4),
        kl_coef=_log_uniform(rng, 1e-3, 1e-1),
        temperature=rng.uniform(0.6, 1.2),
        clip_low=clip,
        clip_high=clip,
        max_response_length=rng.choice((4, 6, 8)),
        rollouts=rng.choice((3, 4, 6)),
        batch_size=rng.choice((8, 16, 32)),
        grad_clip=PRACTITIONER.grad_clip,
        norm_adv=PRACTITIONER.norm_adv,
    )


#: Grid axes (App. E.1): the paper's LRs {1e-5, 3e-5, 5e-5, 1e-4} are 1/5, 3/5, 1 and 2 times its
#: practitioner LR; the same multiples of ours.
GRID_LRS = (5e-5, 1.5e-4, 2.5e-4, 5e-4)
#: The paper's second axis is the LoRA rank, which sets how large an update each step can make for a
#: given LR; we train full weights, and the knob that scales a step's update (its noise) jointly with
#: the LR is the batch size, the axis the shipped GRPO sweep (paper 000's grid) pairs with LR.
GRID_BATCH_SIZES = (8, 16, 32, 64)


def grid_configs() -> list[PhaseConfig]:
    """The 16-config full factorial LR x batch size; the rest practitioner, except the response length at
    the top of its range (App. E.1: the grid ran at 8192 tokens where the practitioner used 6144)."""
    top = RANGES["max_response_length"][1]
    return [PhaseConfig(**{**PRACTITIONER.to_dict(), "lr": lr, "batch_size": bs, "max_response_length": top})
            for lr in GRID_LRS for bs in GRID_BATCH_SIZES]


def memory_units(cfg: PhaseConfig) -> int:
    """A phase's memory cost in token slots per step (the issue's batch x rollouts x length): what runs
    out first on a GPU, and what ``LiveSettings.memory_budget`` bounds (§4.2's OOM failures)."""
    return cfg.batch_size * cfg.rollouts * cfg.max_response_length
