"""A numeric early stopper (paper 003 §3.5): stop a running phase only when it cannot catch the best one.

The paper's stopper is an LLM reading overlay plots with App. G.2's rules: the default is to
continue; stop only when the current step is at least 10 and the validation trajectory has no
realistic chance of exceeding the best validation score so far, judged by its improvement rate and
not just its current value. :class:`ExtrapolationStopper` makes "no realistic chance" a number:
the best the phase could still reach is its recent validation slope (never negative: optimistic),
carried over the steps it has left, plus a noise allowance of ``z`` binomial standard errors of an
accuracy measured on ``val_size`` problems. Only validation scores decide (G.2: other metrics never
justify a stop).
"""

from __future__ import annotations

import math

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.types import PhaseProgress, PhaseResult, StopDecision


def recent_slope(validations: list[tuple[int, float]], window: int) -> float:
    """Least-squares slope (score per step) of the last ``window`` validations; 0 with fewer than two."""
    pts = validations[-window:]
    if len(pts) < 2:
        return 0.0
    mx = sum(s for s, _ in pts) / len(pts)
    my = sum(v for _, v in pts) / len(pts)
    sxx = sum((s - mx) ** 2 for s, _ in pts)
    return sum((s - mx) * (v - my) for s, v in pts) / sxx if sxx else 0.0


#: The phase's own steps before any stopper may judge it (App. G.2's "current step >= 10" for phases of
#: 20-60 steps; ours run 24 validated every 6, so 12: two validations, enough for a slope).
MIN_STEPS = 12


class ExtrapolationStopper:
    """Stops a phase when ``max(phase best, last + max(slope, 0) * steps left) + z * SE < best score``.

    ``min_steps`` counts the phase's own steps (:data:`MIN_STEPS`); ``SE = sqrt(p (1 - p) / val_size)``
    at the incumbent's score ``p`` (``val_size`` as :class:`~.live.LiveSettings`'); ``window`` validations
    give the slope. Without a best phase there is nothing to lose to: continue.
    """

    name = "extrapolation"

    def __init__(self, min_steps: int = MIN_STEPS, val_size: int = 256, z: float = 1.0, window: int = 3) -> None:
        if min_steps < 0 or val_size < 1 or z < 0 or window < 2:
            raise InvalidArgument(f"ExtrapolationStopper needs min_steps >= 0, val_size >= 1, z >= 0 and window >= 2; "
                                  f"got min_steps={min_steps}, val_size={val_size}, z={z}, window={window}")
        self.min_steps, self.val_size, self.z, self.window = min_steps, val_size, z, window

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision:
        if best is None or best.score is None:
            return StopDecision(False, "no finished phase to compare with yet")
        if not running.validations:
            return StopDecision(False, "no validation yet")
        step, last = running.validations[-1]
        done = step - running.spec.resume_step
        if done < self.min_steps:
            return StopDecision(False, f"only {done} steps into the phase (< {self.min_steps}): too early to judge")
        left = running.spec.resume_step + running.spec.steps - step
        slope = max(0.0, recent_slope(running.validations, self.window))
        reach = max(max(v for _, v in running.validations), last + slope * left)
        p = best.score
        noise = self.z * math.sqrt(p * (1.0 - p) / self.val_size)
        ceiling = reach + noise
        how = (f"val {last:.3f} at step {step}, slope {slope:+.4f}/step over the last validations, {left} steps left: "
               f"reach {reach:.3f} + noise {noise:.3f} = {ceiling:.3f}")
        if ceiling < p:
            return StopDecision(True, f"{how} < best {p:.3f}: cannot catch the best phase")
        return StopDecision(False, f"{how} >= best {p:.3f}: may still catch the best phase")
