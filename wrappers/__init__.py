"""Gymnasium wrappers for LLMConfig envs: composable, each one concern.

- :class:`MostSimilarConfig`: run the most similar valid config instead of an invalid proposal.
- :class:`BudgetTruncation`: ``truncated=True`` after ``T`` proposals (``gymnasium.make`` applies it; it lives
  in the core, :mod:`gymnasium_llmconfig.budget`, as part of the env contract).
- :class:`TranscriptObservation`: the whole conversation so far as one text observation.
- :class:`DiscreteConfigActions`: ``Discrete(n)`` actions and a ``Box`` history observation.
- :class:`RecordEpisodes`: one JSON line per episode.

A typical text-agent stack, innermost first::

    env = gymnasium.make("LLMConfig-Pretrain-N1.07B-D20B-v0", budget=5)  # has BudgetTruncation
    env = RecordEpisodes(TranscriptObservation(MostSimilarConfig(env)), "runs/episodes.jsonl")
"""

from gymnasium_llmconfig.budget import BudgetTruncation
from wrappers.discrete import DiscreteConfigActions
from wrappers.most_similar import MostSimilarConfig
from wrappers.record import RecordEpisodes, read_episodes
from wrappers.transcript import TranscriptObservation

__all__ = [
    "BudgetTruncation",
    "DiscreteConfigActions",
    "MostSimilarConfig",
    "RecordEpisodes",
    "TranscriptObservation",
    "read_episodes",
]
