"""One leaderboard episode as a typed row, and its line in ``episodes.jsonl``.

The runner builds a :class:`LeaderboardRow` per episode, the store writes
:meth:`LeaderboardRow.to_dict` and reads :meth:`LeaderboardRow.from_dict`, and
the report reads the fields. Metrics that are undefined for an episode (e.g.
the rank percentile of an infinite space) are NaN in memory and ``null`` in
the file (strict JSON); the conversion lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gymnasium_llmconfig.metrics import EpisodeResult
from gymnasium_llmconfig.storage import jsonable

#: (agent, env_id, budget, seed): what a resumed run skips.
EpisodeKey = tuple[str, str, int, int]

#: What a row keeps of each step's info.
STEP_FIELDS = ("config", "matched_config", "metric", "valid", "repeat", "error")

#: Fields that are NaN when undefined (stored as null).
NAN_FIELDS = frozenset({"rank_percentile", "normalized_regret", "outcome_reward", "episode_return",
                        "execution_rate", "unique_config_rate"})


@dataclass(frozen=True)
class LeaderboardRow(EpisodeResult):
    """An episode's :class:`~gymnasium_llmconfig.metrics.EpisodeResult` plus who played it and how."""

    agent: str = ""
    role: str = ""
    wall_s: float = 0.0
    #: The agent proposes text (not a ``ConfigAgent``): the report shows its execution and unique-config rates.
    text_agent: bool = False
    #: Per step, the info's :data:`STEP_FIELDS`.
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: The agent's own record of the episode (e.g. an LLM's turns), when it keeps one.
    agent_record: dict[str, Any] | None = None

    @property
    def key(self) -> EpisodeKey:
        return (self.agent, self.env_id, int(self.budget), int(self.seed or 0))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LeaderboardRow:
        """A stored line (``null`` metrics become NaN; keys this version does not know are dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (math.nan if v is None and k in NAN_FIELDS else v) for k, v in raw.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The line written to ``episodes.jsonl``: strict JSON, ``agent`` first, ``agent_record`` only if kept."""
        fields = dataclasses.asdict(self)
        out = {"agent": fields.pop("agent"), **fields}
        if out["agent_record"] is None:
            del out["agent_record"]
        return jsonable(out)


def episode_key(row: Mapping[str, Any]) -> EpisodeKey:
    """The key of a stored line."""
    return (row["agent"], row["env_id"], int(row["budget"]), int(row["seed"]))
