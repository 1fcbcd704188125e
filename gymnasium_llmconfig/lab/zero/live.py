"""The live schedule environment (paper 003 §2.1, §3.3): a phase is real GRPO training on the tiny trainer.

A phase starts from the SFT-warmed base policy (from scratch) or from a parent's checkpoint at
``resume_step`` with *weights only*: a fresh optimizer and a fresh data order derived from the node,
as §3.3 resumes "only the model weights, reinitializing optimizer state and dataloader position".
The KL reference is always the base. Every step streams one JSON line to
``<out>/nodes/<node>/trace.jsonl`` (global step, App. F.1's metrics, generated tokens, seconds, and
``val`` on validation steps); every ``val_every`` steps and at the end the phase is validated,
a checkpoint saved (``<out>/checkpoints/<node>/step<k>.safetensors``, the resume choices of its
children) and the early stopper asked (§3.5). Test accuracy is measured only at a new best
validation, reported and never used for a decision (Table 1's "test at the best validation step").

Failures are outcomes (§3.2 debugs them): a config over the memory budget fails before training
(the paper's OOM, Fig. 4), a non-finite loss or gradient is ``"diverged"``, any other error its text.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.llm.backend import BackendUnavailable
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.grpo.run import BaseSpec
from gymnasium_llmconfig.lab.grpo.tasks import Problem, make_split, parse_family
from gymnasium_llmconfig.lab.zero.space import RANGES, memory_units
from gymnasium_llmconfig.lab.zero.types import EarlyStopper, PhaseProgress, PhaseResult, PhaseSpec

if TYPE_CHECKING:
    from gymnasium_llmconfig.lab.grpo.trainer import GRPOTrainer

#: The SFT warm-up of the base, as the shipped GRPO sweep's (``tables/grpo/sweep.yaml``): trained until
#: it solves 30% of the validation problems, like paper 000's instruct starting point.
SFT = {"sft_target_accuracy": 0.3, "sft_max_steps": 3000, "sft_lr": 0.003, "sft_batch_size": 64,
       "sft_pool": 2000, "sft_seed": 0, "sft_check_every": 5}
#: Metrics of a trainer step kept in the trace (App. F.1's list at our scale), besides step and seconds.
TRACE_KEYS = ("reward_mean", "reward_std", "entropy", "kl", "clip_fraction", "grad_norm", "loss",
              "response_length", "truncation_ratio", "tokens")


@dataclass(frozen=True)
class LiveSettings:
    """What every phase of a search (and of its baselines) shares.

    Defaults (measured on this project's CPU, one thread, 3 seeds; details in the LLMZero report):
    ``rev5`` (reverse 5 digits), whose base starts near 65% validation and where the config moves a
    24-step phase by more than seed noise (best validation, mean of 3 seeds: LR 5e-5 0.69,
    practitioner 0.71, LR 3e-3 0.76; seeds within about 0.03), at about 1.1 CPU-seconds a phase;
    ``default_steps`` 24 per search phase (the paper's phases run 20-60 steps) validated every 6;
    ``full_steps`` 96 for a static run (four phases, the depth of the paper's best chains: the
    practitioner reaches 0.83 there, the grid's LR 5e-4 x batch 64 corner 0.99, so the task has a
    ceiling the best static configs reach); 256 validation problems (a standard error of about 0.028
    at 0.75) and 512 test problems.
    ``memory_budget`` (token slots: batch x rollouts x length) admits the whole grid (64 x 4 x 8) and
    fails the largest corners of the space, as the paper's 8B practitioner run hit OOM (Fig. 4).
    ``updates_per_batch`` 2: with one update per batch the PPO ratio is always 1 and the clip bounds
    (two regularization parameters) would do nothing; verl also takes several mini-batch updates.
    """

    family: str = "rev5"
    samples: int = 256
    n_layer: int = 2
    d_model: int = 32
    n_head: int = 4
    val_size: int = 256
    test_size: int = 512
    val_every: int = 6
    default_steps: int = 24
    full_steps: int = 96
    memory_budget: int = 2048
    updates_per_batch: int = 2
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    cache_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LiveSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidArgument(f"unknown live setting(s) {unknown}; known: {sorted(known)}")
        return cls(**raw)

    def base_spec(self) -> BaseSpec:
        """The base policy this environment starts from (cached by its key in ``cache_dir``)."""
        return BaseSpec(self.family, f"L{self.n_layer}D{self.d_model}H{self.n_head}", self.n_layer, self.d_model,
                        self.n_head, val_size=self.val_size, test_size=self.test_size,
                        max_new_tokens=RANGES["max_response_length"][1], **SFT)

    def validate(self) -> None:
        """One clear message for a setting no phase could run with."""
        family = parse_family(self.family)
        top = RANGES["max_response_length"][1]
        if family.max_answer_len + 1 > top:
            raise InvalidArgument(f"family {self.family}'s answers need {family.max_answer_len + 1} tokens with EOS, "
                                  f"more than the space's max_response_length {top}; choose a shorter family")
        for name in ("samples", "val_size", "test_size", "val_every", "default_steps", "full_steps", "memory_budget",
                     "updates_per_batch", "threads", "n_layer", "d_model", "n_head"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"live setting {name} must be >= 1, got {getattr(self, name)}")


def node_seed(seed: int, node_id: str) -> int:
    """The node's data-order and sampling seed: a fresh order per phase (§3.3), reproducible."""
    return int(hashlib.sha256(f"{seed}/{node_id}".encode()).hexdigest()[:8], 16)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class LivePhaseRunner:
    """Runs phases of GRPO on one task family; implements :class:`~.types.PhaseRunner`."""

    def __init__(self, settings: LiveSettings, out_dir: Path) -> None:
        settings.validate()
        self.settings, self.out = settings, Path(out_dir)
        self._base: dict[str, Any] | None = None
        self._splits: dict[str, list[Problem]] | None = None

    def checkpoint(self, node_id: str, step: int) -> Path:
        return self.out / "checkpoints" / node_id / f"step{step}.safetensors"

    def trace_path(self, node_id: str) -> Path:
        return self.out / "nodes" / node_id / "trace.jsonl"

    def _prepare(self) -> tuple[dict[str, Any], dict[str, list[Problem]]]:
        """Draw the splits (train by seed; val/test fixed) and build (or read) the cached base, once."""
        if self._base is None or self._splits is None:
            from gymnasium_llmconfig.lab.grpo.base import build_base  # torch: only when a phase runs

            s = self.settings
            family = parse_family(s.family)
            self._splits = {"train": make_split(family, "train", s.samples, seed=s.seed),
                            "val": make_split(family, "val", s.val_size),
                            "test": make_split(family, "test", s.test_size)}
            self._base = build_base(s.base_spec(), Path(s.cache_dir) if s.cache_dir else self.out / "base")
        return self._base, self._splits

    def run(self, node_id: str, spec: PhaseSpec, stopper: EarlyStopper | None,
            best: PhaseResult | None) -> PhaseResult:
        """Train the phase; never raises for a training failure (status ``"failed"``, ``failure`` set)."""
        import torch

        torch.set_num_threads(self.settings.threads)
        out = _Phase(spec)
        try:
            self._prepare()  # the base and splits every phase shares: built once, not this phase's compute
        except Exception as exc:
            out.failure = f"{type(exc).__name__}: {exc}"
            return out.result(0.0, 0.0)
        wall, cpu = time.perf_counter(), time.process_time()
        need = memory_units(spec.config)
        if need > self.settings.memory_budget:
            out.failure = (f"memory: {need} token slots (batch {spec.config.batch_size} x rollouts "
                           f"{spec.config.rollouts} x length {spec.config.max_response_length}) > budget "
                           f"{self.settings.memory_budget}; lower batch_size, rollouts or max_response_length")
        elif spec.steps < 1:
            out.failure = f"a phase trains at least 1 step, got steps={spec.steps}"
        else:
            try:
                self._train(node_id, spec, stopper, best, out)
            except BackendUnavailable:
                raise  # the LLM stopper's endpoint is down: not the phase's fault; the search keeps its tree
            except Exception as exc:  # any failure is the phase's outcome, for the debug step (§3.2)
                out.failure = f"{type(exc).__name__}: {exc}"
        return out.result(time.process_time() - cpu, time.perf_counter() - wall)

    def _train(self, node_id: str, spec: PhaseSpec, stopper: EarlyStopper | None, best: PhaseResult | None,
               out: _Phase) -> None:
        from gymnasium_llmconfig.lab.grpo.base import load_base
        from gymnasium_llmconfig.lab.grpo.trainer import GRPOConfig, GRPOTrainer
        from gymnasium_llmconfig.storage import JsonlAppender

        s, c = self.settings, spec.config
        base, splits = self._prepare()
        cfg = GRPOConfig(lr=c.lr, batch_size=c.batch_size, kl_coef=c.kl_coef, group_size=c.rollouts,
                         temperature=c.temperature, clip_eps=c.clip_low, clip_eps_high=c.clip_high,
                         updates_per_batch=s.updates_per_batch, grad_clip=c.grad_clip, seed=node_seed(s.seed, node_id),
                         norm_adv=c.norm_adv, max_response_length=c.max_response_length,
                         total_steps=spec.resume_step + spec.steps)
        # built from the base, so the trainer's KL reference is the base whatever the parent
        trainer = GRPOTrainer(load_base(base, s.device), splits["train"], cfg)
        if spec.parent is not None:
            ckpt = self.checkpoint(spec.parent, spec.resume_step)
            if not ckpt.is_file():
                raise FileNotFoundError(f"no checkpoint of {spec.parent} at step {spec.resume_step} ({ckpt})")
            trainer.load(ckpt)
            if trainer.step_index != spec.resume_step:
                raise ValueError(f"checkpoint {ckpt} is at step {trainer.step_index}, not {spec.resume_step}")
        elif spec.resume_step:
            raise ValueError(f"a from-scratch phase starts at step 0, got resume_step={spec.resume_step}")
        trace = self.trace_path(node_id)
        trace.unlink(missing_ok=True)  # a phase re-run after a kill starts its trace over
        with JsonlAppender(trace, owner="phase") as log:
            while not trainer.done:
                t0 = time.perf_counter()
                metrics = trainer.step()
                line = {"step": trainer.step_index, **{k: _finite(metrics.get(k)) for k in TRACE_KEYS},
                        "step_seconds": round(time.perf_counter() - t0, 4)}
                out.tokens += int(metrics["tokens"])
                if trainer.status != "ok":
                    out.failure = "diverged"
                    out.trace.append(line)
                    log.append(line)
                    return
                if (trainer.step_index - spec.resume_step) % s.val_every == 0 or trainer.done:
                    line["val"] = self._validate(node_id, trainer, splits, out)
                out.trace.append(line)
                log.append(line)
                if "val" in line and not trainer.done and stopper is not None:
                    decision = stopper.decide(PhaseProgress(spec, out.trace, out.validations), best)
                    if decision.stop:
                        out.stop_reason = decision.reason
                        return

    def _validate(self, node_id: str, trainer: GRPOTrainer, splits: dict[str, list[Problem]], out: _Phase) -> float:
        """Validate, checkpoint, and measure test at a new best validation (reported, never decided on)."""
        step = trainer.step_index
        score = round(trainer.evaluate(splits["val"]), 5)
        trainer.save(self.checkpoint(node_id, step))
        out.checkpoints.append(step)
        out.validations.append((step, score))
        if out.score is None or score > out.score:
            out.score, out.best_step = score, step
            out.test_score = round(trainer.evaluate(splits["test"]), 5)
        return score

    def release(self, node_id: str, keep_steps: set[int]) -> None:
        """Delete ``node_id``'s checkpoints except ``keep_steps``; its checkpoint folder when none is kept."""
        folder = self.out / "checkpoints" / node_id
        if not keep_steps:
            shutil.rmtree(folder, ignore_errors=True)
            return
        for path in folder.glob("step*.safetensors"):
            if int(path.stem.removeprefix("step")) not in keep_steps:
                path.unlink()


@dataclass
class _Phase:
    """What a running phase has produced so far."""

    spec: PhaseSpec
    failure: str = ""
    stop_reason: str = ""
    score: float | None = None
    best_step: int | None = None
    test_score: float | None = None
    tokens: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)
    validations: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)

    def result(self, cpu_seconds: float, wall_seconds: float) -> PhaseResult:
        status = "failed" if self.failure else "early-stopped" if self.stop_reason else "completed"
        return PhaseResult(status, self.score, self.best_step, self.test_score, self.validations, self.trace,
                           self.checkpoints, self.tokens, round(cpu_seconds, 3), round(wall_seconds, 3),
                           self.failure, self.stop_reason)
