"""The GRPO trainer's phase options for LLMZero (paper 003 §3.3-3.4): advantage normalization off,
asymmetric clip, a response-length cap, a step count that ends a phase. Defaults change nothing."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gymnasium_llmconfig.lab.grpo.base import build_base, load_base
from gymnasium_llmconfig.lab.grpo.policy import EOS, PAD
from gymnasium_llmconfig.lab.grpo.run import BaseSpec
from gymnasium_llmconfig.lab.grpo.tasks import make_split, parse_family
from gymnasium_llmconfig.lab.grpo.trainer import GRPOConfig, GRPOTrainer, generate
from gymnasium_llmconfig.lab.rl.objective import group_advantages, grpo_loss

# -- objective: hand-computed values ---------------------------------------------------------------------------------


def test_advantages_without_std_division_are_mean_centred_only() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    # group means 0.5 and 0.75
    assert group_advantages(rewards, 4, normalize=False).tolist() == [0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75]
    # with the std: sample std of [1, 0, 0, 1] is sqrt(1/3); of [1, 1, 1, 0] is 0.5
    on = group_advantages(rewards, 4)
    assert on[0].item() == pytest.approx(0.5 / math.sqrt(1 / 3), rel=1e-5)
    assert on[7].item() == pytest.approx(-0.75 / 0.5, rel=1e-5)


def test_asymmetric_clip_hand_values() -> None:
    mask = torch.ones(2, 1)
    old = torch.zeros(2, 1)
    logp = torch.log(torch.tensor([[1.3], [0.7]]))  # ratios 1.3 and 0.7
    adv = torch.tensor([1.0, -1.0])
    out = grpo_loss(logp, old, adv, mask, clip_eps=0.2, clip_eps_high=0.28)
    # row 0: min(1.3 * 1, 1.28 * 1) = 1.28; row 1: min(0.7 * -1, 0.8 * -1) = -0.8; loss = -(1.28 - 0.8) / 2
    assert out.loss.item() == pytest.approx(-(1.28 - 0.8) / 2, rel=1e-6)
    assert out.clip_fraction.item() == 1.0
    wide = grpo_loss(logp, old, adv, mask, clip_eps=0.2, clip_eps_high=0.35)  # 1.3 is inside 1.35 now
    assert wide.loss.item() == pytest.approx(-(1.3 - 0.8) / 2, rel=1e-6)
    assert wide.clip_fraction.item() == 0.5


class _Scripted:
    """Emits a fixed token script per row (ids 2.. are answer tokens)."""

    max_new_tokens, pad_id, eos_id = 4, PAD, EOS

    def __init__(self, scripts: list[list[int]]) -> None:
        self.scripts = scripts

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((len(prompts), 1), 5)
        return ids, torch.ones_like(ids, dtype=torch.bool)

    def logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1] - 1
        out = torch.full((ids.shape[0], ids.shape[1], 12), -1e9)
        for row, script in enumerate(self.scripts):
            out[row, -1, script[min(t, len(script) - 1)]] = 0.0
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        return ["".join(str(i) for i in row if i not in (PAD, EOS)) for row in ids.tolist()]


def test_generation_cap_cuts_and_marks_truncation() -> None:
    policy = _Scripted([[3, EOS], [4, 4, 4, EOS]])
    full = generate(policy, ["a", "b"], 1.0, torch.Generator().manual_seed(0))
    assert full.truncated.tolist() == [False, False] and full.completions == ["3", "444"]
    cut = generate(policy, ["a", "b"], 1.0, torch.Generator().manual_seed(0), max_new_tokens=2)
    assert cut.truncated.tolist() == [False, True] and cut.completions == ["3", "44"]
    assert cut.mask.int().tolist() == [[0, 1, 1], [0, 1, 1]]
    endless = _Scripted([[4], [4]])
    assert generate(endless, ["a", "b"], 1.0, None, max_new_tokens=99).ids.shape[1] == 1 + 4  # the policy's max


# -- the trainer on a real tiny base ---------------------------------------------------------------------------------

BASE = BaseSpec("sort5", "T", n_layer=1, d_model=32, n_head=4, sft_target_accuracy=0.3, sft_max_steps=600,
                sft_lr=3e-3, sft_batch_size=64, sft_pool=400, sft_seed=0, sft_check_every=5, val_size=64,
                test_size=128)


def test_base_key_is_unchanged_without_extra_tokens() -> None:
    assert BASE.key == "sort5-T-598fb6fa98"  # the key main computed before max_new_tokens existed
    assert replace(BASE, max_new_tokens=8).key != BASE.key


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A sort5 base that may generate 8 tokens (answers need 5 + EOS)."""
    torch.set_num_threads(1)
    return build_base(replace(BASE, max_new_tokens=8), tmp_path_factory.mktemp("base"))


def _trainer(base: dict, **kw: object) -> GRPOTrainer:
    train = make_split(parse_family("sort5"), "train", 64)
    return GRPOTrainer(load_base(base), train, GRPOConfig(lr=5e-4, batch_size=16, group_size=4, **kw))


def test_a_cap_that_cuts_answers_costs_all_reward_and_shows_as_truncation(roomy: dict) -> None:
    assert load_base(roomy).max_new_tokens == 8
    fits = _trainer(roomy, max_response_length=6).step()
    assert fits["reward_mean"] > 0 and fits["truncation_ratio"] < 0.5
    cut = _trainer(roomy, max_response_length=5).step()  # 5 digits fit, their EOS does not
    # a right answer needs all 5 digits, so every right answer was cut before its EOS
    assert cut["reward_mean"] == 0.0 and cut["truncation_ratio"] > 0.9
    assert cut["tokens"] <= 16 * 4 * 5
    with pytest.raises(ValueError, match=r"max_response_length=9 is outside 1\.\.8"):
        _trainer(roomy, max_response_length=9)


def test_asymmetric_clip_is_plumbed_through_the_config(roomy: dict) -> None:
    # two updates per batch, so the second one sees ratios != 1; no lower clip, upper bound 1 + high
    loose = _trainer(roomy, updates_per_batch=2, clip_eps=10.0).step()
    tight = _trainer(roomy, updates_per_batch=2, clip_eps=10.0, clip_eps_high=0.0).step()
    assert loose["clip_fraction"] == 0.0 and tight["clip_fraction"] > 0.0


def test_total_steps_ends_a_phase_and_a_resumed_phase_trains_n_more(roomy: dict, tmp_path: Path) -> None:
    first = _trainer(roomy, total_steps=3)
    while not first.done:
        first.step()
    assert first.step_index == 3
    first.save(tmp_path / "step3.safetensors")
    second = _trainer(roomy, total_steps=3 + 2, seed=7)
    second.load(tmp_path / "step3.safetensors")
    steps = []
    while not second.done:
        steps.append(second.step()["step"])
    assert steps == [4, 5]


def test_normalization_switch_changes_the_update_and_defaults_do_not(roomy: dict) -> None:
    def weights_after(**kw: object) -> torch.Tensor:
        t = _trainer(roomy, **kw)
        t.step()
        return torch.cat([p.detach().flatten() for p in t.policy.model.parameters()])

    default = weights_after()
    assert torch.equal(default, weights_after(norm_adv=True, clip_eps_high=None, max_response_length=None))
    assert not torch.equal(default, weights_after(norm_adv=False))
