"""The proposer, debug and early-stopper prompts (paper 003 App. G), in our own words for our metrics and fields.

Structure follows App. G.1 (previous config, early-stop notice, metric summary, metric descriptions,
hyperparameter guide, diagnosis -> changes -> checkpoint -> steps) and App. G.2 (best run, current
run, decision rules with CONTINUE as the default, a minimum step count, only validation decides).
The descriptions ground the model in what each of *our* metric names and config fields means
(App. F: models confuse e.g. PPO ratio clipping with response truncation); they do not restrict
which fields it may change. Unlike the paper we ask for the number of further steps directly: our
trainer counts steps, not epochs (App. G.1 step 4 converts epochs to steps).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from gymnasium_llmconfig.lab.zero import space
from gymnasium_llmconfig.lab.zero.summaries import Diagnostics, summarize
from gymnasium_llmconfig.lab.zero.types import PhaseConfig, PhaseProgress, PhaseResult, ProposalContext

#: What each trace metric means and how to read it (App. F.1's role, our metrics and words).
METRIC_DESCRIPTIONS: dict[str, str] = {
    "reward_mean": "share of sampled completions judged exactly right (0-1). The main sign of learning; "
                   "it should trend upward.",
    "reward_std": "spread of rewards within the step's samples. Near 0 means every completion of a prompt "
                  "got the same reward, so the group-relative advantage is 0 and nothing is learned.",
    "entropy": "mean per-token entropy of the policy on its own completions: how much it still explores. "
               "Falling together with rising reward is healthy; falling while reward stalls means the policy "
               "is narrowing without gaining.",
    "kl": "divergence of the policy from the starting (reference) policy, penalised by kl_coef. Slow growth "
          "is expected; a sudden jump followed by falling reward signals a collapse.",
    "clip_fraction": "share of tokens whose probability ratio hit the PPO bounds (clip_low/clip_high). "
                     "High values mean many updates are being cut off. Not related to response length.",
    "grad_norm": "gradient norm before clipping at grad_clip. Very large or erratic: unstable updates; "
                 "tiny: the signal has vanished.",
    "response_length": "mean completion length in tokens, capped by max_response_length.",
    "truncation_ratio": "share of completions cut off at max_response_length before finishing. Not related "
                        "to PPO clipping. High values mean answers do not fit.",
    "tokens": "tokens generated in the step (compute spent).",
    "step_seconds": "wall time of the step.",
}

#: Each config field: what it does and when to move it (App. F.2's role, our fields and words).
PARAMETER_GUIDE: dict[str, str] = {
    "lr": "AdamW learning rate. Raise it when validation stalls and gradients are small; lower it after "
          "a KL jump, a reward collapse or divergence.",
    "kl_coef": "weight of the penalty on divergence from the reference policy. Raise it when KL spikes "
               "coincide with falling reward; lower it when learning is held back.",
    "temperature": "sampling temperature of the rollouts. Higher explores more and spreads rewards within "
                   "a group; lower exploits.",
    "clip_low": "lower PPO ratio bound (1 - clip_low). Usually left alone; large values can shrink the "
                "sampling space quickly.",
    "clip_high": "upper PPO ratio bound (1 + clip_high). Larger values let rare good tokens gain faster and "
                 "keep entropy up.",
    "max_response_length": "the longest completion in tokens. Raise it when truncation_ratio is high; "
                           "lower it to save compute when completions are short.",
    "rollouts": "completions sampled per prompt (the GRPO group). More gives steadier advantages at a "
                "linear cost in compute and memory.",
    "batch_size": "prompts per step. Larger averages out noisy rewards at a linear cost.",
    "grad_clip": "the gradient norm is clipped to this. Lower it after divergence or erratic gradients.",
    "norm_adv": "true: divide advantages by the group's reward std; false: only subtract the group mean. "
                "Usually kept true for stability.",
}

ANSWER_KEYS = ("diagnosis", "changes", "checkpoint", "steps")

PROPOSER_SYSTEM = ("You tune GRPO training runs of a small language model. You read training metrics and "
                   "answer with one JSON object, nothing else after it.")
STOPPER_SYSTEM = ("You watch GRPO training runs of a small language model and decide whether the running "
                  "one can still beat the best run so far.")


def describe_range(name: str) -> str:
    """A field's allowed values from ``space.RANGES``: ``low..high`` or the listed choices."""
    allowed = space.RANGES[name]
    if isinstance(space.PRACTITIONER.to_dict()[name], bool) or len(allowed) != 2:
        return "one of " + ", ".join(json.dumps(v) for v in allowed)
    return f"{allowed[0]:g}..{allowed[1]:g}"


def metric_descriptions() -> str:
    return "\n".join(f"- {name}: {text}" for name, text in METRIC_DESCRIPTIONS.items())


def hyperparameter_guide() -> str:
    """Each field with its meaning and allowed range (values outside are clamped)."""
    return "\n".join(f"- {name} ({describe_range(name)}): {text}" for name, text in PARAMETER_GUIDE.items())


def config_block(config: PhaseConfig) -> str:
    return "\n".join(f"{k}: {json.dumps(v)}" for k, v in config.to_dict().items())


def _best_line(best_score: float | None) -> str:
    return (f"Best validation score of the whole search so far: {best_score:.4g}." if best_score is not None
            else "No validation score has been recorded in the search yet.")


def checkpoint_instructions(ctx: ProposalContext) -> str:
    """The checkpoint choices (§3.3): the parent's saved steps, or only "scratch" when they are withheld."""
    if ctx.mode == "scratch" or not ctx.checkpoints:
        return ('This run starts from the base policy: answer "checkpoint": "scratch". Choose a config that '
                "you expect to work well from the start rather than a small edit.")
    steps = ", ".join(str(s) for s in ctx.checkpoints)
    return (f"Resume the weights saved at one of these steps: {steps} (optimizer state and data order restart), "
            'or answer "scratch" to start from the base policy. Resuming from before a collapse discards it.')


def answer_format(ctx: ProposalContext) -> str:
    example_checkpoint = json.dumps(ctx.checkpoints[-1]) if ctx.mode != "scratch" and ctx.checkpoints \
        else '"scratch"'
    return ("Answer with exactly one JSON object:\n"
            '{"diagnosis": "<one or two sentences>", "changes": {"<field>": <new value>, ...}, '
            f'"checkpoint": {example_checkpoint}, "steps": {ctx.default_steps}}}\n'
            "List only the fields you change in \"changes\" (an empty object keeps the config). "
            f"\"steps\" is how many more training steps to run (the usual phase is {ctx.default_steps}).")


def _run_section(ctx: ProposalContext, diagnostics: Diagnostics | None) -> str:
    result = ctx.parent_result
    if result is None:
        return "The previous run left no metrics."
    return "## Previous run's metrics\n" + summarize(result.trace, result.validations, diagnostics)


def proposer_prompt(ctx: ProposalContext, diagnostics: Diagnostics | None = None) -> str:
    """App. G.1's structure: previous config, early-stop notice, metric summary, guides, four-step task."""
    if ctx.mode == "debug":
        return debug_prompt(ctx, diagnostics)
    notice = (f"\nNote: the previous run was stopped early: {ctx.early_stopped}\n" if ctx.early_stopped else "")
    return "\n\n".join([
        "Your goal is the highest validation score. Propose the next training phase.",
        "## Previous run's config\n" + config_block(ctx.parent_config) + notice,
        _run_section(ctx, diagnostics),
        _best_line(ctx.best_score),
        "## What the metrics mean\n" + metric_descriptions(),
        "## Config fields (allowed ranges)\n" + hyperparameter_guide(),
        "## How to judge\nReward and validation score show progress; judge the run by them. The other "
        "metrics explain why and matter mostly when those two go wrong (rising KL with steady reward is fine).",
        "## Your task, in order\n"
        "1. Diagnosis: is the run healthy, plateauing or collapsing? Name the key trends and turning points.\n"
        "2. Changes: the fields to change and their new values, considering how they interact (for example a "
        "higher learning rate with a stronger KL penalty).\n"
        "3. Checkpoint: " + checkpoint_instructions(ctx) + "\n"
        "4. Steps: how many more steps this phase should train.",
        answer_format(ctx),
    ])


def debug_prompt(ctx: ProposalContext, diagnostics: Diagnostics | None = None) -> str:
    """A failed run (§3.2 debug children): the failure, the config that failed, the same answer format."""
    failure = ctx.parent_result.failure if ctx.parent_result is not None else ""
    return "\n\n".join([
        "A training run failed. Fix its config so that the run succeeds and still scores well on validation.",
        "## Failure\n" + (failure or "(no message)"),
        "## Config that failed\n" + config_block(ctx.parent_config),
        _run_section(ctx, diagnostics),
        _best_line(ctx.best_score),
        "## What the metrics mean\n" + metric_descriptions(),
        "## Config fields (allowed ranges)\n" + hyperparameter_guide(),
        "## Your task\nExplain the cause in \"diagnosis\", change the fields that remove it (for a memory failure, "
        "the product batch_size x rollouts x max_response_length must shrink; for divergence, a lower lr and "
        "a tighter grad_clip help), choose the checkpoint and the steps.\n"
        "Checkpoint: " + checkpoint_instructions(ctx),
        answer_format(ctx),
    ])


def retry_message(error: str) -> str:
    """Told to the model when its reply could not be read (the proposer retries, §3.4 robustness)."""
    return (f"Your reply could not be read: {error}. Reply again with only the JSON object with the keys "
            f"{', '.join(ANSWER_KEYS)}.")


def _phase_summary(title: str, trace: Sequence[dict], validations: Sequence[tuple[int, float]],
                   config: PhaseConfig, resume_step: int) -> str:
    start = f"resumed from step {resume_step}" if resume_step else "started from the base policy"
    return (f"## {title} ({start})\nConfig: " + json.dumps(config.to_dict()) + "\n"
            + summarize(list(trace), list(validations)))


def stopper_prompt(running: PhaseProgress, best: PhaseResult, min_steps: int) -> str:
    """App. G.2's structure: the best run, the running one, metric descriptions, the decision rules."""
    done = (running.trace[-1].get("step", len(running.trace)) - running.spec.resume_step) if running.trace else 0
    best_part = (f"## Best run so far\nBest validation score: {best.score:.4g} at step {best.best_step}.\n"
                 + summarize(best.trace, best.validations))
    return "\n\n".join([
        "Decide whether the running training phase should go on or be stopped now.",
        "## Goal\nOnly the final best validation score matters. Keep the run going if its validation score can "
        "still climb above the best run's best validation score; stop it only if it clearly cannot.",
        best_part,
        _phase_summary(f"Running phase, {done} of {running.spec.steps} steps done", running.trace,
                       running.validations, running.spec.config, running.spec.resume_step),
        "## What the metrics mean\n" + metric_descriptions(),
        "## Rules\n"
        "- When unsure, CONTINUE: continuing is the default.\n"
        f"- Never STOP before {min_steps} steps of the phase have run.\n"
        "- STOP only when the validation trend (its level and how fast it rises) gives no realistic way past "
        "the best run's score: a run behind but climbing steeply may still win; a run ahead but flat may lose.\n"
        "- Only validation scores decide. Reward, entropy, KL, gradients and the rest are context, never a "
        "reason to stop by themselves.",
        "Answer in exactly this form:\nREASON: <one or two sentences about the validation trend>\n"
        "DECISION: CONTINUE or STOP",
    ])
