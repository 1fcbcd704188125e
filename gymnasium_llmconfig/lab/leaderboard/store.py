"""The results directory of a benchmark run (``--out``): what is done, what was fitted, how it was set up.

Layout:

* ``episodes.jsonl``: one durable JSON line per finished episode, keyed by
  (agent, env_id, budget, seed). A re-run skips every key already there; a
  killed run loses only the episodes in flight.
* ``fitted/<agent>/seed<k>/``: each learning agent as it was after the ``fit``
  whose episodes use seed ``k`` (one fit per agent and seed, so the spread over
  seeds covers meta-training randomness), as its ``save(path)`` wrote it (JSON and safetensors, never a pickle: a shared
  results directory must not run its author's code), so a resumed run plays
  with the very same fitted agent (and a finished fit is never paid for twice).
* ``run.json``: the settings that make episodes comparable (suite, env
  options). A re-run with other settings is refused: its rows would not be
  comparable with the stored ones.
* the report (``leaderboard.md``, ``leaderboard.html``, PNGs), rebuilt from
  ``episodes.jsonl`` at the end of every run and by ``llmconfig report``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
    def fitted_path(self, label: str, seed: int) -> Path:
        """The directory the agent fitted for episode seed ``seed`` goes to: ``fitted/<label>/seed<k>/``."""
        return self.out / FITTED / re.sub(r"[^A-Za-z0-9_.=-]", "_", label) / f"seed{int(seed)}"

    def load_fitted(self, label: str, seed: int) -> dict[str, bytes] | None:
        """The files of the agent stored under ``label`` fitted for episode seed ``seed`` (name -> bytes), if any."""
        path = self.fitted_path(label, seed)
        if not path.is_dir():
            return None
        return {file.name: file.read_bytes() for file in sorted(path.iterdir()) if file.is_file()}

    def save_fitted(self, label: str, seed: int, files: Mapping[str, bytes]) -> Path:
        """Write a fitted agent's files into a scratch directory, then rename it: a kill leaves no half save."""
        path = self.fitted_path(label, seed)
        scratch = path.with_name(path.name + ".partial")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for name, data in files.items():
            if Path(name).name != name:
                raise StoreError(f"a fitted agent's file name must be a plain name, got {name!r}")
            atomic_write(scratch / name, lambda handle, data=data: handle.write(data), binary=True)
        os.replace(scratch, path)
        return path

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
