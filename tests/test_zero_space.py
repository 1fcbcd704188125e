"""The phase config space (paper 003 App. B.2, E.1): ranges, clamping, random search, grid, memory."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.space import (
    CAPACITY,
    GRID_LRS,
    PRACTITIONER,
    RANGES,
    REGULARIZATION,
    clamp_config,
    grid_configs,
    memory_units,
    sample_config,
)
from gymnasium_llmconfig.lab.zero.types import PhaseConfig

INTS = {"max_response_length", "rollouts", "batch_size"}


def _inside(cfg: PhaseConfig) -> bool:
    for name, value in cfg.to_dict().items():
        if name == "norm_adv":
            if value not in RANGES[name]:
                return False
            continue
        low, high = RANGES[name]
        if not low <= value <= high or (name in INTS) != isinstance(value, int):
            return False
    return True


def _value(name: str) -> st.SearchStrategy:
    if name == "norm_adv":
        return st.booleans()
    low, high = RANGES[name]
    wide = st.floats(min_value=-10 * high - 1, max_value=10 * high + 1, allow_nan=False)
    if name in INTS:
        return st.one_of(st.integers(-100, 200), wide)
    return st.one_of(wide, st.floats(min_value=low, max_value=high), st.just(math.inf), st.just(-math.inf))


RAW = st.fixed_dictionaries({name: _value(name) for name in RANGES})


def test_practitioner_and_classes_are_inside_the_space() -> None:
    assert _inside(PRACTITIONER)
    assert clamp_config(PRACTITIONER.to_dict()) == (PRACTITIONER, [])
    assert set(CAPACITY) | set(REGULARIZATION) <= set(RANGES)
    assert not set(CAPACITY) & set(REGULARIZATION)
    # room to grow above the practitioner's capacity (Table 12's 6144 of the grid's 8192)
    assert PRACTITIONER.max_response_length < RANGES["max_response_length"][1]


@settings(max_examples=300, deadline=None)
@given(RAW)
def test_clamp_is_inside_idempotent_and_names_exactly_what_moved(raw: dict) -> None:
    cfg, clamped = clamp_config(raw)
    assert _inside(cfg)
    assert clamped == [n for n in RANGES if cfg.to_dict()[n] != raw[n]]
    assert clamp_config(cfg.to_dict()) == (cfg, [])


def test_clamp_hand_values() -> None:
    raw = {**PRACTITIONER.to_dict(), "lr": 1.0, "kl_coef": -3, "rollouts": 4.6, "batch_size": 16.0, "temperature": 1}
    cfg, clamped = clamp_config(raw)
    assert (cfg.lr, cfg.kl_coef, cfg.rollouts, cfg.batch_size, cfg.temperature) == (3e-3, 0.0, 5, 16, 1.0)
    assert clamped == ["lr", "kl_coef", "rollouts"]


@pytest.mark.parametrize(("change", "needle"), [
    ({"lora_rank": 8}, "unknown config field(s) ['lora_rank']; known fields"),
    ({"lr": "fast"}, "'lr' must be a number"),
    ({"lr": math.nan}, "'lr' is NaN"),
    ({"rollouts": True}, "'rollouts' must be a number"),
    ({"norm_adv": 1}, "'norm_adv' must be true or false"),
])
def test_clamp_refuses_bad_input_with_one_clear_message(change: dict, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(needle)):
        clamp_config({**PRACTITIONER.to_dict(), **change})


def test_clamp_refuses_a_missing_field() -> None:
    raw = PRACTITIONER.to_dict()
    del raw["grad_clip"]
    with pytest.raises(InvalidArgument, match=r"missing field\(s\) \['grad_clip'\]"):
        clamp_config(raw)


def test_sample_config_is_seeded_and_inside_the_b2_shaped_ranges() -> None:
    draws = [sample_config(random.Random(s)) for s in range(200)]
    assert sample_config(random.Random(3)) == draws[3]
    assert all(_inside(c) for c in draws)
    assert all(5e-5 <= c.lr <= 5e-4 and 1e-3 <= c.kl_coef <= 0.1 and 0.6 <= c.temperature <= 1.2 for c in draws)
    assert all(c.clip_low == c.clip_high and 0.15 <= c.clip_low <= 0.35 for c in draws)
    assert {c.batch_size for c in draws} == {8, 16, 32} and {c.rollouts for c in draws} == {3, 4, 6}
    assert {c.max_response_length for c in draws} == {4, 6, 8}
    assert len({c.lr for c in draws}) == 200


def test_grid_is_the_16_config_factorial() -> None:
    grid = grid_configs()
    assert len(grid) == len(set(grid)) == 16
    assert tuple(lr / PRACTITIONER.lr for lr in GRID_LRS) == pytest.approx((0.2, 0.6, 1.0, 2.0))  # App. E.1's 1:3:5:10
    assert {(c.lr, c.batch_size) for c in grid} == {(lr, b) for lr in GRID_LRS for b in (8, 16, 32, 64)}
    assert all(_inside(c) and c.max_response_length == 8 and c.kl_coef == PRACTITIONER.kl_coef for c in grid)


def test_memory_units_is_batch_times_rollouts_times_length() -> None:
    assert memory_units(PRACTITIONER) == 16 * 4 * 6 == 384
    assert max(memory_units(c) for c in grid_configs()) == 64 * 4 * 8
