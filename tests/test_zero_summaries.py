"""Trace summaries and diagnostics (lab/zero/summaries.py): every formula against hand-computed values."""

from __future__ import annotations

import math

import pytest
from zero_fixtures import make_trace

from gymnasium_llmconfig.lab.zero.summaries import (
    diagnose,
    kl_spike,
    metric_stats,
    residual_std,
    slope,
    summarize,
    tail_size,
)


def test_tail_size_is_the_last_third_with_a_floor_of_three():
    assert [tail_size(n) for n in (1, 2, 3, 4, 9, 10, 20)] == [1, 2, 3, 3, 3, 4, 7]


def test_slope_and_residual_std_by_hand():
    assert slope([1, 2, 3], [1, 3, 5]) == pytest.approx(2.0)
    assert slope([1], [4]) == 0.0
    # y = 0, 1, 0: flat line at 1/3, residuals -1/3, 2/3, -1/3 -> variance (1+4+1)/27
    assert residual_std([1, 2, 3], [0, 1, 0]) == pytest.approx(math.sqrt(6 / 27))
    assert residual_std([1, 2, 3], [1, 3, 5]) == pytest.approx(0.0)


def test_metric_stats_first_last_extremes_and_tail_slope():
    trace = make_trace(6, reward_mean=[0.1, 0.5, 0.2, 0.3, 0.4, 0.5])
    st = metric_stats(trace, "reward_mean")
    assert (st.first, st.last, st.low, st.high) == (0.1, 0.5, 0.1, 0.5)
    assert st.slope == pytest.approx(0.1)  # last 3 points 0.3, 0.4, 0.5 over steps 4-6
    assert st.tail_mean == pytest.approx(0.4)
    assert metric_stats(trace, "missing") is None


def test_non_finite_values_are_skipped():
    trace = make_trace(4, grad_norm=[1.0, float("nan"), 3.0, float("inf")])
    st = metric_stats(trace, "grad_norm")
    assert (st.first, st.last, st.high) == (1.0, 3.0, 3.0)


def test_kl_spike_by_hand():
    trace = make_trace(6, kl=[0.0, 0.01, 0.012, 0.011, 0.2, 0.05])
    # step 5: 0.2 > 4 x median(0, 0.01, 0.012, 0.011) = 0.042 and 0.2 >= half the max
    assert kl_spike(trace) == (5, 0.2, pytest.approx(0.0105))
    assert kl_spike(make_trace(20)) is None  # steady linear growth is no spike
    assert kl_spike(make_trace(6, kl=[0.0, 0.0, 0.0, 0.0, 0.0001, 0.0])) is None  # under SPIKE_MIN: noise


def test_reward_collapse_and_entropy_collapse():
    rewards = [0.2, 0.4, 0.6, 0.6, 0.6, 0.3, 0.1, 0.1, 0.1]
    d = diagnose(make_trace(9, reward_mean=rewards), [])
    assert d.reward_collapse  # recent mean 0.1 <= 0.5 x peak 0.6 of the 3-step average
    flat = [0.3] * 9
    entropy = [1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.3, 0.3]
    d = diagnose(make_trace(9, reward_mean=flat, entropy=entropy), [])
    assert d.entropy_collapse and not d.reward_collapse
    assert not diagnose(make_trace(9, entropy=entropy), []).entropy_collapse  # rewards rose: healthy


def test_truncation_noise_gradients_plateau():
    d = diagnose(make_trace(9, truncation_ratio=[0, 0, 0, 0, 0, 0, 0.2, 0.3, 0.4]), [])
    assert d.truncation == pytest.approx(0.3) and d.truncation_high
    noisy = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.0, 0.6, 0.0]
    d = diagnose(make_trace(9, reward_mean=noisy), [])
    assert d.reward_noise == pytest.approx(math.sqrt((0.04 + 0.16 + 0.04) / 3)) and d.noisy
    d = diagnose(make_trace(9, grad_norm=lambda i: 0.1), [], grad_clip=1.0)
    assert d.grad_ratio == pytest.approx(0.1) and d.grad_small
    assert diagnose(make_trace(9), [], grad_clip=None).grad_ratio is None
    assert diagnose([], [(5, 0.3), (10, 0.35), (15, 0.355), (20, 0.34)]).val_plateau
    assert not diagnose([], [(5, 0.3), (10, 0.35), (15, 0.4)]).val_plateau
    assert not diagnose([], [(5, 0.3), (10, 0.3)]).val_plateau  # too few to call


def test_diverged_step_and_best_validation():
    trace = make_trace(5)
    trace[3]["status"] = "diverged"
    d = diagnose(trace, [(2, 0.2), (4, 0.25)])
    assert d.diverged_step == 4 and (d.val_best, d.val_best_step) == (0.25, 4)
    assert any("diverged" in e for e in d.events)


def test_summary_lists_every_metric_validations_and_events():
    trace = make_trace(9, truncation_ratio=[0, 0, 0, 0, 0, 0, 0.2, 0.3, 0.4])
    text = summarize(trace, [(3, 0.2), (6, 0.3), (9, 0.25)])
    for name in ("reward_mean", "entropy", "kl", "clip_fraction", "grad_norm", "truncation_ratio", "tokens"):
        assert name in text
    assert "step 6: 0.3" in text and "best 0.3 at step 6" in text
    assert "high truncation: 30%" in text
    assert summarize([], []) == "No training steps were logged."
