"""Policies the GRPO trainer drives: a tiny char-level GPT (CPU) and any local Hugging Face causal LM (GPU).

Both expose the same small surface, so the trainer never knows which one it holds:
``encode_prompts`` (left-padded ids and attention mask, so every prompt ends at the same column
and generation appends on the right), ``logits``, ``decode``, ``eos_id``/``pad_id`` and ``model``.
Checkpoints are weights only (safetensors), never pickles.

The tiny policy reuses the Micro collector's :class:`TinyGPT` as its backbone and is warmed up by
supervised fine-tuning (:func:`sft`) to a modest starting accuracy, the way paper 000's Task 3
starts GRPO from an instruct model rather than from scratch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gymnasium_llmconfig.lab.collect.model import GPTConfig, TinyGPT
from gymnasium_llmconfig.lab.grpo.tasks import ALPHABET, Problem

PAD, EOS = 0, 1
#: Token ids: 0 padding, 1 end of answer, then one id per character of :data:`ALPHABET`.
VOCAB = ("<pad>", "<eos>", *ALPHABET)
_CHAR_ID = {c: i + 2 for i, c in enumerate(ALPHABET)}


@dataclass(frozen=True)
class TinyPolicyConfig:
    """Shape of a tiny policy: a prompt of at most ``prompt_len`` chars, answers of at most ``max_new_tokens``."""

    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    prompt_len: int = 40
    max_new_tokens: int = 8


class TinyPolicy:
    """A char-level :class:`TinyGPT`; prompts are left-padded to ``prompt_len`` so answers start at one column."""

    pad_id, eos_id = PAD, EOS

    def __init__(self, cfg: TinyPolicyConfig, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.cfg = cfg
        torch.manual_seed(seed)
        gpt = GPTConfig(len(VOCAB), cfg.prompt_len + cfg.max_new_tokens, cfg.n_layer, cfg.d_model, cfg.n_head)
        self.model = TinyGPT(gpt).to(device)
        self.device = torch.device(device)

    @property
    def max_new_tokens(self) -> int:
        return self.cfg.max_new_tokens

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        width = self.cfg.prompt_len
        ids = torch.full((len(prompts), width), PAD, dtype=torch.long)
        for row, text in enumerate(prompts):
            if len(text) > width:
                raise ValueError(f"prompt {text!r} is longer than the policy's prompt_len={width}")
            ids[row, width - len(text):] = torch.tensor([_CHAR_ID[c] for c in text])
        return ids.to(self.device), (ids != PAD).to(self.device)

    def encode_answers(self, answers: list[str]) -> torch.Tensor:
        """Answer ids followed by EOS, right-padded to ``max_new_tokens`` (for SFT)."""
        out = torch.full((len(answers), self.cfg.max_new_tokens), PAD, dtype=torch.long)
        for row, text in enumerate(answers):
            ids = [_CHAR_ID[c] for c in text] + [EOS]
            if len(ids) > self.cfg.max_new_tokens:
                raise ValueError(f"answer {text!r} does not fit max_new_tokens={self.cfg.max_new_tokens}")
            out[row, : len(ids)] = torch.tensor(ids)
        return out.to(self.device)

    def logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(B, T, V)``; padding is part of the input, as it was in SFT."""
        return self.model(ids)

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Completion ids (B, T) -> text up to the first EOS."""
        out = []
        for row in ids.tolist():
            chars = []
            for i in row:
                if i in (EOS, PAD):
                    break
                chars.append(VOCAB[i])
            out.append("".join(chars))
        return out

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        """Weights (safetensors) with the shape and ``metadata`` in its header; written atomically."""
        save_weights(self.model, path, {"policy": "tiny", "config": json.dumps(asdict(self.cfg)), **(metadata or {})})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> TinyPolicy:
        meta = read_metadata(path)
        policy = cls(TinyPolicyConfig(**json.loads(meta["config"])), device)
        load_weights(policy.model, path, policy.device)
        return policy

    def load_weights(self, path: str | Path) -> None:
        load_weights(self.model, path, self.device)


def save_weights(model: torch.nn.Module, path: str | Path, metadata: dict[str, Any]) -> None:
    """Weights only, as safetensors (tied tensors once), with string ``metadata``; temp file then rename."""
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_model(model, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_weights(model: torch.nn.Module, path: str | Path, device: torch.device) -> None:
    from safetensors.torch import load_model

    load_model(model, str(path), device=str(device))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors checkpoint's header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def sft(policy: TinyPolicy, problems: list[Problem], max_steps: int, lr: float, batch_size: int, seed: int,
        stop: Callable[[], bool] | None = None, check_every: int = 25) -> int:
    """Supervised warm-up on (prompt, answer) pairs, loss on the answer tokens only; returns the steps taken.

    AdamW at a constant ``lr``; a seeded generator picks the batches, so the warm start is reproducible.
    Every ``check_every`` steps ``stop()`` may end it: the collector stops at a target validation accuracy,
    so every family starts GRPO from a comparable, modest accuracy (paper 000 §A.4 starts from an
    instruct model that already solves part of each dataset).
    """
    model = policy.model
    prompts, _ = policy.encode_prompts([p.prompt for p in problems])
    answers = policy.encode_answers([p.answer for p in problems])
    full = torch.cat([prompts, answers], dim=1)
    target = full[:, 1:].clone()
    target[:, : prompts.shape[1] - 1] = -100  # prompt tokens carry no loss
    target[target == PAD] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    for step in range(max_steps):
        if stop is not None and step % check_every == 0 and stop():
            return step
        model.train()
        idx = torch.randint(0, len(problems), (batch_size,), generator=gen)
        logits = model(full[idx, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), target[idx].flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return max_steps


class HFPolicy:
    """Adapter for a local Hugging Face causal LM (e.g. SmolLM2-135M-Instruct) with the tiny policy's surface.

    The prompt is sent as one user turn through the model's chat template when it has one, asking for
    the bare answer; the attention mask hides left padding and positions count real tokens only.
    """

    INSTRUCTION = "Reply with the answer only.\n"

    def __init__(self, path: str, device: str | torch.device = "cpu", max_new_tokens: int = 8,
                 dtype: torch.dtype = torch.float32) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype).to(device)
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        self.pad_id = self.tokenizer.pad_token_id
        self.eos_id = self.tokenizer.eos_token_id

    def _render(self, prompt: str) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": self.INSTRUCTION + prompt}],
                                                      tokenize=False, add_generation_prompt=True)
        return self.INSTRUCTION + prompt

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer([self._render(p) for p in prompts], return_tensors="pt", padding=True,
                             add_special_tokens=False)
        return enc["input_ids"].to(self.device), enc["attention_mask"].bool().to(self.device)

    def logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.model(input_ids=ids, attention_mask=attention_mask.long(), position_ids=position_ids).logits

    def decode(self, ids: torch.Tensor) -> list[str]:
        out = []
        for row in ids.tolist():
            cut = row.index(self.eos_id) if self.eos_id in row else len(row)
            out.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True))
        return out

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        save_weights(self.model, path, {"policy": "hf", **(metadata or {})})

    def load_weights(self, path: str | Path) -> None:
        load_weights(self.model, path, self.device)
