"""Parameter count and FLOPs of an HW-GPT-Bench architecture.

The formulas are sections 4 and 5 of the HW-GPT-Bench surrogate specification
shipped with the data mirror (``hwgpt/SPEC.md``).

These reproduce what the benchmark's API *reports* at the pinned commit, quirks
included (three-matrix MLP, linear biases always present so the bias flag does
not matter, attention FLOPs counted twice), because the task's target is
defined on the benchmark's numbers, not on an idealised model.

Both functions need only sums over the used layers, so the scalar versions are
O(1) in Python ints (exact, no overflow) and the array versions are int64
(the largest value, ~2.6e12 FLOPs, is far from the int64 limit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Vocabulary size ``V`` (no padding), identical for all scales.
VOCAB_SIZE = 50_254
#: Sequence length ``T`` used by the FLOPs estimate.
SEQ_LEN = 1_024
#: Attention head size, fixed and independent of width and head count.
HEAD_SIZE = 64


def param_count_from_sums(embed_dim: int, n_layer: int, head_sum: int, ratio_sum: int) -> int:
    """``P`` from the width, depth and the sums of heads and MLP ratios over the used layers.

    P = 2·V·d + 2·d + Σ_i (6·d + 256·h_i·d + 192·h_i + 3·r_i·d² + 2·r_i·d)
    """
    d = int(embed_dim)
    return (
        2 * VOCAB_SIZE * d
        + 2 * d
        + 6 * d * int(n_layer)
        + (4 * HEAD_SIZE * d + 3 * HEAD_SIZE) * int(head_sum)
        + (3 * d * d + 2 * d) * int(ratio_sum)
    )


def param_count(embed_dim: int, heads: Sequence[int], mlp_ratios: Sequence[int]) -> int:
    """Exact parameter count of one architecture (lists hold one entry per used layer)."""
    if len(heads) != len(mlp_ratios):
        raise ValueError(f"heads has {len(heads)} entries but mlp_ratios has {len(mlp_ratios)}")
    return param_count_from_sums(embed_dim, len(heads), sum(int(h) for h in heads), sum(int(r) for r in mlp_ratios))


def flops_from_params(embed_dim: int, n_layer: int, params: int) -> int:
    """FLOPs = 2·P·T + 8·L·d·T² (the attention term is counted twice by the benchmark)."""
    return 2 * int(params) * SEQ_LEN + 8 * int(n_layer) * int(embed_dim) * SEQ_LEN * SEQ_LEN


def flops(embed_dim: int, heads: Sequence[int], mlp_ratios: Sequence[int]) -> int:
    """Exact FLOPs estimate of one forward pass over ``SEQ_LEN`` tokens."""
    return flops_from_params(embed_dim, len(heads), param_count(embed_dim, heads, mlp_ratios))


def param_count_array(
    embed_dim: np.ndarray, n_layer: np.ndarray, head_sum: np.ndarray, ratio_sum: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`param_count_from_sums` (int64), for reference pools."""
    d = np.asarray(embed_dim, dtype=np.int64)
    return (
        2 * VOCAB_SIZE * d
        + 2 * d
        + 6 * d * np.asarray(n_layer, dtype=np.int64)
        + (4 * HEAD_SIZE * d + 3 * HEAD_SIZE) * np.asarray(head_sum, dtype=np.int64)
        + (3 * d * d + 2 * d) * np.asarray(ratio_sum, dtype=np.int64)
    )


def flops_array(embed_dim: np.ndarray, n_layer: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Vectorised :func:`flops_from_params` (int64)."""
    return 2 * np.asarray(params, dtype=np.int64) * SEQ_LEN + 8 * np.asarray(n_layer, dtype=np.int64) * np.asarray(
        embed_dim, dtype=np.int64
    ) * (SEQ_LEN * SEQ_LEN)
