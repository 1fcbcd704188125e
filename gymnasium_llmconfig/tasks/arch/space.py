"""The HW-GPT-Bench architecture space of one GPT scale (s, m or l).

An architecture is a width, a depth ``L``, ``L`` per-layer head counts, ``L``
per-layer MLP ratios and a global bias flag (section 1 of the HW-GPT-Bench
surrogate specification shipped with the data mirror, ``hwgpt/SPEC.md``). The
space has 10^12 to 10^35 members, so it cannot be enumerated: agents sample it
and mutate good architectures (:meth:`ArchConfigSpace.neighbours`), BO models
use :meth:`ArchConfigSpace.encode`, and a most-similar wrapper repairs near
misses with :meth:`ArchConfigSpace.nearest`.

Canonical form (what :meth:`ArchConfigSpace.canonicalize` returns and the env
stores)::

    {"embed_dim": int, "n_layer": int, "heads": [int] * n_layer,
     "mlp_ratios": [int] * n_layer, "bias": bool}

For pools and batched evaluation, :class:`ArchBatch` holds many architectures
as arrays of choice indices (no per-config Python objects on the hot path).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import (
    Config,
    ConfigBatch,
    ConfigSpace,
    InvalidConfig,
    Parameter,
    PerLayerParameter,
    format_value,
)
from gymnasium_llmconfig.tasks.arch import formulas

MLP_RATIOS: tuple[int, ...] = (2, 3, 4)
PARAM_NAMES: tuple[str, ...] = ("embed_dim", "n_layer", "heads", "mlp_ratios", "bias")
PER_LAYER: tuple[str, ...] = ("heads", "mlp_ratios")


@dataclass(frozen=True)
class ScaleSpec:
    """Choice lists of one scale, in the ascending order the surrogate's one-hot encoding uses."""

    name: str
    label: str
    embed_dims: tuple[int, ...]
    n_layers: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratios: tuple[int, ...] = MLP_RATIOS
    embed_index: Mapping[int, int] = field(init=False, repr=False, compare=False)
    layer_index: Mapping[int, int] = field(init=False, repr=False, compare=False)
    head_index: Mapping[int, int] = field(init=False, repr=False, compare=False)
    ratio_index: Mapping[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attr, src in (
            ("embed_index", self.embed_dims),
            ("layer_index", self.n_layers),
            ("head_index", self.heads),
            ("ratio_index", self.mlp_ratios),
        ):
            object.__setattr__(self, attr, {v: i for i, v in enumerate(src)})

    @property
    def lmax(self) -> int:
        """Largest depth; per-layer encodings are padded to this length."""
        return self.n_layers[-1]

    @property
    def size(self) -> int:
        """Number of distinct architectures (widths × bias × Σ_L (|heads|·|ratios|)^L)."""
        per_layer = len(self.heads) * len(self.mlp_ratios)
        return len(self.embed_dims) * 2 * sum(per_layer**n for n in self.n_layers)


SCALES: dict[str, ScaleSpec] = {
    "s": ScaleSpec("s", "GPT-S", (192, 384, 768), (10, 11, 12), (4, 8, 12)),
    "m": ScaleSpec("m", "GPT-M", (256, 512, 1024), (22, 23, 24), (8, 12, 16)),
    "l": ScaleSpec("l", "GPT-L", (320, 640, 1280), (34, 35, 36), (8, 16, 20)),
}


def get_scale(scale: str) -> ScaleSpec:
    """The :class:`ScaleSpec` for ``"s" | "m" | "l"`` (also accepts ``"GPT-S"`` etc.)."""
    key = str(scale).strip().lower().replace("gpt", "").strip("-_ ")
    if key not in SCALES:
        raise ValueError(f"unknown HW-GPT-Bench scale {scale!r}; use one of {list(SCALES)}")
    return SCALES[key]


@dataclass(frozen=True)
class ArchBatch(ConfigBatch):
    """Many architectures of one scale as choice-index arrays.

    ``head_idx`` / ``ratio_idx`` have shape ``(n, lmax)`` with ``-1`` in the
    slots of unused layers (``i >= n_layer``).
    """

    spec: ScaleSpec
    embed_idx: np.ndarray
    layer_idx: np.ndarray
    head_idx: np.ndarray
    ratio_idx: np.ndarray
    bias: np.ndarray

    def __len__(self) -> int:
        return int(self.embed_idx.shape[0])

    @property
    def embed_dim(self) -> np.ndarray:
        return np.asarray(self.spec.embed_dims, dtype=np.int64)[self.embed_idx]

    @property
    def n_layer(self) -> np.ndarray:
        return np.asarray(self.spec.n_layers, dtype=np.int64)[self.layer_idx]

    @property
    def layer_mask(self) -> np.ndarray:
        """``(n, lmax)`` True where the layer is used."""
        return np.arange(self.spec.lmax)[None, :] < self.n_layer[:, None]

    def _values(self, idx: np.ndarray, choices: Sequence[int]) -> np.ndarray:
        table = np.asarray((*choices, 0), dtype=np.int64)  # index -1 -> 0
        return table[idx]

    @property
    def heads(self) -> np.ndarray:
        """``(n, lmax)`` head counts, 0 for unused layers."""
        return self._values(self.head_idx, self.spec.heads)

    @property
    def mlp_ratios(self) -> np.ndarray:
        """``(n, lmax)`` MLP ratios, 0 for unused layers."""
        return self._values(self.ratio_idx, self.spec.mlp_ratios)

    def params(self) -> np.ndarray:
        """Exact parameter counts (int64)."""
        return formulas.param_count_array(
            self.embed_dim, self.n_layer, self.heads.sum(axis=1), self.mlp_ratios.sum(axis=1)
        )

    def flops(self) -> np.ndarray:
        """Exact FLOPs estimates (int64)."""
        return formulas.flops_array(self.embed_dim, self.n_layer, self.params())

    def config(self, i: int) -> Config:
        """Canonical dict of row ``i``."""
        spec = self.spec
        n = spec.n_layers[int(self.layer_idx[i])]
        return {
            "embed_dim": spec.embed_dims[int(self.embed_idx[i])],
            "n_layer": n,
            "heads": [spec.heads[int(j)] for j in self.head_idx[i, :n]],
            "mlp_ratios": [spec.mlp_ratios[int(j)] for j in self.ratio_idx[i, :n]],
            "bias": bool(self.bias[i]),
        }

    def configs(self) -> list[Config]:
        return [self.config(i) for i in range(len(self))]

    def take(self, rows: np.ndarray | Sequence[int]) -> ArchBatch:
        rows = np.asarray(rows, dtype=np.int64)
        return ArchBatch(
            self.spec,
            self.embed_idx[rows],
            self.layer_idx[rows],
            self.head_idx[rows],
            self.ratio_idx[rows],
            self.bias[rows],
        )

    def index_matrix(self) -> np.ndarray:
        """One int row per architecture (for de-duplication and compact storage)."""
        return np.concatenate(
            [
                self.embed_idx[:, None],
                self.layer_idx[:, None],
                self.head_idx,
                self.ratio_idx,
                self.bias[:, None].astype(np.int64),
            ],
            axis=1,
        )

    @classmethod
    def from_index_matrix(cls, spec: ScaleSpec, matrix: np.ndarray) -> ArchBatch:
        m = np.asarray(matrix, dtype=np.int64)
        lm = spec.lmax
        if m.ndim != 2 or m.shape[1] != 3 + 2 * lm:
            raise ValueError(f"index matrix for scale {spec.name} must have {3 + 2 * lm} columns, got {m.shape}")
        return cls(spec, m[:, 0], m[:, 1], m[:, 2 : 2 + lm], m[:, 2 + lm : 2 + 2 * lm], m[:, -1].astype(bool))

    @classmethod
    def from_configs(cls, spec: ScaleSpec, configs: Iterable[Mapping[str, Any]]) -> ArchBatch:
        """Batch of canonical configs (raises :class:`InvalidConfig` on a non-canonical one)."""
        rows = [_index_row(spec, c) for c in configs]
        if not rows:
            return cls.from_index_matrix(spec, np.zeros((0, 3 + 2 * spec.lmax), dtype=np.int64))
        return cls.from_index_matrix(spec, np.asarray(rows, dtype=np.int64))

    @classmethod
    def concat(cls, batches: Sequence[ArchBatch]) -> ArchBatch:  # type: ignore[override]
        spec = batches[0].spec
        return cls.from_index_matrix(spec, np.concatenate([b.index_matrix() for b in batches], axis=0))


def _index_row(spec: ScaleSpec, c: Mapping[str, Any]) -> list[int]:
    try:
        n = c["n_layer"]
        heads, ratios = c["heads"], c["mlp_ratios"]
        if len(heads) != n or len(ratios) != n:
            raise KeyError("length")
        pad = [-1] * (spec.lmax - n)
        return [
            spec.embed_index[c["embed_dim"]],
            spec.layer_index[n],
            *[spec.head_index[h] for h in heads],
            *pad,
            *[spec.ratio_index[r] for r in ratios],
            *pad,
            1 if c["bias"] else 0,
        ]
    except (KeyError, TypeError):
        raise InvalidConfig(
            f"not a canonical {spec.label} architecture: {c!r}; pass it through canonicalize() first"
        ) from None


# Names an LLM plausibly uses for each parameter; only nearest() accepts them.
_ALIASES: dict[str, str] = {
    alias: name
    for name, aliases in {
        "embed_dim": ("embed_dim", "embedding_dim", "embed", "embedding", "n_embd", "n_embed", "d_model",
                      "hidden_size", "hidden_dim", "width", "dim", "e"),
        "n_layer": ("n_layer", "n_layers", "num_layers", "num_layer", "layers", "layer", "depth",
                    "num_hidden_layers", "n_blocks", "l"),
        "heads": ("heads", "head", "n_head", "n_heads", "num_heads", "num_head", "num_attention_heads",
                  "attention_heads", "h"),
        "mlp_ratios": ("mlp_ratios", "mlp_ratio", "ratios", "ratio", "mlp", "mlp_ratio_list", "ffn_ratios",
                       "ffn_ratio", "m"),
        "bias": ("bias", "use_bias", "bias_flag", "biases", "b"),
    }.items()
    for alias in aliases
}
_SCALE_KEYS = ("scale", "model_scale", "model")


class ArchConfigSpace(ConfigSpace):
    """Architectures of one HW-GPT-Bench scale; see the module docstring for the canonical form."""

    #: Width, depth, bias, mean heads, mean MLP ratio and FLOPs (see :meth:`encode_batch`) are relative
    #: to each scale's choices, so they mean the same at every scale.
    shared_encoding_dims = 6

    def __init__(self, scale: str):
        self.spec = get_scale(scale)
        spec = self.spec
        self.scale = spec.name
        self.lmax = spec.lmax
        self.parameters = (
            Parameter("embed_dim", spec.embed_dims, "embedding width shared by all layers", kind="int"),
            Parameter("n_layer", spec.n_layers, "number of transformer layers", kind="int"),
            PerLayerParameter("heads", spec.heads, "attention heads of each layer (head size 64)", kind="int"),
            PerLayerParameter("mlp_ratios", spec.mlp_ratios, "MLP expansion ratio of each layer", kind="int"),
            Parameter("bias", (False, True), "whether linear layers use a bias", kind="bool"),
        )
        self._param = {p.name: p for p in self.parameters}
        smallest = {"embed_dim": spec.embed_dims[0], "heads": [spec.heads[0]] * spec.n_layers[0],
                    "mlp_ratios": [spec.mlp_ratios[0]] * spec.n_layers[0]}
        largest = {"embed_dim": spec.embed_dims[-1], "heads": [spec.heads[-1]] * spec.lmax,
                   "mlp_ratios": [spec.mlp_ratios[-1]] * spec.lmax}
        # FLOPs grow with every choice, so the corners bound them: used by encode().
        self.min_flops = formulas.flops(smallest["embed_dim"], smallest["heads"], smallest["mlp_ratios"])
        self.max_flops = formulas.flops(largest["embed_dim"], largest["heads"], largest["mlp_ratios"])

    # ----------------------------------------------------------- membership
    def canonicalize(self, config: Mapping[str, Any]) -> Config:
        """Strict: exact names (any case), exact choices, lists of exactly ``n_layer`` entries, or one
        number for a per-layer list, meaning that value for every layer (a compact form people type).

        Lists may be JSON lists or JSON strings; bias may be a bool or "True"/"false".
        All problems are reported in one message, each with the allowed values.
        """
        if not isinstance(config, Mapping):
            raise InvalidConfig(
                f"a config must be a JSON object with keys {list(PARAM_NAMES)}, got {type(config).__name__}"
            )
        spec = self.spec
        values: dict[str, Any] = {}
        unknown: list[str] = []
        problems: list[str] = []
        for raw_key, raw_value in config.items():
            k = str(raw_key).strip().lower()
            if k in PARAM_NAMES:
                values[k] = raw_value
            elif k in _SCALE_KEYS:
                if not self._is_this_scale(raw_value):
                    problems.append(
                        f"this environment is the {spec.label} space; {raw_key}={raw_value!r} cannot be changed "
                        "(leave it out)"
                    )
            else:
                unknown.append(str(raw_key))
        if unknown:
            hints = [f"{u!r} -> {_ALIASES[_norm_key(u)]!r}" for u in unknown if _norm_key(u) in _ALIASES]
            hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
            problems.append(f"unknown parameter(s) {unknown}{hint}; the parameters are {list(PARAM_NAMES)}")
        missing = [n for n in PARAM_NAMES if n not in values]
        if missing:
            problems.append(f"missing parameter(s) {missing}; every config needs {list(PARAM_NAMES)}")

        out: Config = {}
        for name in ("embed_dim", "n_layer", "bias"):
            if name in values:
                try:
                    out[name] = self._param[name].snap(values[name])
                except InvalidConfig as err:
                    problems.append(str(err))
        n_layer = out.get("n_layer")
        for name in PER_LAYER:
            if name in values:
                try:
                    out[name] = self._parse_list(name, values[name], n_layer)
                except InvalidConfig as err:
                    problems.append(str(err))
        if problems:
            raise InvalidConfig("; ".join(problems))
        return {n: out[n] for n in PARAM_NAMES}

    def _is_this_scale(self, value: Any) -> bool:
        try:
            return get_scale(str(value)) is self.spec
        except ValueError:
            return False

    def _parse_list(self, name: str, raw: Any, n_layer: int | None) -> list[int]:
        choices = self._param[name].choices
        allowed = "[" + ", ".join(str(c) for c in choices) + "]"
        length = f"{n_layer}" if n_layer is not None else "n_layer"
        need = f"{name} must be a list of {length} integers (one per layer), each one of {allowed}"
        single = _as_number(raw)
        items = [single] * n_layer if single is not None and n_layer is not None else _as_list(raw)
        if items is None:
            raise InvalidConfig(f"{need} (or one number for every layer); got {raw!r}")
        bad: list[str] = []
        parsed: list[int] = []
        for i, item in enumerate(items):
            number = _as_number(item)
            if number is None or number not in choices:
                bad.append(f"{name}[{i}]={item!r}")
            else:
                parsed.append(int(number))
        msgs = []
        if n_layer is not None and len(items) != n_layer:
            msgs.append(
                f"{name} has {len(items)} entries but n_layer={n_layer}: give exactly {n_layer} values, one per layer"
            )
        if bad:
            shown = ", ".join(bad[:5]) + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")
            msgs.append(f"{shown} not allowed")
        if msgs:
            raise InvalidConfig("; ".join(msgs) + f"; each {name} entry must be one of {allowed}")
        return parsed

    def key(self, canonical: Mapping[str, Any]) -> Hashable:
        return (
            canonical["embed_dim"],
            canonical["n_layer"],
            tuple(canonical["heads"]),
            tuple(canonical["mlp_ratios"]),
            canonical["bias"],
        )

    # ------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator) -> Config:
        """Uniform over each decision, drawn in the spec's order (width, depth, heads, ratios, bias)."""
        spec = self.spec
        d = spec.embed_dims[int(rng.integers(len(spec.embed_dims)))]
        n = spec.n_layers[int(rng.integers(len(spec.n_layers)))]
        heads = [spec.heads[int(i)] for i in rng.integers(len(spec.heads), size=n)]
        ratios = [spec.mlp_ratios[int(i)] for i in rng.integers(len(spec.mlp_ratios), size=n)]
        bias = bool(rng.integers(2))
        return {"embed_dim": d, "n_layer": n, "heads": heads, "mlp_ratios": ratios, "bias": bias}

    def sample_batch(self, rng: np.random.Generator, n: int) -> ArchBatch:
        """``n`` architectures with the same distribution as :meth:`sample` (not the same stream)."""
        spec = self.spec
        lm = spec.lmax
        e = rng.integers(len(spec.embed_dims), size=n)
        layer = rng.integers(len(spec.n_layers), size=n)
        h = rng.integers(len(spec.heads), size=(n, lm))
        r = rng.integers(len(spec.mlp_ratios), size=(n, lm))
        b = rng.integers(2, size=n).astype(bool)
        unused = np.arange(lm)[None, :] >= np.asarray(spec.n_layers)[layer][:, None]
        h[unused] = -1
        r[unused] = -1
        return ArchBatch(spec, e.astype(np.int64), layer.astype(np.int64), h.astype(np.int64), r.astype(np.int64), b)

    def neighbours(self, config: Mapping[str, Any], rng: np.random.Generator, n: int) -> ArchBatch:
        """Up to ``n`` mutants of the canonical ``config``: one to three of its decisions redrawn.

        A decision is one column of the index matrix (width, depth, one layer's
        heads or ratio, bias). ``n`` mutants are drawn; those whose redraws all
        picked the current choices equal ``config`` and are dropped. Local moves
        are where a few-evaluation optimizer gains most.
        """
        spec = self.spec
        base = self.to_batch([config]).index_matrix()[0]
        rows = np.repeat(base[None, :], n, axis=0)
        sizes = (len(spec.embed_dims), len(spec.n_layers), *[len(spec.heads)] * spec.lmax,
                 *[len(spec.mlp_ratios)] * spec.lmax, 2)
        for row in rows:
            for column in rng.choice(len(sizes), size=int(rng.integers(1, 4)), replace=False):
                row[column] = rng.integers(sizes[column])
        batch = self._consistent(rows)
        return batch.take(np.flatnonzero((batch.index_matrix() != base).any(axis=1)))

    def _consistent(self, rows: np.ndarray) -> ArchBatch:
        """Index rows made consistent with their depth: unused layers -1, used layers a real choice."""
        spec = self.spec
        lm = spec.lmax
        depth = np.asarray(spec.n_layers)[rows[:, 1]]
        used = np.arange(lm)[None, :] < depth[:, None]
        for start, n_choices in ((2, len(spec.heads)), (2 + lm, len(spec.mlp_ratios))):
            block = rows[:, start : start + lm]
            block[~used] = -1
            block[used & (block < 0)] = n_choices - 1
        return ArchBatch.from_index_matrix(spec, rows)

    def corners(self) -> ArchBatch:
        """The 32 extremes: smallest/largest width, depth, heads (all layers), ratios (all layers); both biases."""
        spec = self.spec
        rows = []
        for e, n, h, r, b in itertools.product((0, len(spec.embed_dims) - 1), (0, len(spec.n_layers) - 1),
                                              (0, len(spec.heads) - 1), (0, len(spec.mlp_ratios) - 1), (0, 1)):
            used = spec.n_layers[n]
            pad = [-1] * (spec.lmax - used)
            rows.append([e, n, *([h] * used), *pad, *([r] * used), *pad, b])
        return ArchBatch.from_index_matrix(spec, np.asarray(rows, dtype=np.int64))

    def to_batch(self, canonicals: Iterable[Mapping[str, Any]]) -> ArchBatch:
        return ArchBatch.from_configs(self.spec, canonicals)

    # ------------------------------------------------------------- encoding
    @property
    def dim(self) -> int:
        return 6 + 2 * self.lmax

    def encode(self, canonical: Mapping[str, Any]) -> np.ndarray:
        """Vector in [0, 1]^dim (see :meth:`encode_batch`)."""
        return self.encode_batch(self.to_batch([canonical]))[0]

    def encode_batch(self, batch: ConfigBatch) -> np.ndarray:
        """Fixed-length features for BO models, independent of the depth of each row.

        Layout: [0] width, [1] depth, [2] bias (0/1), [3] mean head-choice
        position, [4] mean ratio-choice position, [5] FLOPs between the space's
        smallest and largest (the target is linear in FLOPs), then ``lmax``
        per-layer head entries and ``lmax`` per-layer ratio entries, each
        ``(choice index + 1) / n_choices`` for a used layer and 0 for an unused one,
        so "absent" never collides with "smallest choice".
        """
        if not isinstance(batch, ArchBatch) or batch.spec is not self.spec:
            raise TypeError(f"encode_batch takes a batch of {self.spec.label} architectures made by this space "
                            "(sample_batch, neighbours or to_batch)")
        spec = self.spec
        n = len(batch)
        mask = batch.layer_mask
        used = mask.sum(axis=1)
        out = np.zeros((n, self.dim), dtype=np.float64)
        out[:, 0] = batch.embed_idx / (len(spec.embed_dims) - 1)
        out[:, 1] = batch.layer_idx / (len(spec.n_layers) - 1)
        out[:, 2] = batch.bias.astype(np.float64)
        out[:, 3] = np.where(mask, batch.head_idx, 0).sum(axis=1) / (used * (len(spec.heads) - 1))
        out[:, 4] = np.where(mask, batch.ratio_idx, 0).sum(axis=1) / (used * (len(spec.mlp_ratios) - 1))
        out[:, 5] = (batch.flops() - self.min_flops) / (self.max_flops - self.min_flops)
        lm = self.lmax
        out[:, 6 : 6 + lm] = np.where(mask, (batch.head_idx + 1) / len(spec.heads), 0.0)
        out[:, 6 + lm :] = np.where(mask, (batch.ratio_idx + 1) / len(spec.mlp_ratios), 0.0)
        return out

    # ---------------------------------------------------------------- text
    def describe(self) -> str:
        spec = self.spec

        def show(cs: Sequence[Any]) -> str:
            return ", ".join(format_value(c) for c in cs)

        n0 = spec.n_layers[0]
        example = {
            "embed_dim": spec.embed_dims[1],
            "n_layer": n0,
            "heads": [spec.heads[i % len(spec.heads)] for i in range(n0)],
            "mlp_ratios": [spec.mlp_ratios[-1 - i % len(spec.mlp_ratios)] for i in range(n0)],
            "bias": True,
        }
        return "\n".join(
            [
                f"{spec.label} decoder-only transformer architectures (about {spec.size:.1e} possible). "
                "A config has 5 keys:",
                f"- embed_dim: embedding width shared by all layers. Values: {show(spec.embed_dims)}",
                f"- n_layer: number of transformer layers. Values: {show(spec.n_layers)}",
                f"- heads: list of exactly n_layer integers, the attention heads of layer 0, 1, ... "
                f"(head size is fixed at 64). Each value: {show(spec.heads)}",
                f"- mlp_ratios: list of exactly n_layer integers, the MLP expansion ratio of each layer. "
                f"Each value: {show(spec.mlp_ratios)}",
                "- bias: true or false, whether linear layers use a bias",
                "Short form: one number instead of a heads or mlp_ratios list means that value for every layer, "
                f'e.g. {{"embed_dim": {spec.embed_dims[1]}, "n_layer": {n0}, "heads": {spec.heads[-1]}, '
                f'"mlp_ratios": {spec.mlp_ratios[-1]}, "bias": true}}',
                f"Example: {self.canonical_text(example)}",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(scale=self.scale, label=self.spec.label, size=float(self.spec.size), dim=self.dim)
        return d

    # -------------------------------------------------------------- repair
    def _repair(self, raw: Mapping[str, Any], metric: str) -> Config | None:
        """Best-effort repair of a near miss, or ``None`` if nothing usable is there.

        One rule serves both metrics (it snaps every number to its nearest choice):
        it accepts common aliases of the names (``n_layers``, ``num_heads``,
        ``mlp_ratio``, ...); snaps numbers to the nearest choice (ties to the
        smaller); infers a missing depth from the list lengths; truncates a
        list that is too long and pads one that is too short by repeating its
        last value (a single number counts as a one-entry list); a missing or
        unreadable bias becomes False. Width and both lists must be present.
        """
        spec = self.spec
        values: dict[str, Any] = {}
        for raw_key, raw_value in raw.items():
            name = _ALIASES.get(_norm_key(raw_key))
            if name is not None and name not in values:
                values[name] = raw_value
        width = _as_number(values.get("embed_dim"))
        heads = _as_numbers(values.get("heads"))
        ratios = _as_numbers(values.get("mlp_ratios"))
        if width is None or not heads or not ratios:
            return None
        depth = _as_number(values.get("n_layer"))
        if depth is None:
            depth = max(len(heads), len(ratios))
        n = _nearest(depth, spec.n_layers)
        fixed: Config = {
            "embed_dim": _nearest(width, spec.embed_dims),
            "n_layer": n,
            "heads": [_nearest(v, spec.heads) for v in _fit_length(heads, n)],
            "mlp_ratios": [_nearest(v, spec.mlp_ratios) for v in _fit_length(ratios, n)],
            "bias": False,
        }
        if "bias" in values:
            with contextlib.suppress(InvalidConfig):
                fixed["bias"] = self._param["bias"].snap(values["bias"])
        try:
            return self.canonicalize(fixed)
        except InvalidConfig:  # pragma: no cover - fixed is built from the choices
            return None


# ------------------------------------------------------------------ helpers
def _norm_key(raw_key: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(raw_key).strip().lower())


def _as_list(raw: Any) -> list[Any] | None:
    """A list from a list/tuple/array or a JSON (or comma-separated) string; None otherwise."""
    if isinstance(raw, np.ndarray):
        return raw.tolist() if raw.ndim == 1 else None
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            inner = text.strip("[]() ")
            if not inner:
                return []
            return [t for t in re.split(r"[,\s]+", inner) if t]
        return list(parsed) if isinstance(parsed, list) else None
    return None


def _as_number(item: Any) -> float | None:
    """A finite number from an int/float/numeric string (bools are not numbers); None otherwise."""
    if isinstance(item, bool) or item is None:
        return None
    try:
        if isinstance(item, (int, float, np.integer, np.floating)):
            value = float(item)
        elif isinstance(item, str):
            value = float(item.strip())
        else:
            return None
    except (ValueError, OverflowError):  # OverflowError: an integer beyond float range, e.g. 10**400
        return None
    return value if math.isfinite(value) else None


def _as_numbers(raw: Any) -> list[float]:
    """Readable numbers of a list-ish value (a lone number is a one-entry list); unreadable entries dropped."""
    single = _as_number(raw)
    if single is not None:
        return [single]
    items = _as_list(raw)
    if items is None:
        return []
    return [v for v in (_as_number(x) for x in items) if v is not None]


def _nearest(value: float, choices: Sequence[int]) -> int:
    return min(choices, key=lambda c: (abs(c - value), c))


def _fit_length(items: list[float], n: int) -> list[float]:
    return items[:n] if len(items) >= n else items + [items[-1]] * (n - len(items))
