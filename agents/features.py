"""Features that mean the same thing at every fidelity of a task.

A space's own ``encode`` scales each parameter to [0, 1] over *that env's*
choices, so the same learning rate lands on different coordinates in two
Step Law cells. Agents that transfer knowledge across envs need absolute
coordinates instead: log2 of a log-scaled number, the raw value of a linear
one, the choice position of a categorical one, the parameter's default (0 for
an omitted mixture ratio) when an env lacks it. Spaces that declare leading
encoding dimensions meaning the same at every fidelity
(``shared_encoding_dims``: relative width, depth, bias, mean heads, mean MLP
ratio and FLOPs for architectures) use those as is.
Fidelity metadata becomes log10 of every numeric entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gymnasium_llmconfig.config_space import Config, ConfigSpace


class TransferEncoder:
    """Absolute config features for a set of spaces of one task, scaled to [0, 1] jointly."""

    def __init__(self, spaces: Sequence[ConfigSpace]):
        if not spaces:
            raise ValueError("TransferEncoder needs at least one space")
        self.shared_dims = min(s.shared_encoding_dims for s in spaces)
        self.names: list[str] = []
        self.kinds: dict[str, Any] = {}
        for space in spaces:
            for p in space.parameters:
                if p.name not in self.kinds:
                    self.names.append(p.name)
                    self.kinds[p.name] = p
        if self.shared_dims:
            self.low, self.high = np.zeros(self.shared_dims), np.ones(self.shared_dims)
            return
        raw = np.vstack([self.raw(s, _choices_grid(s)) for s in spaces])
        self.low, self.high = raw.min(axis=0), raw.max(axis=0)

    @property
    def dim(self) -> int:
        return len(self.low)

    def raw(self, space: ConfigSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Unscaled absolute features, one row per config."""
        if self.shared_dims:
            return space.encode_batch(space.to_batch(configs))[:, : self.shared_dims]
        out = np.zeros((len(configs), len(self.names)))
        for j, name in enumerate(self.names):
            p = self.kinds[name]
            for i, config in enumerate(configs):
                out[i, j] = _absolute(p, config.get(name, p.default))
        return out

    def __call__(self, space: ConfigSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Features in [0, 1] (values outside the fitted spaces' range extend past it)."""
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return (self.raw(space, configs) - self.low) / span


def _choices_grid(space: ConfigSpace) -> list[Config]:
    """Configs spanning each parameter's extreme choices (enough to fit a min/max scaler)."""
    configs = []
    for p in space.parameters:
        for choice in (p.choices[0], p.choices[-1]):
            configs.append({q.name: (choice if q is p else q.choices[0]) for q in space.parameters})
    return configs


def _absolute(parameter: Any, value: Any) -> float:
    if value is None:
        return 0.0
    if parameter.kind in ("bool", "str"):
        return float(parameter.unit_position(value)) if value in parameter.choices else 0.0
    number = float(value)
    return math.log2(number) if parameter.log and number > 0 else number


def fidelity_features(metadata: Mapping[str, Any], keys: Sequence[str]) -> np.ndarray:
    """log10 of the numeric fidelity metadata entries ``keys`` (0 when absent or not positive)."""
    out = np.zeros(len(keys))
    for j, key in enumerate(keys):
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[j] = math.log10(value)
    return out


def fidelity_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Squared Euclidean distance between two fidelities in log10 of the numeric metadata that varies between them."""
    return math.fsum((math.log10(max(a[k], 1e-300)) - math.log10(max(b[k], 1e-300))) ** 2
                     for k in shared_numeric_keys([a, b]))


def shared_numeric_keys(metadatas: Sequence[Mapping[str, Any]]) -> list[str]:
    """Numeric metadata keys present in every given fidelity and not constant across them."""
    if not metadatas:
        return []
    first = metadatas[0]
    keys = [k for k, v in first.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    keys = [k for k in keys if all(isinstance(m.get(k), (int, float)) for m in metadatas)]
    return [k for k in keys if len({m[k] for m in metadatas}) > 1]
