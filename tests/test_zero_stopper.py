"""ExtrapolationStopper (paper 003 §3.5, App. G.2's rule made numeric): hand-computed decisions on both sides."""

from __future__ import annotations

import math

import pytest

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.space import PRACTITIONER
from gymnasium_llmconfig.lab.zero.stopper import ExtrapolationStopper, recent_slope
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseResult, PhaseSpec

SPEC = PhaseSpec(parent="n0", resume_step=10, config=PRACTITIONER, steps=24)  # ends at global step 34


def _best(score: float | None) -> PhaseResult:
    return PhaseResult("completed", score, 20, None, [], [], [], 0, 0.0, 0.0)


def _running(vals: list[tuple[int, float]]) -> PhaseProgress:
    return PhaseProgress(SPEC, [], vals)


STOPPER = ExtrapolationStopper(min_steps=8, val_size=100, z=1.0, window=3)


def test_recent_slope_is_least_squares_over_the_window() -> None:
    # steps 16, 22, 28 (mean 22); values .20, .22, .23 (mean .21667): sxy = .18, sxx = 72
    assert recent_slope([(10, 0.9), (16, 0.20), (22, 0.22), (28, 0.23)], 3) == pytest.approx(0.0025)
    assert recent_slope([(16, 0.2)], 3) == 0.0


def test_slow_climb_far_below_the_best_stops() -> None:
    # reach = .23 + .0025 * 6 = .245; noise = sqrt(.36 * .64 / 100) = .048; .293 < .36
    d = STOPPER.decide(_running([(16, 0.20), (22, 0.22), (28, 0.23)]), _best(0.36))
    assert d.stop and "cannot catch" in d.reason and "0.293" in d.reason


def test_same_climb_within_noise_of_the_best_continues() -> None:
    # noise = sqrt(.29 * .71 / 100) = .04538; .245 + .04538 = .29038 >= .29
    assert math.sqrt(0.29 * 0.71 / 100) + 0.245 >= 0.29
    assert not STOPPER.decide(_running([(16, 0.20), (22, 0.22), (28, 0.23)]), _best(0.29)).stop


def test_a_steep_run_behind_the_best_continues_and_a_falling_one_stops() -> None:
    # slope (.2 - .1) / 6, 12 steps left: reach .4; noise sqrt(.44 * .56 / 100) = .04964: .4496 >= .44
    steep = _running([(16, 0.1), (22, 0.2)])
    assert not STOPPER.decide(steep, _best(0.44)).stop
    assert STOPPER.decide(steep, _best(0.5)).stop  # .4 + .05 = .45 < .5
    # a falling curve extrapolates flat from its own best (.3): .3 + sqrt(.4 * .6 / 100) = .349 < .4
    falling = _running([(16, 0.3), (22, 0.25), (28, 0.2)])
    assert STOPPER.decide(falling, _best(0.4)).stop
    assert not STOPPER.decide(falling, _best(0.34)).stop


def test_never_before_min_steps_and_never_without_a_best() -> None:
    hopeless = _running([(16, 0.0)])  # 6 steps into the phase
    d = STOPPER.decide(hopeless, _best(0.9))
    assert not d.stop and "too early" in d.reason
    assert not STOPPER.decide(_running([(30, 0.0)]), None).stop
    assert not STOPPER.decide(_running([(30, 0.0)]), _best(None)).stop
    assert not STOPPER.decide(_running([]), _best(0.9)).stop


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="window >= 2"):
        ExtrapolationStopper(window=1)
