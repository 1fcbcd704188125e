"""Candidate sets for model-based agents: what an acquisition function is maximized over.

A finite space offers all its untried configs. An architecture space is too
large to list, so it offers random architectures plus mutations of the best
ones seen (local moves are where a few-evaluation optimizer gains most).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from gymnasium_llmconfig.config_space import Config, ConfigSpace
from gymnasium_llmconfig.tasks.arch.space import ArchBatch, ArchConfigSpace

#: Random architectures drawn per acquisition step.
ARCH_RANDOM = 2_048
#: Mutants drawn around each of the incumbents.
ARCH_MUTANTS = 256


class Candidates:
    """Configs with their encodings (rows of ``x`` follow ``configs``)."""

    def __init__(self, configs: Sequence[Config], x: np.ndarray):
        self.configs = list(configs)
        self.x = np.asarray(x, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.configs)


def finite_candidates(space: ConfigSpace, is_tried: Callable[[Hashable], bool]) -> Candidates:
    """Every untried config of a finite space."""
    configs = space.enumerate()
    x = space.encode_all() if hasattr(space, "encode_all") else np.array([space.encode(c) for c in configs])
    keep = [i for i, c in enumerate(configs) if not is_tried(space.key(c))]
    return Candidates([configs[i] for i in keep], x[keep])


def arch_candidates(
    space: ArchConfigSpace, rng: np.random.Generator, incumbents: Sequence[Config], is_tried: Callable[[Hashable], bool]
) -> Candidates:
    """Random architectures plus one-to-three-decision mutants of each incumbent."""
    batches = [space.sample_batch(rng, ARCH_RANDOM)]
    batches += [mutants(space, config, rng, ARCH_MUTANTS) for config in incumbents]
    batch = ArchBatch.concat(batches)
    configs = batch.configs()
    keep = [i for i, c in enumerate(configs) if not is_tried(space.key(c))]
    return Candidates([configs[i] for i in keep], space.encode_batch(batch.take(keep)))


def mutants(space: ArchConfigSpace, config: Config, rng: np.random.Generator, n: int) -> ArchBatch:
    """``n`` copies of ``config`` with one to three of its decisions redrawn."""
    spec = space.spec
    base = space.to_batch([config]).index_matrix()[0]
    rows = np.repeat(base[None, :], n, axis=0)
    sizes = (len(spec.embed_dims), len(spec.n_layers), *[len(spec.heads)] * spec.lmax,
             *[len(spec.mlp_ratios)] * spec.lmax, 2)
    for row in rows:
        for column in rng.choice(len(sizes), size=int(rng.integers(1, 4)), replace=False):
            row[column] = rng.integers(sizes[column])
    return repaired(space, rows)


def repaired(space: ArchConfigSpace, rows: np.ndarray) -> ArchBatch:
    """Index rows made consistent with their depth: unused layers -1, used layers a real choice."""
    spec = space.spec
    lm = spec.lmax
    depth = np.asarray(spec.n_layers)[rows[:, 1]]
    used = np.arange(lm)[None, :] < depth[:, None]
    for start, n_choices in ((2, len(spec.heads)), (2 + lm, len(spec.mlp_ratios))):
        block = rows[:, start : start + lm]
        block[~used] = -1
        block[used & (block < 0)] = n_choices - 1
    return ArchBatch.from_index_matrix(spec, rows)


def candidates_for(
    space: ConfigSpace, rng: np.random.Generator, incumbents: Sequence[Config], is_tried: Callable[[Hashable], bool]
) -> Candidates:
    """The candidate set of any supported space."""
    if space.is_finite:
        return finite_candidates(space, is_tried)
    if isinstance(space, ArchConfigSpace):
        return arch_candidates(space, rng, incumbents, is_tried)
    raise TypeError(f"no candidate generator for {type(space).__name__}; it must be finite or an architecture space")
