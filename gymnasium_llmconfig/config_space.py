"""Configuration spaces: what an agent may propose in one environment.

Every env owns one :class:`ConfigSpace`. The env turns a parsed proposal into
a *canonical* config with :meth:`ConfigSpace.canonicalize` (or learns why it is
invalid), looks the canonical config up by :meth:`ConfigSpace.key`, and shows
the space to text agents with :meth:`ConfigSpace.describe`. Structured agents
(BO, RL) use :meth:`sample`, :meth:`encode` and, for finite spaces,
:meth:`enumerate`; candidate generators use :meth:`sample_batch`,
:meth:`neighbours` and :meth:`encode_batch`, and repairs use :meth:`nearest`.
None of them needs to know which task format built the space: a parameter whose
value is a list declares the parameter that sets its length
(:class:`PerLayerParameter`), which is all that define-by-run samplers read.
"""

from __future__ import annotations

import bisect
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gymnasium_llmconfig.errors import InvalidConfig
from gymnasium_llmconfig.matching import SpaceMatcher

Config = dict[str, Any]

#: Key under which a finite space accepts the index of a config in ``enumerate()``.
CONFIG_ID_KEY = "config_id"
#: Similarity rules of :meth:`ConfigSpace.nearest`.
NEAREST_METRICS = ("substring", "numeric")
#: Relative tolerance of every float log-grid parameter (learning rates): a proposal within 5% of a grid
#: value denotes it, so ``0.002`` means ``2**-9`` (2.4% off). The grids served here are at least 2**0.5
#: apart, so no proposal is within 5% of two values.
LOG_GRID_REL_TOL = 0.05


@dataclass(frozen=True)
class Parameter:
    """One tunable knob with its allowed values.

    ``choices`` are sorted ascending for numeric parameters. A proposed number
    is snapped to the nearest choice when it lies within ``rel_tol`` (relative)
    or ``abs_tol`` (absolute) of it, so that ``0.00195`` means the grid value
    ``2**-9`` and ``0.1`` means the ratio ``0.1000``. ``rel_tol=None`` means
    :data:`LOG_GRID_REL_TOL` for a float log-grid parameter and 0 otherwise, so
    that every learning-rate grid reads proposals the same way.
    """

    name: str
    choices: tuple[Any, ...]
    description: str = ""
    kind: str = "float"  # "float" | "int" | "bool" | "str"
    log: bool = False
    rel_tol: float | None = None
    abs_tol: float = 0.0
    unit: str = ""
    default: Any = None  # value assumed when a proposal omits the parameter (e.g. 0 for a mixture ratio)
    _sorted: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"parameter {self.name!r} has no choices")
        numeric = self.kind in ("float", "int")
        object.__setattr__(self, "_sorted", tuple(sorted(self.choices)) if numeric else ())
        if self.rel_tol is None:
            object.__setattr__(self, "rel_tol", LOG_GRID_REL_TOL if self.log and self.kind == "float" else 0.0)

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("float", "int")

    def snap(self, value: Any) -> Any:
        """Return the choice ``value`` denotes, or raise :class:`InvalidConfig`."""
        if self.kind == "bool":
            return _parse_bool(self.name, value)
        if self.kind == "str":
            text = str(value).strip()
            for choice in self.choices:
                if text.lower() == str(choice).lower():
                    return choice
            raise InvalidConfig(f"{self.name}={value!r} is not one of {list(self.choices)}")
        number = _parse_number(self.name, value)
        grid = self._sorted
        i = bisect.bisect_left(grid, number)
        neighbours = [grid[j] for j in (i - 1, i) if 0 <= j < len(grid)]
        best = min(neighbours, key=lambda cand: abs(cand - number))
        tol = max(self.abs_tol, self.rel_tol * abs(best))
        if abs(best - number) <= tol:
            return int(best) if self.kind == "int" else best
        nearest = " or ".join(format_value(c) for c in neighbours)
        shown = ", ".join(format_value(c) for c in grid)
        raise InvalidConfig(f"{self.name}={format_value(number)} is not an allowed value; the nearest allowed "
                            f"{'are' if len(neighbours) > 1 else 'is'} {nearest}{self.tolerance_note()}; "
                            f"choose one of [{shown}]")

    def tolerance_note(self) -> str:
        """How close a proposal must be to count as a value, in words (empty for exact-only parameters)."""
        if self.rel_tol:
            return f" (a value within {self.rel_tol:.0%} of one counts as it)"
        return f" (a value within {format_value(self.abs_tol)} of one counts as it)" if self.abs_tol else ""

    def unit_position(self, value: Any) -> float:
        """Position of a choice in [0, 1] (log scale when ``log``), for vector encodings."""
        if self.kind in ("bool", "str"):
            idx = list(self.choices).index(value)
            return idx / max(len(self.choices) - 1, 1)
        lo, hi = self._sorted[0], self._sorted[-1]
        if hi == lo:
            return 0.0
        if self.log:
            return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (value - lo) / (hi - lo)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "choices": list(self.choices),
            "description": self.description,
            "log": self.log,
            "unit": self.unit,
        }


@dataclass(frozen=True)
class PerLayerParameter(Parameter):
    """A parameter whose value is a list with one choice per entry, as many entries as ``length_from`` says.

    This is the space's declared conditional structure: a define-by-run sampler
    first draws ``length_from`` (e.g. ``n_layer``), then one choice per entry
    (``heads[i]``, ``mlp_ratios[i]``) for ``i < n_layer``.
    """

    length_from: str = "n_layer"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(per_layer=True, length=self.length_from)
        return d


class ConfigBatch(ABC):
    """Many configs of one space in the space's own compact form (rows follow :meth:`configs`)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def configs(self) -> list[Config]:
        """The canonical configs, one per row."""

    @abstractmethod
    def take(self, rows: np.ndarray | Sequence[int]) -> ConfigBatch:
        """The batch of the given rows, in that order."""

    @classmethod
    @abstractmethod
    def concat(cls, batches: Sequence[ConfigBatch]) -> ConfigBatch:
        """One batch with the rows of ``batches`` in order (all of this class and space)."""


def concat_batches(batches: Sequence[ConfigBatch]) -> ConfigBatch:
    """The rows of ``batches`` (non-empty, all from one space) in order, whatever the space's batch class."""
    if not batches:
        raise ValueError("concat_batches needs at least one batch")
    return type(batches[0]).concat(batches)


class ConfigSpace(ABC):
    """The set of configs one env accepts."""

    #: Leading :meth:`encode` dimensions that mean the same in every space of the task, whatever its
    #: fidelity (0: none declared; transfer learners then build absolute features per parameter).
    shared_encoding_dims: int = 0

    parameters: tuple[Parameter, ...]

    @abstractmethod
    def canonicalize(self, config: Mapping[str, Any]) -> Config:
        """Return the canonical member ``config`` denotes or raise :class:`InvalidConfig`."""

    @abstractmethod
    def key(self, canonical: Mapping[str, Any]) -> Hashable:
        """A hashable identity of a canonical config (for lookups and repeats)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Config:
        """A uniformly drawn canonical member."""

    @abstractmethod
    def sample_batch(self, rng: np.random.Generator, n: int) -> ConfigBatch:
        """``n`` members drawn like :meth:`sample`, vectorized where the space can."""

    @abstractmethod
    def neighbours(self, config: Mapping[str, Any], rng: np.random.Generator, n: int) -> ConfigBatch:
        """Up to ``n`` members near the canonical ``config`` (small mutations of it), each different from it."""

    @abstractmethod
    def to_batch(self, canonicals: Sequence[Mapping[str, Any]]) -> ConfigBatch:
        """The canonical members ``canonicals`` as a batch (raises :class:`InvalidConfig` on a non-member)."""

    def nearest(self, config: Mapping[str, Any], metric: str = "substring") -> Config | None:
        """The member most similar to a raw proposal, ``config`` itself when it is one, ``None``: no repair.

        ``metric`` is ``"substring"`` (the paper's rule, LLMConfig-Gym §4.2.3: the longest common
        substring of the canonical texts) or ``"numeric"`` (nearest in the vector encoding); a space
        with a single repair rule uses it for both. Spaces implement :meth:`_repair`.
        """
        if metric not in NEAREST_METRICS:
            raise ValueError(f"metric must be one of {list(NEAREST_METRICS)}, got {metric!r}")
        if not isinstance(config, Mapping):
            return None
        try:
            return self.canonicalize(config)
        except InvalidConfig:
            return self._repair(config, metric)

    @abstractmethod
    def _repair(self, config: Mapping[str, Any], metric: str) -> Config | None:
        """The member most similar to a proposal that is not one (``None``: nothing usable in it)."""

    @abstractmethod
    def encode(self, canonical: Mapping[str, Any]) -> np.ndarray:
        """A fixed-length float vector in [0, 1]^dim for model-based agents."""

    @abstractmethod
    def encode_batch(self, batch: ConfigBatch) -> np.ndarray:
        """:meth:`encode` of every row of one of this space's batches, shape ``(len(batch), dim)``."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of :meth:`encode` vectors."""

    @abstractmethod
    def describe(self) -> str:
        """The space as text, for the prompt's Context section."""

    @property
    def is_finite(self) -> bool:
        return False

    def enumerate(self) -> list[Config]:
        raise TypeError(f"{type(self).__name__} is not finite: use sample(rng) instead of enumerate()")

    def encode_all(self) -> np.ndarray:
        """Encodings of every config, in :meth:`enumerate` order (finite spaces)."""
        raise TypeError(f"{type(self).__name__} is not finite: encode sample_batch(rng, n) with encode_batch()")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def contains(self, config: Mapping[str, Any]) -> bool:
        try:
            self.canonicalize(config)
        except InvalidConfig:
            return False
        return True

    def canonical_text(self, canonical: Mapping[str, Any]) -> str:
        """Compact JSON with parameters in space order: the form shown to and matched against agents."""
        return json.dumps({k: canonical[k] for k in self.names if k in canonical}, separators=(", ", ": "))

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": [p.to_dict() for p in self.parameters], "finite": self.is_finite}


class FiniteBatch(ConfigBatch):
    """Rows of a finite space as positions in its :meth:`~FiniteConfigSpace.enumerate` list."""

    def __init__(self, space: FiniteConfigSpace, indices: np.ndarray | Sequence[int]):
        self.space = space
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def configs(self) -> list[Config]:
        listed = self.space._configs
        return [dict(listed[i]) for i in self.indices]

    def take(self, rows: np.ndarray | Sequence[int]) -> FiniteBatch:
        return FiniteBatch(self.space, self.indices[np.asarray(rows, dtype=np.int64)])

    @classmethod
    def concat(cls, batches: Sequence[FiniteBatch]) -> FiniteBatch:  # type: ignore[override]
        return cls(batches[0].space, np.concatenate([b.indices for b in batches]))


class FiniteConfigSpace(ConfigSpace):
    """A space given by the list of configs that were actually run.

    Each parameter's choices are the distinct values seen; a proposal must snap
    to a tuple that is in the list. A proposal may also name a config by its
    position in :meth:`enumerate` as ``{"config_id": k}``.
    """

    def __init__(self, parameters: Sequence[Parameter], configs: Sequence[Mapping[str, Any]]):
        self.parameters = tuple(parameters)
        self._by_name = {p.name: p for p in self.parameters}
        self._lower = {p.name.lower(): p.name for p in self.parameters}
        self._configs: list[Config] = [{p.name: c[p.name] for p in self.parameters} for c in configs]
        self._index = {self.key(c): i for i, c in enumerate(self._configs)}
        if len(self._index) != len(self._configs):
            raise ValueError("FiniteConfigSpace got duplicate configs")
        self._encoded = np.array(
            [[p.unit_position(c[p.name]) for p in self.parameters] for c in self._configs], dtype=np.float64
        )
        self._matcher: SpaceMatcher | None = None  # built on the first repair

    @property
    def is_finite(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._configs)

    def enumerate(self) -> list[Config]:
        return [dict(c) for c in self._configs]

    def index(self, canonical: Mapping[str, Any]) -> int:
        """Position of a canonical config in :meth:`enumerate`."""
        return self._index[self.key(canonical)]

    def key(self, canonical: Mapping[str, Any]) -> Hashable:
        return tuple(canonical[n] for n in self.names)

    def canonicalize(self, config: Mapping[str, Any]) -> Config:
        if not isinstance(config, Mapping):
            raise InvalidConfig(f"a config must be a JSON object, got {type(config).__name__}")
        if CONFIG_ID_KEY in config and len(config) == 1:
            return self._by_id(config[CONFIG_ID_KEY])
        values: Config = {}
        unknown = []
        for raw_key, raw_value in config.items():
            name = self._lower.get(str(raw_key).strip().lower())
            if name is None:
                unknown.append(str(raw_key))
            else:
                values[name] = raw_value
        if unknown:
            raise InvalidConfig(f"unknown parameter(s) {unknown}; the parameters are {list(self.names)}")
        for p in self.parameters:
            if p.name not in values and p.default is not None:
                values[p.name] = p.default
        missing = [n for n in self.names if n not in values]
        if missing:
            raise InvalidConfig(f"missing parameter(s) {missing}; every config needs {list(self.names)}")
        canonical = {n: self._by_name[n].snap(values[n]) for n in self.names}
        if self.key(canonical) not in self._index:
            raise InvalidConfig(
                f"{self.canonical_text(canonical)} was not run in this environment; "
                f"propose one of the {len(self)} listed configurations"
            )
        return canonical

    def _by_id(self, raw: Any) -> Config:
        try:
            idx = int(raw)
            if idx != float(raw):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise InvalidConfig(f"{CONFIG_ID_KEY} must be an integer, got {raw!r}") from None
        if not 0 <= idx < len(self._configs):
            raise InvalidConfig(f"{CONFIG_ID_KEY}={idx} is out of range 0..{len(self._configs) - 1}")
        return dict(self._configs[idx])

    def sample(self, rng: np.random.Generator) -> Config:
        return dict(self._configs[int(rng.integers(len(self._configs)))])

    def sample_batch(self, rng: np.random.Generator, n: int) -> FiniteBatch:
        return FiniteBatch(self, rng.integers(len(self._configs), size=n))

    def neighbours(self, config: Mapping[str, Any], rng: np.random.Generator, n: int) -> FiniteBatch:
        """The ``n`` other listed configs that change the fewest parameters of ``config`` (ties at random).

        Only some combinations were run, so "one parameter changed" is the first
        rank where the table has such configs, not a guarantee.
        """
        i = self.index(config)
        changed = (self._encoded != self._encoded[i]).sum(axis=1)  # positions are one-to-one with choices
        order = rng.permutation(len(self._configs))
        order = order[order != i]
        return FiniteBatch(self, order[np.argsort(changed[order], kind="stable")][:n])

    def to_batch(self, canonicals: Sequence[Mapping[str, Any]]) -> FiniteBatch:
        try:
            return FiniteBatch(self, [self._index[self.key(c)] for c in canonicals])
        except (KeyError, TypeError):
            raise InvalidConfig("to_batch takes listed configs in canonical form; "
                                "pass a proposal through canonicalize() first") from None

    def _repair(self, config: Mapping[str, Any], metric: str) -> Config:
        """The listed config most similar to ``config`` under ``metric``."""
        if self._matcher is None:
            texts = [self.canonical_text(c) for c in self._configs]
            self._matcher = SpaceMatcher(self.parameters, texts, self._encoded)
        return dict(self._configs[self._matcher.match(config, metric)])

    @property
    def dim(self) -> int:
        return len(self.parameters)

    def encode(self, canonical: Mapping[str, Any]) -> np.ndarray:
        return self._encoded[self.index(canonical)].copy()

    def encode_batch(self, batch: ConfigBatch) -> np.ndarray:
        if not isinstance(batch, FiniteBatch) or batch.space is not self:
            raise TypeError("encode_batch takes a batch made by this space (sample_batch, neighbours or to_batch)")
        return self._encoded[batch.indices]

    def encode_all(self) -> np.ndarray:
        """Encodings of every config, in :meth:`enumerate` order."""
        return self._encoded.copy()

    def describe(self) -> str:
        lines = []
        for p in self.parameters:
            shown = ", ".join(format_value(c) for c in p.choices)
            unit = f" [{p.unit}]" if p.unit else ""
            desc = f": {p.description}" if p.description else ""
            lines.append(f"- {p.name}{unit}{desc}. Values: {shown}{p.tolerance_note()}")
        full_product = math.prod(len(p.choices) for p in self.parameters)
        if full_product != len(self):
            lines.append(f"Only {len(self)} of the {full_product} combinations were run; a config must be one of them.")
        return "\n".join(lines)


def format_value(value: Any) -> str:
    """Short, exact-enough text for a number (4 significant digits for floats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v == 0:
            return "0"
        if 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.4g}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    return str(value)


def _parse_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidConfig(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            number = float(value)
        except OverflowError:
            raise InvalidConfig(f"{name} must be finite, got an integer too large for a float") from None
    elif isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        try:
            number = _parse_number_text(text)
        except (ValueError, OverflowError, ZeroDivisionError):
            raise InvalidConfig(f"{name} must be a number, got {value!r}") from None
    else:
        raise InvalidConfig(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise InvalidConfig(f"{name} must be finite, got {value!r}")
    return number


def _parse_number_text(text: str) -> float:
    """Numbers as people write them: ``3e-4``, ``2^-9``, ``2**-9``, ``1/512``, ``256K``."""
    lowered = text.lower()
    for pow_sign in ("**", "^"):
        if pow_sign in lowered:
            base, _, exp = lowered.partition(pow_sign)
            power = float(base) ** float(exp)
            if isinstance(power, complex):  # a negative base to a fractional power
                raise ValueError(f"{text} is not a real number")
            return power
    if "/" in lowered:
        num, _, den = lowered.partition("/")
        return float(num) / float(den)
    suffixes = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}
    if lowered and lowered[-1] in suffixes and lowered[:-1]:
        return float(lowered[:-1]) * suffixes[lowered[-1]]
    return float(lowered)


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "t"):
        return True
    if text in ("false", "0", "no", "f"):
        return False
    raise InvalidConfig(f"{name} must be true or false, got {value!r}")
