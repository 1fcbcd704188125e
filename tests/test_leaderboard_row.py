"""The typed leaderboard row: a stored line reads back into fields and writes back as the same line."""

from __future__ import annotations

import json
import math

from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.store import ResultStore

#: A line as `llmconfig bench` writes it for an Arch episode (no finite table: rank percentile undefined).
LINE = (
    '{"agent": "random", "env_id": "LLMConfig-Arch-GPTL-v0", "task": "Arch", "seed": 2, "budget": 1, '
    '"normalized_regret": 0.25, "rank_percentile": null, "outcome_reward": -0.25, "episode_return": -0.25, '
    '"execution_rate": 1.0, "unique_config_rate": 1.0, "best_metric": 1.5, "role": "high", "wall_s": 0.01, '
    '"text_agent": false, "steps": [{"config": {"bias": true}, "matched_config": null, "metric": 1.5, '
    '"valid": true, "repeat": false, "error": null}]}'
)


def test_a_stored_line_round_trips_byte_for_byte() -> None:
    row = LeaderboardRow.from_dict(json.loads(LINE))
    assert math.isnan(row.rank_percentile) and row.normalized_regret == 0.25 and row.agent_record is None
    assert row.key == ("random", "LLMConfig-Arch-GPTL-v0", 1, 2)
    assert json.dumps(row.to_dict()) == LINE


def test_the_store_reads_typed_rows_and_keeps_the_first_of_a_key(tmp_path: object) -> None:
    store = ResultStore(tmp_path)
    later = json.loads(LINE) | {"normalized_regret": 0.5, "a_key_from_a_newer_version": 1}
    store.episodes_path.write_text(LINE + "\n" + json.dumps(later) + "\n")
    (row,) = store.rows()
    assert isinstance(row, LeaderboardRow) and row.normalized_regret == 0.25
    assert store.done() == {row.key}


def test_nan_metrics_are_written_as_null() -> None:
    row = LeaderboardRow.from_dict(json.loads(LINE))
    written = LeaderboardRow(**{**row.__dict__, "normalized_regret": math.nan}).to_dict()
    assert written["normalized_regret"] is None and written["rank_percentile"] is None
