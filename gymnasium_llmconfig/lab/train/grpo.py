"""``llmconfig train grpo``: multi-turn GRPO on a suite's training samples (paper 000, §4.2.3, Step 3).

Each step takes ``batch_size`` training samples (a suite training pair, i.e. a medium env
with the low envs as demonstrations, at a budget of 1..5 interactions), plays ``group_size``
episodes of each through the shared rollout engine with ``MostSimilarConfig`` on (it
densifies the reward), and scores each episode by its return: the paper's eq. 3, or -1
for invalid or repeated output. Advantages are normalized within each sample's group
(eq. 1) and shared by all of an episode's tokens; the loss is eq. 2 (PPO-clip, k3 KL to
the frozen reference policy) on the tokens the model generated only. Both come from
:mod:`gymnasium_llmconfig.lab.rl.objective`. One optimizer step per batch, so the
sampling policy is the current one (``old_logprobs`` are the detached current ones).

Full fine-tuning (reference = a frozen copy) or LoRA (``--lora``, reference = the
adapter disabled); fp32 on CPU, bf16 on CUDA. Every ``eval_every`` steps the policy
plays the suite's *test* pairs (a few on CPU by default) and the Fig. 10 dynamics go
to ``OUT/metrics.jsonl`` and ``OUT/metrics.png``; a resume checkpoint is written then
too, and a killed run resumes from it. The trained policy is exported to ``OUT`` as a
Hugging Face checkpoint.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gymnasium_llmconfig import data
from gymnasium_llmconfig.curation import Pair, resolve_suite
from gymnasium_llmconfig.errors import InvalidArgument, LLMConfigError
from gymnasium_llmconfig.lab.rollout import EpisodeSpec, Rollout, RolloutEngine
from gymnasium_llmconfig.lab.train import checkpoint, dynamics
from gymnasium_llmconfig.registry import load_registry


@dataclass
class GRPOSettings:
    """Everything a run depends on; the paper's values are the defaults where they fit (§4.2.3).

    ``batch_size`` counts training samples per step, each played ``group_size`` times.
    """

    suite: str = "l2h"
    model: str = "smollm2"
    steps: int = 100
    batch_size: int = 64
    group_size: int = 5
    budgets: tuple[int, ...] = (1, 2, 3, 4, 5)
    lr: float = 1e-6
    kl_coef: float = 0.04
    clip_eps: float = 0.2
    temperature: float = 1.0
    max_new_tokens: int = 512
    lora: bool = False
    lora_rank: int = 16
    eval_every: int = 10
    eval_envs: int = 2
    eval_seeds: int = 3
    eval_temperature: float = 0.7
    rollout_batch: int = 16
    micro_batch: int = 2
    seed: int = 0
    device: str = "auto"

    def check(self) -> None:
        if self.group_size < 2:
            raise InvalidArgument(f"--group-size must be at least 2 (GRPO normalizes within a group), "
                                  f"got {self.group_size}")
        for name in ("steps", "batch_size", "eval_every", "eval_seeds", "rollout_batch", "micro_batch",
                     "max_new_tokens"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the killed one (``steps`` may grow)."""
        out = asdict(self)
        out.pop("steps")
        out["budgets"] = list(self.budgets)
        return out


def step_specs(samples: Sequence[tuple[Pair, int]], settings: GRPOSettings, step: int) -> list[EpisodeSpec]:
    """The episodes of a step: ``batch_size`` samples (every sample once per epoch, shuffled by epoch) × G.

    A pure function of the step, so a resumed run plays exactly what the killed one would have.
    The G rollouts of a sample share the env seed and differ in their sampling seeds.
    """
    specs = []
    for j in range(settings.batch_size):
        index = (step - 1) * settings.batch_size + j
        epoch, slot = divmod(index, len(samples))
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(samples))
        pair, budget = samples[int(order[slot])]
        for g in range(settings.group_size):
            sample_seed = (settings.seed * 1_000_003 + index * settings.group_size + g) * 8
            specs.append(EpisodeSpec.from_pair(pair, budget, seed=step, sample_seed=sample_seed))
    return specs


def play(engine: RolloutEngine, specs: Sequence[EpisodeSpec], chunk: int) -> list[Rollout]:
    """Rollouts of ``specs`` in lockstep chunks of ``chunk`` episodes (the memory knob ``--rollout-batch``)."""
    out: list[Rollout] = []
    for start in range(0, len(specs), chunk):
        out += engine.play(specs[start:start + chunk])
    return out


def grpo_step(policy: Any, reference: Any, rollouts: Sequence[Rollout], settings: GRPOSettings,
              pad_id: int) -> dict[str, float]:
    """Eq. 1 advantages and one eq. 2 gradient (accumulated over micro-batches); returns the loss statistics.

    The gradient equals that of the whole batch's loss: each micro-batch's mean over its
    sequences is weighted by its share of the batch.
    """
    import torch

    from gymnasium_llmconfig.lab.rl.objective import group_advantages, grpo_loss
    from gymnasium_llmconfig.lab.rl.policy import pad_right, token_logprobs

    device = next(policy.parameters()).device
    rewards = torch.tensor([r.episode_return for r in rollouts], dtype=torch.float32)
    advantages = group_advantages(rewards, settings.group_size)
    totals = {"loss": 0.0, "policy_loss": 0.0, "kl": 0.0, "clip_fraction": 0.0}
    for start in range(0, len(rollouts), settings.micro_batch):
        part = rollouts[start:start + settings.micro_batch]
        weight = len(part) / len(rollouts)
        ids = pad_right([r.token_ids for r in part], pad_id, device)
        attention = pad_right([[1] * len(r.token_ids) for r in part], 0, device)
        mask = pad_right([r.action_mask for r in part], 0, device)
        logprobs = token_logprobs(policy, ids, attention, mask, settings.temperature)
        ref = None
        if settings.kl_coef:
            with torch.no_grad(), _reference(policy, reference) as model:
                ref = token_logprobs(model, ids, attention, mask, settings.temperature)
        result = grpo_loss(logprobs, logprobs.detach(), advantages[start:start + len(part)].to(device),
                           mask[:, 1:], ref_logprobs=ref, kl_coef=settings.kl_coef, clip_eps=settings.clip_eps)
        (result.loss * weight).backward()
        for key in totals:
            totals[key] += float(getattr(result, key).detach()) * weight
    totals["advantage_abs_mean"] = float(advantages.abs().mean())
    return totals


@contextmanager
def _reference(policy: Any, reference: Any) -> Iterator[Any]:
    """The frozen reference policy: a copy (full fine-tuning) or the policy with its LoRA adapter off."""
    if reference is not None:
        yield reference
        return
    with policy.disable_adapter():
        yield policy


def _load(settings: GRPOSettings) -> Any:
    """The policy as a transformers backend (chat-template check and clear errors included)."""
    from agents.llm.hf import TransformersBackend

    return TransformersBackend(settings.model, device=settings.device)


def run_grpo(settings: GRPOSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the last metrics row."""
    import torch

    settings.check()
    out = Path(out)
    suite = resolve_suite(settings.suite)
    if not suite.train_pairs or not suite.test_pairs:
        raise InvalidArgument(f"suite {settings.suite!r} has no training or test pairs to train GRPO on")
    eval_pairs = suite.test_pairs[:settings.eval_envs] if settings.eval_envs > 0 else suite.test_pairs
    data.require(load_registry().sources([*suite.train, *(p.target for p in eval_pairs)]),
                 needed_by=f"GRPO on the {settings.suite!r} suite")
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, settings)
    backend = _load(settings)
    policy, tokenizer = backend.model, backend.tokenizer
    reference = None
    if settings.lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise LLMConfigError("--lora needs peft. Fix: `pip install 'gymnasium-llmconfig[llm]'` "
                                 "(or `pip install peft`), or train every weight without --lora") from exc

        policy = get_peft_model(policy, LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank,
                                                   target_modules="all-linear", task_type="CAUSAL_LM"))
        backend.model = policy
    elif settings.kl_coef:
        reference = copy.deepcopy(policy).requires_grad_(False).eval()
    policy.eval()  # no dropout: rollouts and the loss see the same policy
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=settings.lr)
    start = checkpoint.latest_step(out)
    if start:
        checkpoint.load_state(out, policy, optimizer)
    rows = dynamics.keep_until(out / "metrics.jsonl", start)
    samples = [(pair, budget) for pair in suite.train_pairs for budget in settings.budgets]
    engine = RolloutEngine(backend, max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                           most_similar=True)
    evaluator = RolloutEngine(backend, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.eval_temperature)
    row: dict[str, Any] = rows[-1] if rows else {}
    with _progress(progress) as bar:
        task = bar.add_task("grpo", total=settings.steps, completed=start)
        for step in range(start + 1, settings.steps + 1):
            began = time.perf_counter()
            with _out_of_memory_hint(settings):
                rollouts = play(engine, step_specs(samples, settings, step), settings.rollout_batch)
                rollout_s = time.perf_counter() - began
                losses = grpo_step(policy, reference, rollouts, settings, int(tokenizer.pad_token_id))
            torch.nn.utils.clip_grad_norm_([p for p in policy.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            row = {"step": step, **dynamics.rollout_stats(rollouts), **losses, "rollout_s": rollout_s,
                   "step_s": time.perf_counter() - began, "episodes": len(rollouts)}
            if step % settings.eval_every == 0 or step == settings.steps:
                row.update(evaluate(evaluator, eval_pairs, settings))
                checkpoint.save_state(out, step, policy, optimizer, {"settings": settings.fingerprint()})
            dynamics.append(out / "metrics.jsonl", row)
            rows.append(row)
            dynamics.plot(rows, out / "metrics.png")
            bar.update(task, advance=1, description=f"grpo  reward {row['critic_score_mean']:+.3f}")
    checkpoint.export_policy(out, policy, tokenizer)
    return row


def evaluate(engine: RolloutEngine, pairs: Sequence[Pair], settings: GRPOSettings) -> dict[str, float]:
    """The test pairs at every budget with ``eval_seeds`` seeds: regret mean@k and the rates (no matching)."""
    specs = [EpisodeSpec.from_pair(pair, budget, seed) for pair in pairs for budget in settings.budgets
             for seed in range(settings.eval_seeds)]
    stats = dynamics.rollout_stats(play(engine, specs, settings.rollout_batch))
    return {"test_regret_mean3": stats["regret_mean"], "test_execution_rate": stats["execution_rate"],
            "test_unique_config_rate": stats["unique_config_rate"], "test_episodes": len(specs)}


def _check_resume(out: Path, settings: GRPOSettings) -> None:
    """A resumed run must use the settings of the killed one (only ``--steps`` may change)."""
    saved = out / "settings.json"
    mine = settings.fingerprint()
    if saved.is_file() and checkpoint.latest_step(out):
        theirs = json.loads(saved.read_text())
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differ:
            raise InvalidArgument(
                f"{out} holds a GRPO run with other settings ({', '.join(differ)} differ); resume it with the same "
                "options (only --steps may change) or pick a new --out")
    saved.write_text(json.dumps(mine, indent=1))


@contextmanager
def _out_of_memory_hint(settings: GRPOSettings) -> Iterator[None]:
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if "memory" not in str(exc).lower() and not isinstance(exc, MemoryError):
            raise
        raise LLMConfigError(
            f"out of memory during a GRPO step ({type(exc).__name__}). Fix: a smaller --rollout-batch "
            f"(now {settings.rollout_batch}) or --micro-batch (now {settings.micro_batch}), or --lora") from exc


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled)
