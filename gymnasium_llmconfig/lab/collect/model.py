"""A tiny GPT in standard parameterization.

Pre-LN blocks, causal self-attention, learned positions, tied input/output
embeddings, GPT-2 initialisation (std 0.02, residual projections scaled by
1/sqrt(2 * n_layer)). Deliberately *not* muP: under standard parameterization
the optimal learning rate shifts with width, which is what the Micro task
lets agents discover from low fidelities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GPTConfig:
    """Shape of one model."""

    vocab_size: int
    seq_len: int
    n_layer: int
    d_model: int
    n_head: int

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.seq_len, self.n_layer, self.d_model, self.n_head) < 1:
            raise ValueError("all GPT dimensions must be positive")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")


class _Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.mlp_in = nn.Linear(d, 4 * d, bias=False)
        self.mlp_out = nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        shape = (b, t, self.n_head, d // self.n_head)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_out(F.gelu(self.mlp_in(self.ln2(x))))


class TinyGPT(nn.Module):
    """Decoder-only language model; ``forward`` returns logits (B, T, vocab)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self._init_weights()

    def _init_weights(self) -> None:
        resid_std = 0.02 / math.sqrt(2 * self.cfg.n_layer)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue  # LayerNorm weights/biases keep their 1/0 defaults
            std = resid_std if name.endswith(("attn_out.weight", "mlp_out.weight")) else 0.02
            nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok_emb.weight.T  # tied output head


def non_embedding_params(n_layer: int, d_model: int) -> int:
    """Closed form of :func:`count_params` for a shape: 12 d^2 + 4 d per block, plus the final LayerNorm."""
    return n_layer * (12 * d_model * d_model + 4 * d_model) + 2 * d_model


def count_params(model: TinyGPT, non_embedding: bool = True) -> int:
    """Parameter count; by default without token and position embeddings (as Step Law's N).

    The output head is tied to the token embedding, so it is excluded too.
    """
    total = sum(p.numel() for p in model.parameters())
    if non_embedding:
        total -= model.tok_emb.weight.numel() + model.pos_emb.weight.numel()
    return total
