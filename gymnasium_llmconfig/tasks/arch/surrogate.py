"""HW-GPT-Bench's perplexity MLP surrogate, re-implemented in numpy.

The network, its input vector and output follow section 3 of the HW-GPT-Bench
surrogate specification shipped with the data mirror (``hwgpt/SPEC.md``).

The upstream weights are PyTorch checkpoints. We read each one with torch
exactly once and keep a torch-free ``.npz`` copy in a caller-given cache
directory, so that importing and running the environments never needs torch.

Numerics: the weights are the upstream float32 tensors; the forward pass
accumulates in float64 and rounds the output to float32. That keeps the
result independent of batch size and BLAS kernel (a single query and the
batched reference pool give the same bits, so the pool's best config
evaluates to exactly ``best_value``), and stays within ~3e-7 relative of the
upstream float32 values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import InvalidConfig
from gymnasium_llmconfig.data.sources import sha256_of
from gymnasium_llmconfig.storage import atomic_write
from gymnasium_llmconfig.tasks.arch.space import ArchBatch, ScaleSpec, get_scale

HIDDEN = 128
N_LAYERS = 5
NPZ_FORMAT = 1
_CHUNK = 4096  # rows per batched forward pass (bounds the one-hot input's memory)

#: Accepted sha256 per scale: the repository file and its bit-identical CPU re-save.
KNOWN_WEIGHTS_SHA256: dict[str, frozenset[str]] = {
    "s": frozenset({
        "e843a1afdcaa35707bd0a0659b8d88d9565ee7e2bc1ec30fb55e685f6193407b",
        "7cc332da089f179b418194490a09a07c387f04e8ad1d7ba370592b4f28b38aac",
    }),
    "m": frozenset({
        "b2a05ec30a8b189ff7869bd02f0930687e76583e4ac67804f0c44e5cf3e19178",
        "27550cca75eaf9177790ad000d3cb4aaf0906a32c0e5bb6c714a4a81a245bf44",
    }),
    "l": frozenset({
        "4eb94732b81d45453109465fe965f46a087c5ac7cc573919bec0ecf666f5af30",
        "16f9bee8b42cdb3f171d83eda7dce8f5f71e861cc61f3a360c0fa3aa6a1b1f3e",
    }),
}


def n_inputs(spec: ScaleSpec) -> int:
    """Length of the surrogate's input vector: 8 + 6·Lmax."""
    return 8 + 6 * spec.lmax


def active_positions(spec: ScaleSpec, canonical: Mapping[str, Any]) -> list[int]:
    """Positions of the ones in the spec's 0/1 input vector for one canonical config."""
    lm = spec.lmax
    try:
        n = canonical["n_layer"]
        heads, ratios = canonical["heads"], canonical["mlp_ratios"]
        if len(heads) != n or len(ratios) != n:
            raise KeyError("length")
        bias = canonical["bias"]
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError("bias")
        hi, ri = spec.head_index, spec.ratio_index
        base = 6 + 3 * lm
        return [
            spec.embed_index[canonical["embed_dim"]],
            3 + spec.layer_index[n],
            *[6 + 3 * i + ri[r] for i, r in enumerate(ratios)],
            *[base + 3 * i + hi[h] for i, h in enumerate(heads)],
            6 + 6 * lm + (0 if bias else 1),
        ]
    except (KeyError, TypeError):
        raise InvalidConfig(
            f"not a canonical {spec.label} architecture: {dict(canonical)!r}; pass it through canonicalize() first"
        ) from None


def encode_inputs(batch: ArchBatch) -> np.ndarray:
    """The spec's 0/1 input matrix ``(n, 8 + 6·Lmax)`` (float64) for a batch."""
    spec = batch.spec
    lm = spec.lmax
    n = len(batch)
    x = np.zeros((n, n_inputs(spec)), dtype=np.float64)
    rows = np.arange(n)
    x[rows, batch.embed_idx] = 1.0
    x[rows, 3 + batch.layer_idx] = 1.0
    r, layer = np.nonzero(batch.layer_mask)
    x[r, 6 + 3 * layer + batch.ratio_idx[r, layer]] = 1.0
    x[r, 6 + 3 * lm + 3 * layer + batch.head_idx[r, layer]] = 1.0
    x[rows, 6 + 6 * lm + np.where(batch.bias, 0, 1)] = 1.0
    return x


class PerplexitySurrogate:
    """Four ReLU layers of width 128 and a linear output; the output *is* the perplexity."""

    def __init__(self, spec: ScaleSpec, weights: Sequence[tuple[np.ndarray, np.ndarray]], source_sha256: str):
        if len(weights) != N_LAYERS:
            raise ValueError(f"expected {N_LAYERS} linear layers, got {len(weights)}")
        self.spec = spec
        self.source_sha256 = source_sha256
        self.weights32 = tuple((np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in weights)
        # Transposed float64 copies: y = x @ W.T + b without per-call transposes.
        self._wt = tuple(np.ascontiguousarray(w.T, dtype=np.float64) for w, _ in self.weights32)
        self._b = tuple(b.astype(np.float64) for _, b in self.weights32)
        if self._wt[0].shape != (n_inputs(spec), HIDDEN):
            raise ValueError(f"fc1 takes {self._wt[0].shape[0]} inputs; scale {spec.name} needs {n_inputs(spec)}")

    def predict_inputs(self, x: np.ndarray) -> np.ndarray:
        """Perplexities (float32) for an input matrix ``(n, n_in)``."""
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(x.shape[0], dtype=np.float32)
        for start in range(0, x.shape[0], _CHUNK):
            h = x[start : start + _CHUNK]
            for i in range(N_LAYERS):
                h = h @ self._wt[i] + self._b[i]
                if i < N_LAYERS - 1:
                    np.maximum(h, 0.0, out=h)
            out[start : start + _CHUNK] = h[:, 0]
        return out

    def predict_batch(self, batch: ArchBatch) -> np.ndarray:
        """Perplexities (float32) of every architecture in ``batch``."""
        if batch.spec is not self.spec:
            raise ValueError(f"batch is scale {batch.spec.name}, surrogate is scale {self.spec.name}")
        out = np.empty(len(batch), dtype=np.float32)
        for start in range(0, len(batch), _CHUNK):
            part = batch.take(np.arange(start, min(start + _CHUNK, len(batch))))
            out[start : start + len(part)] = self.predict_inputs(encode_inputs(part))
        return out

    def predict_positions(self, positions: Sequence[int]) -> float:
        """One perplexity from the positions of the input's ones (the single-query hot path)."""
        wt, b = self._wt, self._b
        h = wt[0][positions].sum(axis=0) + b[0]
        np.maximum(h, 0.0, out=h)
        for i in range(1, N_LAYERS - 1):
            h = h @ wt[i] + b[i]
            np.maximum(h, 0.0, out=h)
        return float(np.float32(h @ wt[-1][:, 0] + b[-1][0]))

    def predict(self, canonical: Mapping[str, Any]) -> float:
        """Perplexity of one canonical config."""
        return self.predict_positions(active_positions(self.spec, canonical))


# ------------------------------------------------------------------ loading
def npz_cache_path(cache_dir: Path, scale: str) -> Path:
    return Path(cache_dir) / f"hwgpt_perplexity_{get_scale(scale).name}.npz"


def load_surrogate(
    scale: str, weights_path: Path | None, cache_dir: Path, *, verify_sha256: bool = True
) -> PerplexitySurrogate:
    """The surrogate of ``scale``, from the npz cache when it matches ``weights_path``.

    The ``.pt`` file is hashed (cheap) to decide whether the cached npz is
    current; only a missing or stale npz triggers the one-time torch
    conversion. With ``weights_path=None`` (or a missing file) a cached npz of
    a pinned upstream file is used as is.
    """
    spec = get_scale(scale)
    cache = npz_cache_path(cache_dir, spec.name)
    known = KNOWN_WEIGHTS_SHA256[spec.name]
    if weights_path is None or not Path(weights_path).is_file():
        cached = _read_npz(cache, spec, None)
        if cached is not None and cached.source_sha256 in known:
            return cached
        raise FileNotFoundError(
            f"HW-GPT-Bench surrogate weights for scale {spec.name!r} not found at {weights_path} and no valid "
            f"cache at {cache}; provide perplexity_{spec.name}.pt (the hwgpt/ folder of the data mirror, "
            "see hwgpt/README.md for the pinned URL and sha256)"
        )
    weights_path = Path(weights_path)
    sha = sha256_of(weights_path)
    if verify_sha256 and sha not in known:
        raise ValueError(
            f"{weights_path} has sha256 {sha}, which is not a pinned HW-GPT-Bench perplexity_{spec.name}.pt "
            f"({sorted(known)}); re-copy the file from the pinned URL in hwgpt/README.md or pass verify_sha256=False"
        )
    cached = _read_npz(cache, spec, sha)
    if cached is not None:
        return cached
    surrogate = PerplexitySurrogate(spec, _load_torch_state_dict(weights_path), sha)
    _write_npz(cache, surrogate)
    return surrogate


def _load_torch_state_dict(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """fc1..fc5 (weight, bias) as float32 numpy arrays; the only place torch is imported."""
    try:
        import torch
    except ImportError:
        raise ModuleNotFoundError(
            "Arch envs need PyTorch once per scale, to convert the HW-GPT-Bench weights "
            f"({path.name}) into a torch-free cache: pip install 'gymnasium-llmconfig[arch]'"
        ) from None

    state = torch.load(path, map_location="cpu", weights_only=True)
    layers = []
    for i in range(1, N_LAYERS + 1):
        try:
            w, b = state[f"fc{i}.weight"], state[f"fc{i}.bias"]
        except KeyError as err:
            raise ValueError(f"{path} is not a perplexity-MLP state_dict (no {err.args[0]!r})") from None
        w_np, b_np = (t.detach().to("cpu", torch.float32).numpy().copy() for t in (w, b))
        layers.append((w_np, b_np))
    return layers


def _read_npz(path: Path, spec: ScaleSpec, expected_sha: str | None) -> PerplexitySurrogate | None:
    """The cached surrogate, or None when the file is missing, corrupt, stale or of another format."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != NPZ_FORMAT or str(z["scale"]) != spec.name:
                return None
            sha = str(z["source_sha256"])
            if expected_sha is not None and sha != expected_sha:
                return None
            weights = [(z[f"fc{i}_weight"], z[f"fc{i}_bias"]) for i in range(1, N_LAYERS + 1)]
        return PerplexitySurrogate(spec, weights, sha)
    except (OSError, KeyError, ValueError):
        return None


def _write_npz(path: Path, surrogate: PerplexitySurrogate) -> None:
    arrays: dict[str, Any] = {
        "format": np.int64(NPZ_FORMAT),
        "scale": np.str_(surrogate.spec.name),
        "source_sha256": np.str_(surrogate.source_sha256),
    }
    for i, (w, b) in enumerate(surrogate.weights32, start=1):
        arrays[f"fc{i}_weight"] = w
        arrays[f"fc{i}_bias"] = b
    atomic_savez(path, arrays)


def atomic_savez(path: Path, arrays: Mapping[str, Any], compressed: bool = False) -> None:
    """Write an npz atomically (never a half-written cache)."""
    atomic_write(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays), binary=True)
