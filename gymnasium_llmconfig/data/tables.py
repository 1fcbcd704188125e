"""Parsed tables with a columnar cache: CSV is parsed once, later loads read Parquet."""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from gymnasium_llmconfig.data.sources import DataSource, cache_dir, locate, sha256_of
from gymnasium_llmconfig.storage import atomic_write


def _cache_key(source: DataSource, path: Path) -> str:
    if source.sha256:
        return source.sha256
    stat = path.stat()  # local (collected) tables: key on content so edits invalidate the cache
    return sha256_of(path) if stat.st_size < (1 << 26) else f"{stat.st_mtime_ns}-{stat.st_size}"


def read_table(source: DataSource, *, download: bool = False, needed_by: str = "") -> pd.DataFrame:
    """The source file as a DataFrame (a shared object: do not mutate it)."""
    path = locate(source, download=download, needed_by=needed_by)
    return _read_cached(str(path), _cache_key(source, path))


@lru_cache(maxsize=64)
def _read_cached(path: str, key: str) -> pd.DataFrame:
    parquet = cache_dir() / "tables" / f"{key}.parquet"
    if parquet.is_file():
        try:
            return pd.read_parquet(parquet)
        except (OSError, ValueError):
            parquet.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    frame = pd.read_csv(path)
    _write_atomically(frame, parquet)
    return frame


def _write_atomically(frame: pd.DataFrame, target: Path) -> None:
    """Best effort: a read-only or full cache only costs speed, never correctness."""
    with contextlib.suppress(OSError):
        atomic_write(target, lambda handle: frame.to_parquet(handle, index=False), binary=True)
