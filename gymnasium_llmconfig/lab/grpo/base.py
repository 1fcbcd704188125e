"""The warm-started base policy of a fidelity: built once by SFT, cached, shared with every run.

Paper 000 §A.4 starts every GRPO run of a dataset from the same instruct model; here every
config and seed of a (family, model) pair starts from the same tiny policy, fine-tuned on a pool
of training prompts until its validation accuracy reaches a modest target. The collector builds
each base once in the driver (cached as ``<out>/base/<key>.safetensors``, so a resumed sweep
does not rebuild it) and hands the workers its bytes, which work on a Ray cluster too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gymnasium_llmconfig.lab.collect.model import count_params
from gymnasium_llmconfig.lab.grpo.policy import TinyPolicy, TinyPolicyConfig, read_metadata, sft
from gymnasium_llmconfig.lab.grpo.run import BaseSpec
from gymnasium_llmconfig.lab.grpo.tasks import make_split, parse_family
from gymnasium_llmconfig.lab.grpo.trainer import accuracy

#: Seed offset of the SFT pool's draw, so it is not the draw of any GRPO run's training samples.
SFT_POOL_SEED = 10_000


def build_base(spec: BaseSpec, cache_dir: Path) -> dict[str, Any]:
    """The base policy of ``spec`` (SFT-warmed), from the cache or built now; see :func:`load_base`."""
    path = cache_dir / f"{spec.key}.safetensors"
    if not path.is_file():
        family = parse_family(spec.family)
        cfg = TinyPolicyConfig(spec.n_layer, spec.d_model, spec.n_head, family.max_prompt_len,
                               spec.max_new_tokens or family.max_answer_len + 1)
        policy = TinyPolicy(cfg, seed=spec.sft_seed)
        pool = make_split(family, "train", spec.sft_pool, seed=SFT_POOL_SEED + spec.sft_seed)
        val = make_split(family, "val", spec.val_size)
        steps = sft(policy, pool, spec.sft_max_steps, spec.sft_lr, spec.sft_batch_size, spec.sft_seed,
                    stop=lambda: accuracy(policy, val) >= spec.sft_target_accuracy, check_every=spec.sft_check_every)
        test = make_split(family, "test", spec.test_size)
        policy.save(path, {"sft_steps": steps, "initial_accuracy": round(accuracy(policy, test), 5),
                           "n_params": count_params(policy.model)})
    meta = read_metadata(path)
    return {
        "config": json.loads(meta["config"]),
        "weights": path.read_bytes(),
        "initial_accuracy": float(meta["initial_accuracy"]),
        "sft_steps": int(meta["sft_steps"]),
        "n_params": int(meta["n_params"]),
    }


def load_base(base: dict[str, Any], device: str | torch.device = "cpu") -> TinyPolicy:
    """A fresh policy holding a base's weights (from the bytes :func:`build_base` returned)."""
    from safetensors.torch import load

    policy = TinyPolicy(TinyPolicyConfig(**base["config"]), device)
    policy.model.load_state_dict(load(base["weights"]))
    policy.model.to(device)
    return policy
