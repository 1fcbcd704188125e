"""A step-wise GRPO trainer: sample G answers per prompt, verify, normalize in groups, PPO-clip + k3 KL.

One :meth:`GRPOTrainer.step` is one GRPO step of paper 000's eq. 1-2 (objective in
:mod:`gymnasium_llmconfig.lab.rl.objective`) on ``batch_size`` training prompts, with ``group_size``
sampled completions each; the loss reads only the policy's own tokens (the answer and its EOS,
never the prompt or the padding after EOS). The KL is to the frozen starting policy.

Built to be resumed phase by phase (LLMZero): the data order and the sampling noise of step ``k``
depend only on ``(seed, k)``, and checkpoints are weights only with the step in their header, so a
trainer loaded from step ``k`` sees the same batches and samples the same rollouts as the one that
saved it; only the optimizer's moments restart, as in any weights-only resume. A non-finite loss or
gradient is an outcome: the step is not applied, :attr:`status` becomes ``"diverged"`` and training
stops there.

For LLMZero's phases (paper 003 §3.3-3.4) a config can also switch off the std division of eq. 1
(``norm_adv``), clip the ratio asymmetrically (``clip_eps_high``, DAPO's clip-higher), cap the
response length below the policy's maximum (``max_response_length``) and end the run at a given
global step (``total_steps``: resume at ``k``, train ``n`` more, end at ``k + n``). Their defaults
leave the trainer exactly as the GRPO collector runs it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from gymnasium_llmconfig.lab.grpo.policy import read_metadata
from gymnasium_llmconfig.lab.grpo.tasks import Problem, verify
from gymnasium_llmconfig.lab.rl.objective import group_advantages, grpo_loss, masked_mean


class Policy(Protocol):
    """What the trainer needs of a policy (:class:`TinyPolicy`, :class:`HFPolicy`)."""

    model: torch.nn.Module
    pad_id: int
    eos_id: int
    max_new_tokens: int

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...
    def logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...
    def decode(self, ids: torch.Tensor) -> list[str]: ...
    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None: ...
    def load_weights(self, path: str | Path) -> None: ...


@dataclass(frozen=True)
class GRPOConfig:
    """One GRPO run's hyperparameters. ``batch_size`` counts prompts per step (each sampled ``group_size`` times)."""

    lr: float
    batch_size: int
    kl_coef: float = 0.0
    epochs: int = 1
    group_size: int = 8
    temperature: float = 1.0
    clip_eps: float = 0.2
    updates_per_batch: int = 1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    #: Divide advantages by the group's std (eq. 1); off: mean-centred only (paper 003 Table 12's
    #: practitioner runs without it, verl's ``norm_adv_by_std_in_grpo``).
    norm_adv: bool = True
    #: Upper ratio bound ``1 + clip_eps_high`` (DAPO's clip-higher); ``None``: symmetric ``clip_eps``.
    clip_eps_high: float | None = None
    #: Response-length cap in tokens (EOS included), at most the policy's ``max_new_tokens``. ``None``:
    #: the policy's maximum and rewards as verified. Set: a completion that reaches the cap without EOS
    #: was cut off and earns 0, so a cap that cuts answers costs reward and shows as truncation.
    max_response_length: int | None = None
    #: The global step the run ends at, instead of ``epochs`` passes (a phase: resume at k, end at k + n).
    total_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rollout:
    """Sampled sequences: ``ids`` (B, P+N), ``attention`` over real tokens, ``mask`` on the policy's own tokens."""

    ids: torch.Tensor
    attention: torch.Tensor
    mask: torch.Tensor
    completions: list[str]
    truncated: torch.Tensor


def generate(policy: Policy, prompts: list[str], temperature: float, generator: torch.Generator | None,
             max_new_tokens: int | None = None) -> Rollout:
    """Sample (or, at ``temperature=0``, greedily decode) one completion per prompt, up to EOS or
    ``max_new_tokens`` (default and upper bound: the policy's own maximum).

    The mask is 1 on each generated token up to and including its EOS and 0 on the prompt and on
    the padding written after EOS, which is what eq. 2's ``M_i`` (the policy's own tokens) means here.
    """
    ids, attention = policy.encode_prompts(prompts)
    n = len(prompts)
    done = torch.zeros(n, dtype=torch.bool, device=ids.device)
    mask_cols = []
    with torch.no_grad():
        limit = policy.max_new_tokens if max_new_tokens is None else min(max_new_tokens, policy.max_new_tokens)
        for _ in range(limit):
            logits = policy.logits(ids, attention)[:, -1].float()
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=-1).nan_to_num(0.0)
                bad = probs.sum(-1) <= 0  # a diverged policy: fall back to padding, it earns no reward
                probs[bad, policy.pad_id] = 1.0
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(ids.device)
            else:
                nxt = logits.nan_to_num(0.0).argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, policy.pad_id), nxt)
            mask_cols.append(~done)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            attention = torch.cat([attention, (~done)[:, None]], dim=1)
            done = done | (nxt == policy.eos_id)
            if bool(done.all()):
                break
    p = ids.shape[1] - len(mask_cols)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[:, p:] = torch.stack(mask_cols, dim=1)
    return Rollout(ids, attention, mask, policy.decode(ids[:, p:]), truncated=~done)


def token_logprobs(policy: Policy, model: torch.nn.Module, roll: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each sequence's tokens under ``model`` and the per-token entropy, aligned to
    ``roll.ids[:, 1:]``."""
    keep = policy.model
    policy.model = model  # the policy's own input conventions, another set of weights
    try:
        logits = policy.logits(roll.ids[:, :-1], roll.attention[:, :-1]).float()
    finally:
        policy.model = keep
    logp = torch.log_softmax(logits, dim=-1)
    taken = logp.gather(-1, roll.ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return taken, entropy


def accuracy(policy: Policy, problems: list[Problem], batch: int = 256) -> float:
    """Greedy exact-match accuracy over ``problems``."""
    was_training = policy.model.training
    policy.model.eval()
    right = 0.0
    for i in range(0, len(problems), batch):
        chunk = problems[i : i + batch]
        roll = generate(policy, [p.prompt for p in chunk], 0.0, None)
        right += sum(verify(c, p.answer) for c, p in zip(roll.completions, chunk, strict=True))
    policy.model.train(was_training)
    return right / max(1, len(problems))


class GRPOTrainer:
    """GRPO on a list of training problems, one :meth:`step` at a time.

    ``reference`` is the frozen policy of the KL term (default: a copy of the policy as given,
    i.e. the starting point). To resume, build the trainer from the *starting* policy and call
    :meth:`load` with a saved checkpoint.
    """

    def __init__(self, policy: Policy, train: list[Problem], cfg: GRPOConfig,
                 reference: torch.nn.Module | None = None) -> None:
        if cfg.max_response_length is not None and not 1 <= cfg.max_response_length <= policy.max_new_tokens:
            raise ValueError(f"max_response_length={cfg.max_response_length} is outside 1..{policy.max_new_tokens} "
                             "(the policy's maximum)")
        if cfg.batch_size > len(train):
            raise ValueError(f"batch_size={cfg.batch_size} is larger than the training set ({len(train)} prompts)")
        self.policy, self.train, self.cfg = policy, train, cfg
        self.reference = reference if reference is not None else copy.deepcopy(policy.model)
        self.reference.eval().requires_grad_(False)
        self.steps_per_epoch = len(train) // cfg.batch_size
        self.total_steps = cfg.epochs * self.steps_per_epoch if cfg.total_steps is None else cfg.total_steps
        self.step_index = 0
        self.status = "ok"
        self._new_optimizer()

    def _new_optimizer(self) -> None:
        self.optimizer = torch.optim.AdamW(self.policy.model.parameters(), lr=self.cfg.lr,
                                           weight_decay=self.cfg.weight_decay)

    @property
    def done(self) -> bool:
        return self.status != "ok" or self.step_index >= self.total_steps

    def _batch(self, step: int) -> list[Problem]:
        """Step ``step``'s prompts: epoch ``e`` is a permutation seeded by ``(seed, e)``, cut into batches."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train), generator=gen)
        return [self.train[i] for i in order[pos * self.cfg.batch_size : (pos + 1) * self.cfg.batch_size].tolist()]

    def step(self) -> dict[str, float]:
        """One GRPO step; returns its metrics (rewards, KL, clip fraction, entropy, grad norm, lengths)."""
        if self.done:
            raise RuntimeError(f"the run is over (status={self.status}, step {self.step_index}/{self.total_steps})")
        cfg, model = self.cfg, self.policy.model
        problems = self._batch(self.step_index)
        prompts = [p.prompt for p in problems for _ in range(cfg.group_size)]
        answers = [p.answer for p in problems for _ in range(cfg.group_size)]
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 7919 * (self.step_index + 1))
        model.eval()
        roll = generate(self.policy, prompts, cfg.temperature, gen, cfg.max_response_length)
        model.train()
        rewards = torch.tensor([verify(c, a) for c, a in zip(roll.completions, answers, strict=True)])
        if cfg.max_response_length is not None:
            rewards = rewards * (~roll.truncated).to(rewards.dtype).cpu()
        adv = group_advantages(rewards, cfg.group_size, normalize=cfg.norm_adv).to(roll.ids.device)
        mask = roll.mask[:, 1:]
        with torch.no_grad():
            old, _ = token_logprobs(self.policy, model, roll)
            ref, _ = token_logprobs(self.policy, self.reference, roll)
        metrics: dict[str, float] = {}
        for _ in range(cfg.updates_per_batch):
            logp, entropy = token_logprobs(self.policy, model, roll)
            out = grpo_loss(logp, old, adv, mask, ref_logprobs=ref, kl_coef=cfg.kl_coef, clip_eps=cfg.clip_eps,
                            clip_eps_high=cfg.clip_eps_high)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
            if not (math.isfinite(float(out.loss.detach())) and math.isfinite(grad_norm)):
                self.status = "diverged"
                break
            self.optimizer.step()
            metrics = {
                "loss": float(out.loss.detach()), "kl": float(out.kl), "clip_fraction": float(out.clip_fraction),
                "entropy": float(masked_mean(entropy.detach(), mask)), "grad_norm": grad_norm,
            }
        self.step_index += 1
        lengths = roll.mask.sum(1).float()
        return {
            "step": self.step_index, "status": self.status,
            "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
            "response_length": float(lengths.mean()), "truncation_ratio": float(roll.truncated.float().mean()),
            "tokens": int(lengths.sum()), **metrics,
        }

    def evaluate(self, problems: list[Problem]) -> float:
        """Greedy accuracy on a held-out split."""
        return accuracy(self.policy, problems)

    def save(self, path: str | Path) -> None:
        """Weights only; the step, status and config go into the header."""
        self.policy.save(path, {"step": self.step_index, "status": self.status, "grpo_config": self.cfg.to_dict()})

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint saved by :meth:`save` (weights and step; a fresh optimizer)."""
        meta = read_metadata(path)
        self.policy.load_weights(path)
        self.step_index = int(meta.get("step", 0))
        self.status = meta.get("status", "ok")
        self._new_optimizer()
