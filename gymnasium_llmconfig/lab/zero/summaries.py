"""A phase's metric trace as compact text, and the numeric diagnostics both proposers read (paper 003 §3.4).

The paper's proposer sees "text summaries of step-level metrics" (§3.4, App. G.1
``{step_metrics_summary}``); the paper deliberately leaves thresholds to the LLM (App. G). Our
heuristic proposer needs them spelled out, so the events below use fixed, documented thresholds
of our own (scaled to rewards in [0, 1] of the tiny GRPO trainer). :func:`diagnose` computes them
once; :func:`summarize` renders the same numbers (and the events) for the LLM, so both proposers
reason from the same facts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Per-step metrics of the live runner's trace, in the order the summary lists them.
METRICS = ("reward_mean", "reward_std", "entropy", "kl", "clip_fraction", "grad_norm", "response_length",
           "truncation_ratio", "tokens", "step_seconds")
#: The "recent" part of a trace: its last third, at least 3 points (trends, tail means).
TAIL_FRACTION = 1 / 3
MIN_TAIL = 3
#: A KL spike: a value more than this many times the median of the (up to 5) values before it...
SPIKE_RATIO = 4.0
SPIKE_WINDOW = 5
#: ...that is also at least this share of the trace's largest KL (a jump, not early exponential growth)...
SPIKE_SHARE = 0.5
#: ...and at least this large in nats per token: in the shipped GRPO sweep (376 runs) the KL of healthy
#: runs creeps from 0 to ~0.01-0.05, whose early doublings are no spike.
SPIKE_MIN = 0.05
#: Reward collapse: the recent mean is at most this share of the peak of the same-width moving average
#: (like with like: on real phases a 3-step peak of noisy 64-sample rewards called plain noise a collapse)...
COLLAPSE_SHARE = 0.5
#: ...of a peak that meant something (a reward of 0.1 or more).
COLLAPSE_MIN_PEAK = 0.1
#: Entropy collapse: recent entropy below this share of the first steps' while rewards did not rise (App. F.1).
ENTROPY_SHARE = 0.5
#: High truncation: on average this share of recent completions hit ``max_response_length``.
TRUNCATION_HIGH = 0.2
#: Noisy rewards: the recent reward mean scatters this much (std of residuals) around its trend line.
NOISE_HIGH = 0.1
#: Small gradients: the recent median gradient norm is below this share of ``grad_clip``.
GRAD_SMALL_SHARE = 0.25
#: Validation plateau: with 3+ validations, the later half's best beats the earlier half's by at most this.
PLATEAU_EPS = 0.01


@dataclass(frozen=True)
class MetricStats:
    """One metric over a trace: first/last/min/max and the least-squares slope per step over the tail."""

    name: str
    first: float
    last: float
    low: float
    high: float
    slope: float
    tail_mean: float


@dataclass(frozen=True)
class Diagnostics:
    """What the parent run's trace says, as numbers and flags (computed once by :func:`diagnose`).

    ``kl_spike_step`` is the first spiking step (``None``: none); ``grad_ratio`` is the recent median
    gradient norm over ``grad_clip`` (``None`` when either is unknown). ``diverged_step`` is the
    first step the trainer reported as diverged.
    """

    steps: int
    kl_spike_step: int | None
    reward_collapse: bool
    entropy_collapse: bool
    truncation: float
    reward_noise: float
    grad_ratio: float | None
    val_plateau: bool
    val_best: float | None
    val_best_step: int | None
    diverged_step: int | None
    events: tuple[str, ...]

    @property
    def grad_small(self) -> bool:
        return self.grad_ratio is not None and self.grad_ratio < GRAD_SMALL_SHARE

    @property
    def truncation_high(self) -> bool:
        return self.truncation >= TRUNCATION_HIGH

    @property
    def noisy(self) -> bool:
        return self.reward_noise > NOISE_HIGH


def series(trace: Sequence[dict[str, Any]], name: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``name`` over the steps that logged a finite value."""
    xs: list[float] = []
    ys: list[float] = []
    for i, row in enumerate(trace):
        value = row.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            xs.append(float(row.get("step", i + 1)))
            ys.append(float(value))
    return xs, ys


def tail_size(n: int) -> int:
    """How many of ``n`` points the recent part holds: the last third, at least :data:`MIN_TAIL`."""
    return min(n, max(MIN_TAIL, math.ceil(n * TAIL_FRACTION)))


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Ordinary least-squares slope of ``ys`` on ``xs`` (0 for fewer than 2 distinct x)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def residual_std(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Population std of ``ys`` around their least-squares line (0 for fewer than 3 points)."""
    if len(xs) < 3:
        return 0.0
    b = slope(xs, ys)
    a = statistics.fmean(ys) - b * statistics.fmean(xs)
    return math.sqrt(statistics.fmean([(y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True)]))


def metric_stats(trace: Sequence[dict[str, Any]], name: str) -> MetricStats | None:
    xs, ys = series(trace, name)
    if not ys:
        return None
    k = tail_size(len(ys))
    return MetricStats(name, ys[0], ys[-1], min(ys), max(ys), slope(xs[-k:], ys[-k:]), statistics.fmean(ys[-k:]))


def kl_spike(trace: Sequence[dict[str, Any]]) -> tuple[int, float, float] | None:
    """(step, value, median before) of the first KL spike (see :data:`SPIKE_RATIO`), or ``None``."""
    xs, ys = series(trace, "kl")
    if not ys:
        return None
    top = max(ys)
    for i in range(MIN_TAIL, len(ys)):
        before = statistics.median(ys[max(0, i - SPIKE_WINDOW):i])
        if ys[i] > SPIKE_RATIO * before and ys[i] >= max(SPIKE_SHARE * top, SPIKE_MIN):
            return int(xs[i]), ys[i], before
    return None


def _moving_average(ys: Sequence[float], width: int) -> list[float]:
    """Means of every full window of ``width`` consecutive values (all values when fewer)."""
    if len(ys) <= width:
        return [statistics.fmean(ys)]
    return [statistics.fmean(ys[i - width:i]) for i in range(width, len(ys) + 1)]


def _plateau(validations: Sequence[tuple[int, float]]) -> bool:
    if len(validations) < 3:
        return False
    scores = [v for _, v in validations]
    half = len(scores) // 2
    return max(scores[half:]) <= max(scores[:half]) + PLATEAU_EPS


def diagnose(trace: Sequence[dict[str, Any]], validations: Sequence[tuple[int, float]],
             grad_clip: float | None = None) -> Diagnostics:
    """The parent run's health (§3.4 step 1) from its trace and validations, by the thresholds above."""
    events: list[str] = []
    diverged = next((int(row.get("step", i + 1)) for i, row in enumerate(trace)
                     if row.get("status") == "diverged"), None)
    if diverged is not None:
        events.append(f"training diverged (non-finite loss or gradient) at step {diverged}")
    spike = kl_spike(trace)
    if spike is not None:
        events.append(f"KL spike at step {spike[0]}: {spike[1]:.4g}, over {SPIKE_RATIO:g}x the median "
                      f"{spike[2]:.4g} of the steps before")
    _, rewards = series(trace, "reward_mean")
    collapse = False
    entropy_collapse = False
    noise = 0.0
    if rewards:
        k = tail_size(len(rewards))
        peak = max(_moving_average(rewards, k))
        recent = statistics.fmean(rewards[-k:])
        collapse = peak >= COLLAPSE_MIN_PEAK and recent <= COLLAPSE_SHARE * peak
        if collapse:
            events.append(f"reward collapse: recent mean {recent:.3g} vs a peak of {peak:.3g} ({k}-step average)")
        xs, _ = series(trace, "reward_mean")
        noise = residual_std(xs[-k:], rewards[-k:])
        if noise > NOISE_HIGH:
            events.append(f"noisy rewards: recent reward means scatter {noise:.3g} around their trend")
        _, ent = series(trace, "entropy")
        if len(ent) >= 2 * MIN_TAIL:
            head = statistics.fmean(ent[:MIN_TAIL])
            ent_recent = statistics.fmean(ent[-tail_size(len(ent)):])
            reward_head = statistics.fmean(rewards[:MIN_TAIL])
            entropy_collapse = head > 0 and ent_recent < ENTROPY_SHARE * head and recent <= reward_head
            if entropy_collapse:
                events.append(f"entropy collapse without reward gains: entropy {head:.3g} -> {ent_recent:.3g}, "
                              f"reward {reward_head:.3g} -> {recent:.3g}")
    _, trunc = series(trace, "truncation_ratio")
    truncation = statistics.fmean(trunc[-tail_size(len(trunc)):]) if trunc else 0.0
    if truncation >= TRUNCATION_HIGH:
        events.append(f"high truncation: {truncation:.0%} of recent completions hit max_response_length")
    _, grads = series(trace, "grad_norm")
    grad_ratio = (statistics.median(grads[-tail_size(len(grads)):]) / grad_clip
                  if grads and grad_clip else None)
    if grad_ratio is not None and grad_ratio < GRAD_SMALL_SHARE:
        events.append(f"small gradients: recent median grad norm is {grad_ratio:.2g}x grad_clip")
    plateau = _plateau(validations)
    best_step, best = max(validations, key=lambda sv: sv[1], default=(None, None))
    if plateau:
        events.append(f"validation plateau: the later validations did not beat {best:.3g} by more than "
                      f"{PLATEAU_EPS:g}")
    return Diagnostics(
        steps=len(trace), kl_spike_step=None if spike is None else spike[0], reward_collapse=collapse,
        entropy_collapse=entropy_collapse, truncation=truncation, reward_noise=noise, grad_ratio=grad_ratio,
        val_plateau=plateau, val_best=best, val_best_step=None if best_step is None else int(best_step),
        diverged_step=diverged, events=tuple(events),
    )


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def summarize(trace: Sequence[dict[str, Any]], validations: Sequence[tuple[int, float]],
              diagnostics: Diagnostics | None = None) -> str:
    """The trace as a small text table (first/last/min/max/recent slope per metric), validations, events."""
    if not trace:
        return "No training steps were logged."
    diag = diagnostics if diagnostics is not None else diagnose(trace, validations)
    xs, _ = series(trace, "step")
    first_step = int(xs[0]) if xs else 1
    last_step = int(xs[-1]) if xs else len(trace)
    lines = [f"Steps {first_step}-{last_step} ({len(trace)} logged). Slope = least-squares change per step over "
             f"the last third of the steps.",
             f"{'metric':<18}{'first':>10}{'last':>10}{'min':>10}{'max':>10}{'slope':>11}"]
    for name in METRICS:
        st = metric_stats(trace, name)
        if st is not None:
            lines.append(f"{name:<18}{_fmt(st.first):>10}{_fmt(st.last):>10}{_fmt(st.low):>10}"
                         f"{_fmt(st.high):>10}{st.slope:>+11.3g}")
    if validations:
        shown = ", ".join(f"step {s}: {v:.4g}" for s, v in validations)
        lines.append(f"Validation scores: {shown} (best {diag.val_best:.4g} at step {diag.val_best_step}).")
    else:
        lines.append("No validation score was recorded.")
    lines.append("Notable events: " + ("; ".join(diag.events) if diag.events else "none (no rule fired)") + ".")
    return "\n".join(lines)
