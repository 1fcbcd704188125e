"""The results directory of a benchmark run (``--out``): what is done, what was fitted, how it was set up.

Layout:

* ``episodes.jsonl``: one durable JSON line per finished episode, keyed by
  (agent, env_id, budget, seed). A re-run skips every key already there; a
  killed run loses only the episodes in flight.
* ``fitted/<agent>.pkl``: each learning agent as it was after ``fit``, so a
  resumed run plays with the very same fitted agent (and a finished fit is
  never paid for twice).
* ``run.json``: the settings that make episodes comparable (suite, env
  options). A re-run with other settings is refused: its rows would not be
  comparable with the stored ones.
* the report (``leaderboard.md``, ``leaderboard.html``, PNGs), rebuilt from
  ``episodes.jsonl`` at the end of every run and by ``llmconfig report``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.lab.leaderboard.row import EpisodeKey, LeaderboardRow, episode_key
from gymnasium_llmconfig.storage import (
    JsonlAppender,
    StoreError,
    atomic_write,
    read_jsonl,
)

EPISODES = "episodes.jsonl"
RUN_JSON = "run.json"
FITTED = "fitted"

class ResultStore:
    """Reads and writes one results directory."""

    def __init__(self, out: str | Path):
        self.out = Path(out)

    @property
    def episodes_path(self) -> Path:
        return self.out / EPISODES

    def rows(self) -> list[LeaderboardRow]:
        """Every stored episode (first one wins if a key was somehow written twice)."""
        seen: dict[EpisodeKey, LeaderboardRow] = {}
        for raw in read_jsonl(self.episodes_path):
            key = episode_key(raw)
            if key not in seen:
                seen[key] = LeaderboardRow.from_dict(raw)
        return list(seen.values())

    def done(self) -> set[EpisodeKey]:
        return {episode_key(row) for row in read_jsonl(self.episodes_path)}

    def appender(self) -> JsonlAppender:
        """The episode log's single writer (a second benchmark on the same ``--out`` is refused)."""
        return JsonlAppender(self.episodes_path, owner="benchmark run")

    # --- fitted agents --------------------------------------------------------------------
    def fitted_path(self, label: str) -> Path:
        return self.out / FITTED / f"{re.sub(r'[^A-Za-z0-9_.=-]', '_', label)}.pkl"

    def load_fitted(self, label: str) -> bytes | None:
        """The pickled fitted agent stored under ``label``, if any."""
        path = self.fitted_path(label)
        return path.read_bytes() if path.exists() else None

    def save_fitted(self, label: str, blob: bytes) -> Path:
        return atomic_write(self.fitted_path(label), lambda handle: handle.write(blob), binary=True)

    # --- settings -------------------------------------------------------------------------
    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Record ``settings`` on the first run; refuse a later run whose settings differ."""
        path = self.out / RUN_JSON
        wanted = json.loads(json.dumps(settings))
        if path.exists():
            stored = json.loads(path.read_text())
            if stored != wanted:
                changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
                raise StoreError(
                    f"{self.out} holds results run with other settings ({', '.join(changed)}: stored "
                    f"{ {k: stored.get(k) for k in changed} }, now { {k: wanted.get(k) for k in changed} }); "
                    "use another --out, or the same settings to resume or extend it")
            return
        atomic_write(path, lambda handle: handle.write(json.dumps(wanted, indent=2) + "\n"))

    def settings(self) -> dict[str, Any]:
        path = self.out / RUN_JSON
        return json.loads(path.read_text()) if path.exists() else {}
