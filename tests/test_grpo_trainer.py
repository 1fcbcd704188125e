"""The GRPO trainer's own pieces: task families and verifiers, the token mask, training end to end, checkpoints.

The objective's math (eq. 1 advantages, clip, k3 KL) is tested against hand computations in
``test_grpo_objective.py``; here are the parts that feed it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gymnasium_llmconfig.errors import CollectError
from gymnasium_llmconfig.lab.grpo.base import build_base, load_base
from gymnasium_llmconfig.lab.grpo.policy import EOS, PAD, TinyPolicy, TinyPolicyConfig, read_metadata
from gymnasium_llmconfig.lab.grpo.run import BaseSpec, GRPORun, run_grpo
from gymnasium_llmconfig.lab.grpo.tasks import GENERATORS, SPLITS, make_split, parse_family, split_of, verify
from gymnasium_llmconfig.lab.grpo.trainer import GRPOConfig, GRPOTrainer, accuracy, generate

# -- task families and verifiers ------------------------------------------------------------------------------------


def _solve(prompt: str) -> str:
    """An independent solver written from the prompt formats, to check every generator's answers."""
    if m := re.fullmatch(r"(\d+)([+*%])(\d+)=", prompt):
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        return str({"+": a + b, "*": a * b, "%": a % b}[op])
    if m := re.fullmatch(r"([sr])(\d+)=", prompt):
        return "".join(sorted(m.group(2))) if m.group(1) == "s" else m.group(2)[::-1]
    m = re.fullmatch(r"[a-z]+ has (\d+) [a-z]+, (gets|loses) (\d+)\. now\?", prompt)
    assert m, prompt
    a, b = int(m.group(1)), int(m.group(3))
    return str(a + b if m.group(2) == "gets" else a - b)


@pytest.mark.parametrize("name", ["add2", "add3", "mul3", "mod3", "sort5", "rev5", "word1", "word2"])
def test_every_family_answers_right_and_fits_its_declared_lengths(name: str) -> None:
    family = parse_family(name)
    for split in SPLITS:
        for p in make_split(family, split, 64, seed=3):
            assert p.answer == _solve(p.prompt)
            assert len(p.prompt) <= family.max_prompt_len and len(p.answer) <= family.max_answer_len
            assert split_of(p.prompt) == split


def test_verifier_on_known_right_and_wrong_answers() -> None:
    assert verify("46", "46") == 1.0
    assert verify(" 46\n", "46") == 1.0
    assert verify("046", "46") == 0.0
    assert verify("47", "46") == 0.0
    assert verify("", "0") == 0.0
    assert verify("4 6", "46") == 0.0


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(GENERATORS)), st.integers(2, 4), st.integers(0, 10_000))
def test_splits_never_overlap_and_are_seeded(kind: str, difficulty: int, seed: int) -> None:
    family = parse_family(f"{kind}{difficulty + 1}")
    prompts = {s: [p.prompt for p in make_split(family, s, 24, seed=seed)] for s in SPLITS}
    assert not set(prompts["train"]) & set(prompts["val"])
    assert not set(prompts["train"]) & set(prompts["test"])
    assert not set(prompts["val"]) & set(prompts["test"])
    assert [p.prompt for p in make_split(family, "test", 24, seed=seed)] == prompts["test"]


@pytest.mark.parametrize("name", ["foo3", "add0", "add", "add10", ""])
def test_unknown_family_names_the_allowed_ones(name: str) -> None:
    with pytest.raises(CollectError, match=r"unknown task family .*kind one of \['add', 'mod', 'mul', 'rev', 'sort'"):
        parse_family(name)


def test_a_family_too_small_for_the_request_says_so() -> None:
    with pytest.raises(CollectError, match="fewer than 5000 distinct test prompts"):
        make_split(parse_family("rev2"), "test", 5000)


# -- the policy's own tokens -----------------------------------------------------------------------------------------


class _ScriptedPolicy:
    """Emits a fixed token script per row (whatever the input), to check generation and its mask by hand."""

    pad_id, eos_id, max_new_tokens = PAD, EOS, 3

    def __init__(self, scripts: list[list[int]]) -> None:
        self.scripts = scripts
        self.model = torch.nn.Linear(1, 1)

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.tensor([[PAD, 5], [7, 8]])[: len(prompts)]
        return ids, ids != PAD

    def logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1] - 2  # tokens generated so far
        out = torch.full((ids.shape[0], ids.shape[1], 12), -1e9)
        for row, script in enumerate(self.scripts):
            out[row, -1, script[min(t, len(script) - 1)]] = 0.0
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        return [" ".join(str(i) for i in row if i not in (PAD, EOS)) for row in ids.tolist()]


def test_mask_covers_exactly_the_generated_tokens_up_to_eos() -> None:
    # row 0 answers "3" then EOS; row 1 never stops (truncated at max_new_tokens=3).
    roll = generate(_ScriptedPolicy([[3, EOS, 9], [4, 4, 4]]), ["a", "b"], temperature=1.0,
                    generator=torch.Generator().manual_seed(0))
    assert roll.ids.tolist() == [[PAD, 5, 3, EOS, PAD], [7, 8, 4, 4, 4]]
    assert roll.mask.int().tolist() == [[0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    assert roll.attention.int().tolist() == [[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert roll.truncated.tolist() == [False, True]
    assert roll.completions == ["3", "4 4 4"]


# -- training end to end ---------------------------------------------------------------------------------------------

BASE = BaseSpec("sort5", "T", n_layer=1, d_model=32, n_head=4, sft_target_accuracy=0.3, sft_max_steps=600,
                sft_lr=3e-3, sft_batch_size=64, sft_pool=400, sft_seed=0, sft_check_every=5, val_size=64,
                test_size=128)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict:
    torch.set_num_threads(1)
    return build_base(BASE, tmp_path_factory.mktemp("base"))


def _run(lr: float, **kw: object) -> GRPORun:
    cfg = {"samples": 64, "epochs": 4, "batch_size": 16, "kl_coef": 0.0, "group_size": 8, "temperature": 1.0,
           "clip_eps": 0.2, "updates_per_batch": 1, "weight_decay": 0.0, "grad_clip": 1.0, "seed": 0, **kw}
    return GRPORun(base=BASE, fidelity="Sort5-N64-E4", lr=lr, **cfg)


def test_base_is_built_once_and_starts_at_a_modest_accuracy(base: dict, tmp_path: Path) -> None:
    assert 0.2 <= base["initial_accuracy"] <= 0.6 and base["sft_steps"] > 0
    policy = load_base(base)
    family = parse_family("sort5")
    assert round(accuracy(policy, make_split(family, "test", BASE.test_size)), 5) == base["initial_accuracy"]


def test_a_short_grpo_run_beats_its_initial_accuracy_and_is_deterministic(base: dict) -> None:
    bases = {BASE.key: base}
    first = run_grpo(_run(5e-4), bases)
    assert first["status"] == "ok" and first["error"] == ""
    assert first["test_accuracy"] > base["initial_accuracy"] + 0.05, first
    assert first["steps_done"] == first["steps"] == 4 * (64 // 16)
    again = run_grpo(_run(5e-4), bases)
    assert again["test_accuracy"] == first["test_accuracy"] and again["reward_curve"] == first["reward_curve"]


def test_divergence_is_an_outcome_scored_by_the_accuracy_it_ends_with(base: dict) -> None:
    record = run_grpo(_run(1e30), {BASE.key: base})  # the first update sends the weights to inf
    assert record["status"] == "diverged" and record["error"] == ""
    assert record["steps_done"] < record["steps"]
    assert 0.0 <= record["test_accuracy"] < base["initial_accuracy"]


def test_batch_larger_than_the_training_set_is_refused(base: dict) -> None:
    train = make_split(parse_family("sort5"), "train", 8)
    with pytest.raises(ValueError, match="batch_size=16 is larger than the training set"):
        GRPOTrainer(load_base(base), train, GRPOConfig(lr=1e-3, batch_size=16))


def test_resume_from_a_saved_step_continues_the_same_data_and_sampling(base: dict, tmp_path: Path) -> None:
    train = make_split(parse_family("sort5"), "train", 64)
    cfg = GRPOConfig(lr=5e-4, batch_size=16, epochs=2, seed=1)
    a = GRPOTrainer(load_base(base), train, cfg)
    a.step(), a.step()
    ckpt = tmp_path / "step2.safetensors"
    a.save(ckpt)
    assert read_metadata(ckpt)["step"] == "2"

    start = load_base(base)
    b = GRPOTrainer(start, train, cfg)
    b.load(ckpt)
    assert b.step_index == 2 and b._batch(2) == a._batch(2)
    for (name, pa), pb in zip(a.policy.model.state_dict().items(), b.policy.model.state_dict().values(),
                              strict=True):
        assert torch.equal(pa, pb), name
    # the reference of the KL term is still the starting policy, not the checkpoint
    fresh = load_base(base).model.state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in b.reference.state_dict().items())
    # step 3 samples the same rollouts from the same weights (the update after it uses fresh Adam moments)
    sa, sb = a.step(), b.step()
    for key in ("reward_mean", "reward_std", "response_length", "truncation_ratio"):
        assert sa[key] == sb[key], key


def test_tiny_policy_checkpoint_round_trip(tmp_path: Path) -> None:
    policy = TinyPolicy(TinyPolicyConfig(1, 16, 2, 6, 4), seed=3)
    policy.save(tmp_path / "p.safetensors", {"note": "x"})
    loaded = TinyPolicy.load(tmp_path / "p.safetensors")
    assert loaded.cfg == policy.cfg and read_metadata(tmp_path / "p.safetensors")["note"] == "x"
    ids, mask = policy.encode_prompts(["r123="])
    assert torch.equal(policy.logits(ids, mask), loaded.logits(ids, mask))
    assert policy.decode(torch.tensor([[5, 6, EOS, 7]])) == [policy.decode(torch.tensor([[5, 6]]))[0]]
    with pytest.raises(ValueError, match="longer than the policy's prompt_len=6"):
        policy.encode_prompts(["r1234567="])


def test_sampling_is_seeded() -> None:
    policy = TinyPolicy(TinyPolicyConfig(1, 16, 2, 6, 4), seed=0)
    prompts = ["r123="] * 8
    one = generate(policy, prompts, 1.0, torch.Generator().manual_seed(5))
    two = generate(policy, prompts, 1.0, torch.Generator().manual_seed(5))
    assert torch.equal(one.ids, two.ids)


# -- a local Hugging Face causal LM through the same trainer ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialized 2-layer Llama with a char-level tokenizer, saved like any local HF model."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    from gymnasium_llmconfig.lab.grpo.tasks import ALPHABET

    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(ALPHABET)}, "\n": len(ALPHABET) + 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    cfg = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                                   pad_token_id=0, eos_token_id=1, bos_token_id=1, tie_word_embeddings=True)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hf") / "tiny-llama"
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_hf_policy_trains_saves_and_resumes_through_the_same_trainer(tiny_hf_model: Path, tmp_path: Path) -> None:
    from gymnasium_llmconfig.lab.grpo.policy import HFPolicy

    policy = HFPolicy(str(tiny_hf_model), max_new_tokens=4)
    ids, attention = policy.encode_prompts(["r12=", "ann has 3 pens, gets 4. now?"])
    assert ids.shape == attention.shape and not attention[0, 0] and attention[1].all()  # left padding, masked
    train = make_split(parse_family("rev3"), "train", 8)
    trainer = GRPOTrainer(policy, train, GRPOConfig(lr=1e-3, batch_size=4, group_size=2, kl_coef=0.1, seed=0))
    metrics = trainer.step()
    assert metrics["status"] == "ok" and 1 <= metrics["response_length"] <= 4
    assert math.isfinite(metrics["kl"]) and math.isfinite(metrics["grad_norm"])
    trainer.save(tmp_path / "hf.safetensors")
    again = GRPOTrainer(HFPolicy(str(tiny_hf_model), max_new_tokens=4), train, trainer.cfg)
    again.load(tmp_path / "hf.safetensors")
    assert again.step_index == 1
    for (name, a), b in zip(policy.model.state_dict().items(), again.policy.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert 0.0 <= again.evaluate(make_split(parse_family("rev3"), "test", 4)) <= 1.0
