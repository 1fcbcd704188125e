"""GRPO's objective against hand-computed values (paper 000, eqs. 1-2)."""

import math

import pytest
import torch

from gymnasium_llmconfig.lab.rl.objective import ADVANTAGE_EPS, group_advantages, grpo_loss, k3_kl, masked_mean


def test_group_advantages_normalize_each_group_by_its_sample_std():
    adv = group_advantages(torch.tensor([1.0, 2.0, 3.0, -1.0, -1.0, -1.0]), group_size=3)
    # group 1: mean 2, sample std 1; group 2: all equal, so 0 (not 0/0)
    expected = [-1 / (1 + ADVANTAGE_EPS), 0.0, 1 / (1 + ADVANTAGE_EPS), 0.0, 0.0, 0.0]
    assert adv.tolist() == pytest.approx(expected)


def test_group_advantages_two_rollouts():
    # r = (-1, -0.2): mean -0.6, sample std sqrt(0.32) = 0.565685
    adv = group_advantages(torch.tensor([-1.0, -0.2]), group_size=2)
    assert adv.tolist() == pytest.approx([-0.4 / 0.565685, 0.4 / 0.565685], rel=1e-5)


@pytest.mark.parametrize(("rewards", "group_size"), [([1.0, 2.0, 3.0], 2), ([1.0], 1)])
def test_group_advantages_refuse_bad_groups(rewards, group_size):
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.tensor(rewards), group_size)


def test_k3_kl_hand_value_and_zero_at_equal_policies():
    logp, ref = torch.log(torch.tensor([0.5, 0.3])), torch.log(torch.tensor([0.25, 0.3]))
    # d = ref - logp = log(0.5): exp(d) - d - 1 = 0.5 + 0.693147 - 1
    assert k3_kl(logp, ref).tolist() == pytest.approx([0.5 + math.log(2) - 1, 0.0], abs=1e-7)


def _two_tokens():
    logp = torch.log(torch.tensor([[0.6, 0.3]]))
    old = torch.log(torch.tensor([[0.5, 0.5]]))
    return logp, old, torch.ones(1, 2)


def test_grpo_loss_positive_advantage_clips_the_upper_side():
    logp, old, mask = _two_tokens()
    # ratios (1.2, 0.6); A = 1: min(1.2, clip 1.2) = 1.2, min(0.6, clip 0.8) = 0.6 -> J = 0.9
    out = grpo_loss(logp, old, torch.tensor([1.0]), mask, clip_eps=0.2)
    assert out.loss.item() == pytest.approx(-0.9)
    assert out.clip_fraction.item() == pytest.approx(0.0)
    assert out.ratio_mean.item() == pytest.approx(0.9)


def test_grpo_loss_negative_advantage_takes_the_pessimistic_clip():
    logp, old, mask = _two_tokens()
    # A = -1: min(-1.2, -1.2) = -1.2, min(-0.6, -0.8) = -0.8 -> J = -1.0; the second token is clipped
    out = grpo_loss(logp, old, torch.tensor([-1.0]), mask, clip_eps=0.2)
    assert out.loss.item() == pytest.approx(1.0)
    assert out.clip_fraction.item() == pytest.approx(0.5)


def test_grpo_loss_adds_the_k3_kl_penalty():
    logp, old, mask = _two_tokens()
    ref = torch.log(torch.tensor([[0.5, 0.5]]))
    kl1 = 0.5 / 0.6 - math.log(0.5 / 0.6) - 1  # 0.015655
    kl2 = 0.5 / 0.3 - math.log(0.5 / 0.3) - 1  # 0.155841
    out = grpo_loss(logp, old, torch.tensor([1.0]), mask, ref_logprobs=ref, kl_coef=0.1)
    assert out.loss.item() == pytest.approx(-0.9 + 0.1 * (kl1 + kl2) / 2, rel=1e-6)
    assert out.kl.item() == pytest.approx((kl1 + kl2) / 2, rel=1e-6)


def test_grpo_loss_reads_only_masked_tokens_and_averages_per_sequence_first():
    logp = torch.log(torch.tensor([[0.6, 0.3, 0.9], [0.6, 0.9, 0.9]]))
    old = torch.log(torch.tensor([[0.5, 0.5, 0.1], [0.5, 0.1, 0.1]]))
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # sequence 1 (tokens 1-2): J = 0.9 as above; sequence 2 (token 1 only): min(1.2, 1.2) = 1.2
    out = grpo_loss(logp, old, torch.tensor([1.0, 1.0]), mask)
    assert out.loss.item() == pytest.approx(-(0.9 + 1.2) / 2)


def test_grpo_loss_gradient_is_zero_off_the_mask():
    logp = torch.log(torch.tensor([[0.6, 0.3]])).requires_grad_(True)
    out = grpo_loss(logp, logp.detach(), torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]))
    out.loss.backward()
    assert logp.grad[0, 1].item() == 0.0
    assert logp.grad[0, 0].item() == pytest.approx(-1.0)  # d(-r·A)/dlogp = -r·A = -1 at r = 1


def test_grpo_loss_needs_the_reference_for_kl():
    logp, old, mask = _two_tokens()
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(logp, old, torch.tensor([1.0]), mask, kl_coef=0.1)


def test_masked_mean_of_an_empty_mask_is_zero():
    assert masked_mean(torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])).item() == 0.0
