"""Parsed tables with a columnar cache: a raw file is parsed once by its reader, later loads read Parquet."""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from gymnasium_llmconfig.data.readers import READERS
from gymnasium_llmconfig.data.sources import DataError, DataSource, cache_dir, locate, sha256_of
from gymnasium_llmconfig.storage import atomic_write


def _cache_key(source: DataSource, path: Path) -> str:
    if source.sha256:
        return source.sha256
    stat = path.stat()  # local (collected) tables: key on content so edits invalidate the cache
    return sha256_of(path) if stat.st_size < (1 << 26) else f"{stat.st_mtime_ns}-{stat.st_size}"


def read_table(source: DataSource, *, download: bool = False, needed_by: str = "") -> pd.DataFrame:
    """The source file as a DataFrame with its ``fields`` as constant columns (shared: do not mutate it)."""
    if source.reader not in READERS:
        raise DataError(f"source {source.name!r} names unknown reader {source.reader!r}; use one of {sorted(READERS)}")
    path = locate(source, download=download, needed_by=needed_by)
    return _read_cached(str(path), _cache_key(source, path), source.reader, source.fields)


@lru_cache(maxsize=512)
def _read_cached(path: str, key: str, reader: str, fields: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    """The parsed file (Parquet-cached per content and reader) plus its constant ``fields`` columns.

    Fields stay out of the Parquet file: one file may serve two sources.
    """
    parquet = cache_dir() / "tables" / f"{key if reader == 'csv' else f'{key}.{reader}'}.parquet"
    frame = None
    if parquet.is_file():
        try:
            frame = pd.read_parquet(parquet)
        except (OSError, ValueError):
            parquet.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    if frame is None:
        frame = READERS[reader](Path(path))
        _write_atomically(frame, parquet)
    return frame.assign(**dict(fields)) if fields else frame


def _write_atomically(frame: pd.DataFrame, target: Path) -> None:
    """Best effort: a read-only or full cache only costs speed, never correctness."""
    with contextlib.suppress(OSError):
        atomic_write(target, lambda handle: frame.to_parquet(handle, index=False), binary=True)
