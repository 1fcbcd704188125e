"""GRPO's objective: group-normalized advantages (paper 000, eq. 1) and the clipped loss (eq. 2).

Shapes: ``B`` sequences of ``T`` tokens; ``mask`` is 1 exactly on the tokens the policy
generated (the env's observations, the instructions and padding are 0), so the loss
and every statistic read only the policy's own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Added to the group's standard deviation in eq. 1, so a group whose rewards are all equal
#: gets advantage 0 instead of 0/0.
ADVANTAGE_EPS = 1e-6


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = ADVANTAGE_EPS,
                     normalize: bool = True) -> torch.Tensor:
    """Eq. 1: ``A_i = (r_i - mean(r)) / (std(r) + eps)`` within each group of ``group_size``.

    ``rewards`` is flat, groups consecutive (``[g0_0, g0_1, ..., g1_0, ...]``). The standard
    deviation is the sample one (Bessel-corrected), as in DeepSeekMath's GRPO and the trainers
    built on it. Every token of trajectory ``i`` shares ``A_i``. ``normalize=False`` keeps only the
    mean-centring, ``A_i = r_i - mean(r)`` (Dr. GRPO; verl's ``norm_adv_by_std_in_grpo=False``, the
    setting of paper 003's practitioner config, Table 12).
    """
    if group_size < 2:
        raise ValueError(f"GRPO needs at least 2 rollouts per group to normalize, got group_size={group_size}")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be flat with a multiple of group_size={group_size} entries, "
                         f"got shape {tuple(rewards.shape)}")
    groups = rewards.double().view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if not normalize:
        return centred.view(-1).to(rewards.dtype)
    return (centred / (groups.std(dim=1, keepdim=True) + eps)).view(-1).to(rewards.dtype)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) by Schulman's k3 estimator: ``exp(d) - d - 1`` with ``d = ref - logp``.

    Non-negative and unbiased for tokens sampled from ``pi``; the KL term of eq. 2.
    """
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1 (over ``dim``, or everything); 0 where the mask is empty."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    return (values * mask).sum(dim=dim) / mask.sum(dim=dim).clamp(min=1.0)


@dataclass(frozen=True)
class GRPOLoss:
    """The loss to minimize (``-J_GRPO`` of eq. 2) and what trainers log about it."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    kl: torch.Tensor
    clip_fraction: torch.Tensor
    ratio_mean: torch.Tensor


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
) -> GRPOLoss:
    """``-J_GRPO`` of eq. 2 over a batch.

    Per token: ``r = exp(logp - logp_old)``, surrogate ``min(r·A, clip(r, 1-eps, 1+eps_high)·A)``,
    minus ``kl_coef`` times the k3 KL to the reference policy. Averaged over each sequence's
    masked tokens (eq. 2's ``1/|M_i|``), then over sequences (``1/G``); a sequence with no
    generated tokens contributes 0. ``advantages`` is per sequence ``(B,)`` or per token ``(B, T)``.
    ``clip_eps_high`` (default ``clip_eps``) allows DAPO's asymmetric clip.
    """
    if kl_coef and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs (the frozen reference policy's log-probabilities)")
    high = clip_eps if clip_eps_high is None else clip_eps_high
    if advantages.ndim == 1:
        advantages = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + high)
    surrogate = torch.minimum(ratio * advantages, clipped * advantages)
    per_token = -surrogate
    kl = torch.zeros_like(logprobs) if ref_logprobs is None else k3_kl(logprobs, ref_logprobs)
    if kl_coef:
        per_token = per_token + kl_coef * kl
    loss = masked_mean(per_token, mask, dim=-1).mean()
    with torch.no_grad():
        was_clipped = (ratio * advantages != surrogate).to(logprobs.dtype)
        return GRPOLoss(
            loss=loss,
            policy_loss=masked_mean(-surrogate, mask, dim=-1).mean().detach(),
            kl=masked_mean(kl, mask).detach(),
            clip_fraction=masked_mean(was_clipped, mask),
            ratio_mean=masked_mean(ratio, mask).detach(),
        )
