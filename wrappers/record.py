"""RecordEpisodes: every episode as one JSON line (prompt, actions, feedback, rewards, info).

Lines are the unit of safety: each episode is encoded in full, then appended
with a single ``write`` on a file opened in append mode, so concurrent writers
do not interleave and a crash cannot leave half an episode in the middle of the
file. If an earlier crash (power loss, full disk) left a partial last line, the
next record starts on a fresh line and :func:`read_episodes` skips the broken one.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym

from gymnasium_llmconfig.storage import jsonable


class RecordEpisodes(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Append one JSON line per episode to ``path``.

    A line holds ``env_id``, ``budget``, ``seed``, ``prompt`` (the reset
    observation), ``reset_info``, ``steps`` (each with ``action``,
    ``observation``, ``reward``, ``terminated``, ``truncated``, ``info``),
    ``return``, ``complete`` (False when the episode was cut by ``reset`` or
    ``close`` before it ended) and ``wall_time_s``. Put it outermost to record
    the agent's own actions and the observations it saw.

    Args:
        env: any env (LLMConfig env ids and budgets are recorded when present).
        path: the JSONL file (parent folders are created).
        fsync: also ``os.fsync`` after each line (durable against power loss; slower).
    """

    def __init__(self, env: gym.Env, path: str | os.PathLike[str], fsync: bool = False):
        gym.utils.RecordConstructorArgs.__init__(self, path=str(path), fsync=fsync)
        gym.Wrapper.__init__(self, env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._episode: dict[str, Any] | None = None
        self._started = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._flush(complete=False)
        observation, info = self.env.reset(seed=seed, options=options)
        base = self.env.unwrapped
        self._episode = {
            "env_id": getattr(base.spec, "id", None) or getattr(getattr(base, "card", None), "env_id", None),
            "budget": getattr(base, "budget", None),
            "seed": seed,
            "prompt": observation,
            "reset_info": info,
            "steps": [],
        }
        self._started = time.perf_counter()
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self._episode is not None:
            self._episode["steps"].append({
                "action": action, "observation": observation, "reward": float(reward),
                "terminated": bool(terminated), "truncated": bool(truncated), "info": info,
            })
            if terminated or truncated:
                self._flush(complete=True)
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._flush(complete=False)
        super().close()

    def _flush(self, complete: bool) -> None:
        episode, self._episode = self._episode, None
        if episode is None or (not complete and not episode["steps"]):
            return
        episode["return"] = sum(s["reward"] for s in episode["steps"])
        episode["complete"] = complete
        episode["wall_time_s"] = time.perf_counter() - self._started
        line = json.dumps(jsonable(episode), allow_nan=False, separators=(",", ":")) + "\n"
        append_line(self.path, line.encode("utf-8"), fsync=self.fsync)


def append_line(path: Path, data: bytes, fsync: bool = False) -> None:
    """Append one complete line with a single write, starting a fresh line after a partial one."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_episodes(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The recorded episodes of ``path``, skipping (with a warning) lines a crash left broken."""
    broken = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                broken += 1
    if broken:
        warnings.warn(f"{path}: skipped {broken} broken line(s) left by an interrupted write", stacklevel=2)
