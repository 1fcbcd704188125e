"""Deterministic synthetic pretraining corpus.

The collector must run anywhere without downloads, yet bigger models have to
reach lower loss (otherwise the sweep says nothing about scaling). The corpus
is therefore generated from a seed by a process with structure at several
levels of difficulty:

* an order-1 Markov chain (easy: a lookup table of 256 rows),
* a hashed order-2 Markov chain with many rows (capacity-limited: a model
  has to memorise thousands of next-token rankings),
* copy spans that repeat an earlier stretch of the same stream (needs
  attention / induction heads, so depth helps).

Next tokens are drawn from a Zipfian distribution over ranks mapped through a
per-row ranking of the vocabulary. Rankings are noisy copies of one global
frequency order (as in text, frequent tokens are frequent in most contexts),
so unigram statistics are learnt first and context structure after, giving
smooth loss curves instead of a long plateau at the uniform loss. Identical parameters always give
identical bytes; :attr:`Corpus.sha256` hashes the token array so a table can
record exactly what its runs were trained on.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

#: Token that starts every stream (a document boundary).
BOS = 0


@dataclass(frozen=True)
class CorpusParams:
    """Everything that determines the corpus bytes."""

    vocab_size: int = 256
    train_tokens: int = 4_194_304
    val_tokens: int = 65_536
    stream_len: int = 4096
    seed: int = 0
    zipf_exponent: float = 1.3
    order2_rows: int = 256
    rank_noise: float = 1.0
    p_order1: float = 0.6
    p_copy: float = 0.02
    copy_len: tuple[int, int] = (8, 24)
    copy_offset: tuple[int, int] = (8, 48)

    def __post_init__(self) -> None:
        if not 2 <= self.vocab_size <= 65_535:
            raise ValueError("vocab_size must be in [2, 65535]")
        if self.train_tokens < self.stream_len or self.val_tokens < 1:
            raise ValueError("train_tokens must be >= stream_len and val_tokens >= 1")
        if self.rank_noise < 0 or self.order2_rows < 1:
            raise ValueError("rank_noise must be >= 0 and order2_rows >= 1")
        if not (0 <= self.p_order1 <= 1 and 0 <= self.p_copy < 1):
            raise ValueError("p_order1 must be in [0, 1] and p_copy in [0, 1)")
        lo, hi = self.copy_len
        olo, ohi = self.copy_offset
        if not (1 <= lo <= hi and 1 <= olo <= ohi):
            raise ValueError("copy_len and copy_offset must be increasing positive ranges")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CorpusParams:
        """Build from a spec mapping (lists become tuples); unknown keys raise ``TypeError``."""
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**fixed)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping (tuples as lists) for tables and run ids."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Corpus:
    """Train and validation token streams plus their provenance."""

    params: CorpusParams
    train: np.ndarray
    val: np.ndarray
    sha256: str


def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


def _rankings(rows: int, v: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``rows`` rankings of the vocabulary: the global order (token 0 last) perturbed by Gumbel noise."""
    score = -np.log1p(np.arange(v, dtype=np.float64))
    score[BOS] = -np.inf  # BOS only ever starts a stream
    return np.argsort(-(score + noise * rng.gumbel(size=(rows, v))), axis=1).astype(np.int64)


def _generate_streams(p: CorpusParams, n_streams: int, rng: np.random.Generator) -> np.ndarray:
    """Generate ``n_streams`` streams in lock-step (vectorised over streams)."""
    v = p.vocab_size
    order1 = _rankings(v, v, p.rank_noise, rng)
    order2 = _rankings(p.order2_rows, v, p.rank_noise, rng)
    ctx_row = rng.integers(0, p.order2_rows, size=v * v)
    cdf = _zipf_cdf(v, p.zipf_exponent)

    out = np.empty((n_streams, p.stream_len), dtype=np.int64)
    idx = np.arange(n_streams)
    out[:, 0] = BOS
    prev2 = np.full(n_streams, BOS)
    copy_left = np.zeros(n_streams, dtype=np.int64)
    copy_off = np.ones(n_streams, dtype=np.int64)
    for t in range(1, p.stream_len):
        prev1 = out[:, t - 1]
        rank = np.minimum(np.searchsorted(cdf, rng.random(n_streams)), v - 1)
        use1 = rng.random(n_streams) < p.p_order1
        fresh = np.where(use1, order1[prev1, rank], order2[ctx_row[prev2 * v + prev1], rank])

        offsets = rng.integers(p.copy_offset[0], p.copy_offset[1] + 1, size=n_streams)
        lengths = rng.integers(p.copy_len[0], p.copy_len[1] + 1, size=n_streams)
        start = (copy_left == 0) & (rng.random(n_streams) < p.p_copy) & (offsets <= t)
        copy_off = np.where(start, offsets, copy_off)
        copy_left = np.where(start, lengths, copy_left)
        copying = copy_left > 0
        copied = out[idx, np.maximum(t - copy_off, 0)]
        out[:, t] = np.where(copying, copied, fresh)
        copy_left = np.maximum(copy_left - 1, 0)
        prev2 = prev1
    return out


@lru_cache(maxsize=4)
def make_corpus(params: CorpusParams) -> Corpus:
    """Generate (and cache per process) the corpus for ``params``.

    Validation streams are separate streams generated after the training
    ones, so no validation text ever appears in training.
    """
    n_train = -(-params.train_tokens // params.stream_len)
    n_val = -(-params.val_tokens // params.stream_len)
    rng = np.random.default_rng(params.seed)
    streams = _generate_streams(params, n_train + n_val, rng)
    dtype = np.uint8 if params.vocab_size <= 256 else np.uint16
    train = streams[:n_train].reshape(-1)[: params.train_tokens].astype(dtype)
    val = streams[n_train:].reshape(-1)[: params.val_tokens].astype(dtype)
    digest = hashlib.sha256()
    digest.update(train.astype("<u2").tobytes())
    digest.update(val.astype("<u2").tobytes())
    return Corpus(params=params, train=train, val=val, sha256=digest.hexdigest())
