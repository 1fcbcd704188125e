"""One training episode as OpenRLHF carries it: the JSON ``label`` of a prompt, and the env it names.

A label is a JSON object with ``env_id``, ``budget`` and ``seed``; every other key is a keyword of
``gymnasium.make`` (``demos``, ``top_k``, ...). The same label builds the same env on the machine
that writes ``prompts.jsonl`` and on every cluster worker, wrapped in ``MostSimilarConfig`` as the
paper trains (paper 000, §4.2.3: a near-miss proposal is matched to the valid config with the
longest common substring, which keeps rewards from collapsing to -1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium

import gymnasium_llmconfig  # noqa: F401  (registers the env ids)
from gymnasium_llmconfig.errors import InvalidArgument
from wrappers import MostSimilarConfig

_REQUIRED = ("env_id", "budget", "seed")


@dataclass(frozen=True)
class EpisodeLabel:
    """Which env, at which budget, reset with which seed, made with which keywords."""

    env_id: str
    budget: int
    seed: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"env_id": self.env_id, "budget": self.budget, "seed": self.seed, **self.env_kwargs},
                          sort_keys=True)

    @classmethod
    def parse(cls, label: str | dict[str, Any]) -> EpisodeLabel:
        """A label from its JSON text (as ``prompts.jsonl`` stores it) or an already decoded object."""
        try:
            data = json.loads(label) if isinstance(label, str) else label
        except ValueError as exc:
            raise InvalidArgument(f"an episode label must be a JSON object, got {label!r} ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"an episode label must be a JSON object, got {label!r}")
        data = dict(data)
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise InvalidArgument(f"episode label {label!r} lacks {', '.join(missing)}; a label needs "
                                  f"{', '.join(_REQUIRED)} (and optionally gymnasium.make keywords)")
        env_id, budget, seed = (data.pop(k) for k in _REQUIRED)
        return cls(str(env_id), int(budget), int(seed), data)

    def make_env(self) -> gymnasium.Env:
        """The training env: ``gymnasium.make`` with the label's budget and keywords, under ``MostSimilarConfig``."""
        return MostSimilarConfig(gymnasium.make(self.env_id, budget=self.budget, **self.env_kwargs))
