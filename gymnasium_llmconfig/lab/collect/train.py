"""One pretraining run: a config in, an outcome record out (never an exception).

A sweep is only useful if every grid point yields a row, so divergence and
errors are outcomes here, not crashes:

* ``status="ok"``: trained to the end.
* ``status="diverged"``: the training loss became NaN/inf (training stops at
  that step), or the final smoothed loss ended no better than uniform
  prediction. ``final_loss`` is then set to ``ln(vocab_size)``, the loss of
  predicting the uniform distribution, so diverged runs rank below every run
  that learned something yet keep a finite, comparable metric.
* ``status="failed"``: any exception; ``error`` holds its text and the loss
  fields are ``None``.

``final_loss`` is the *smoothed* training loss: the mean of the per-step
training losses over the last 10% of steps (at least one step), as in Step
Law's "final smooth training loss". ``final_raw_loss`` is the last step's loss.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gymnasium_llmconfig.lab.collect.corpus import Corpus
from gymnasium_llmconfig.lab.collect.model import GPTConfig, TinyGPT, non_embedding_params

#: Maximum number of points kept in a run's loss curve.
CURVE_POINTS = 50
#: Fraction of final steps averaged into the smoothed final loss.
SMOOTH_FRAC = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Everything (besides the corpus) that determines a run's outcome."""

    model: str
    n_layer: int
    d_model: int
    n_head: int
    tokens: int
    lr: float
    batch_size: int
    seq_len: int
    seed: int = 0
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def steps(self) -> int:
        """Optimizer steps: the token budget over tokens per step (at least one)."""
        return max(1, self.tokens // self.tokens_per_step)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_at(step: int, cfg: RunConfig) -> float:
    """Linear warmup to the peak, then cosine decay to ``min_lr_frac`` of it at the last step."""
    warmup = max(1, round(cfg.warmup_frac * cfg.steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup - 1)
    floor = cfg.min_lr_frac * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _finite_or_none(x: float) -> float | None:
    return round(x, 5) if math.isfinite(x) else None


def _subsample_curve(losses: list[float]) -> list[list[Any]]:
    """At most ``CURVE_POINTS`` [step, loss] pairs, evenly spaced, always with the last step."""
    if not losses:
        return []
    idx = np.unique(np.linspace(0, len(losses) - 1, min(CURVE_POINTS, len(losses))).round().astype(int))
    return [[int(i) + 1, _finite_or_none(losses[i])] for i in idx]


@torch.no_grad()
def _val_loss(model: TinyGPT, val: torch.Tensor, seq_len: int, device: torch.device) -> float:
    """Mean next-token loss over non-overlapping validation windows."""
    n = (len(val) - 1) // seq_len
    if n < 1:
        raise ValueError(f"validation split ({len(val)} tokens) is shorter than seq_len+1")
    x = val[: n * seq_len].view(n, seq_len)
    y = val[1 : n * seq_len + 1].view(n, seq_len)
    model.eval()
    total = 0.0
    for i in range(0, n, 64):
        logits = model(x[i : i + 64].to(device))
        total += F.cross_entropy(logits.flatten(0, 1), y[i : i + 64].to(device).flatten(), reduction="sum").item()
    model.train()
    return total / (n * seq_len)


def _train(cfg: RunConfig, corpus: Corpus, device: torch.device) -> dict[str, Any]:
    vocab = corpus.params.vocab_size
    torch.manual_seed(cfg.seed)
    model = TinyGPT(GPTConfig(vocab, cfg.seq_len, cfg.n_layer, cfg.d_model, cfg.n_head)).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
    )
    train = torch.from_numpy(corpus.train.astype(np.int64))
    if len(train) <= cfg.seq_len + 1:
        raise ValueError(f"training split ({len(train)} tokens) is shorter than seq_len+1")
    window = torch.arange(cfg.seq_len + 1)
    gen = torch.Generator().manual_seed(cfg.seed + 1)

    losses: list[float] = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        starts = torch.randint(0, len(train) - cfg.seq_len - 1, (cfg.batch_size,), generator=gen)
        batch = train[starts[:, None] + window].to(device)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value):
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()

    tail = losses[-max(1, math.ceil(SMOOTH_FRAC * cfg.steps)) :]
    smoothed = float(np.mean(tail))
    finite = math.isfinite(smoothed)
    diverged = not finite or smoothed >= math.log(vocab)
    val = _val_loss(model, torch.from_numpy(corpus.val.astype(np.int64)), cfg.seq_len, device) if finite else math.nan
    return {
        "status": "diverged" if diverged else "ok",
        "final_loss": round(math.log(vocab), 5) if diverged else round(smoothed, 5),
        "final_raw_loss": _finite_or_none(losses[-1]),
        "val_loss": _finite_or_none(val),
        "loss_curve": _subsample_curve(losses),
    }


def _record(
    cfg: RunConfig, corpus: Corpus, device: str, outcome: dict[str, Any], wall: float, error: str = ""
) -> dict[str, Any]:
    return {
        **cfg.to_dict(),
        "n_params": non_embedding_params(cfg.n_layer, cfg.d_model),
        "tokens_per_step": cfg.tokens_per_step,
        "steps": cfg.steps,
        **outcome,
        "wall_time_s": round(wall, 3),
        "device": device,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "corpus_sha256": corpus.sha256,
        "error": error,
    }


def failure_record(cfg: RunConfig, corpus: Corpus, device: str, error: str, wall: float = 0.0) -> dict[str, Any]:
    """The record of a run that raised instead of finishing: no losses, the error text."""
    outcome = {"status": "failed", "final_loss": None, "final_raw_loss": None, "val_loss": None, "loss_curve": []}
    return _record(cfg, corpus, device, outcome, wall, error)


def run(cfg: RunConfig, corpus: Corpus, device: str = "cpu") -> dict[str, Any]:
    """Train one run and return its outcome record (config, outcome, provenance).

    Deterministic on CPU for a fixed seed and thread count.
    """
    start = time.perf_counter()
    try:
        outcome = _train(cfg, corpus, torch.device(device))
    except Exception as exc:
        return failure_record(cfg, corpus, device, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    return _record(cfg, corpus, device, outcome, time.perf_counter() - start)
