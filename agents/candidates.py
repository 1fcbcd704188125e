"""Candidate sets for model-based agents: what an acquisition function is maximized over.

A finite space offers all its untried configs. A space too large to list
offers random members plus neighbours of the best ones seen (local moves are
where a few-evaluation optimizer gains most); both come from the
:class:`~gymnasium_llmconfig.config_space.ConfigSpace` interface, so no task
format is special here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from gymnasium_llmconfig.config_space import Config, ConfigSpace, concat_batches

#: Random members drawn per acquisition step of an infinite space.
SAMPLED = 2_048
#: Neighbours drawn around each of the incumbents.
NEIGHBOURS = 256


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
    x = space.encode_all()
    keep = [i for i, c in enumerate(configs) if not is_tried(space.key(c))]
    return Candidates([configs[i] for i in keep], x[keep])


def sampled_candidates(
    space: ConfigSpace, rng: np.random.Generator, incumbents: Sequence[Config], is_tried: Callable[[Hashable], bool]
) -> Candidates:
    """Random members plus neighbours of each incumbent, untried ones only."""
    batches = [space.sample_batch(rng, SAMPLED)]
    batches += [space.neighbours(config, rng, NEIGHBOURS) for config in incumbents]
    batch = concat_batches(batches)
    configs = batch.configs()
    keep = [i for i, c in enumerate(configs) if not is_tried(space.key(c))]
    return Candidates([configs[i] for i in keep], space.encode_batch(batch.take(keep)))


def candidates_for(
    space: ConfigSpace, rng: np.random.Generator, incumbents: Sequence[Config], is_tried: Callable[[Hashable], bool]
) -> Candidates:
    """The candidate set of any space."""
    if space.is_finite:
        return finite_candidates(space, is_tried)
    return sampled_candidates(space, rng, incumbents, is_tried)
