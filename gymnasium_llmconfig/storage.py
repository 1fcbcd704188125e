"""Crash-safe files: atomic whole-file writes and append-only JSON-lines logs.

Long jobs (sweeps, leaderboard runs) append one JSON line per finished unit
of work and fsync it before the next starts; a kill leaves at most a
truncated last line, which readers skip and writers cut. Derived files
(tables, reports, caches) are written to a temp file beside their target and
renamed over it, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from gymnasium_llmconfig.errors import StoreError

if TYPE_CHECKING:
    from typing import Self


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, binary: bool = False) -> Iterator[IO[Any]]:
    """Yield a temp file beside ``path``; on a clean exit, sync it and rename it over ``path``.

    An exception inside the block (a failed download, a checksum that does not
    match) removes the temp file and leaves ``path`` as it was. The file gets
    the usual permissions (``0o666`` less the umask), not ``mkstemp``'s private
    ``0o600``: these files are meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temp file beside ``path``, then rename it over ``path`` (see :func:`atomic_file`)."""
    with atomic_file(path, binary=binary) as handle:
        write(handle)
    return Path(path)


def plain(value: Any) -> Any:
    """A numpy scalar or array as the Python value ``json`` can write; anything else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON data: numpy to Python, tuples and sets to lists, NaN and infinities to None.

    Anything else JSON cannot hold becomes its ``str``.
    """
    value = plain(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def parse_jsonl(data: str) -> tuple[list[dict[str, Any]], int]:
    """Records of a JSON-lines text and the length (in characters) of its valid prefix.

    Only the last line may be unparsable (a kill mid-write); it is left out.
    Garbage anywhere else is real corruption and raises :class:`StoreError`.
    """
    records, valid = [], 0
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    break
                raise StoreError(f"line {i + 1} of the log is not valid JSON; fix or delete that line") from None
        if line.endswith("\n"):
            valid += len(line)
    return records, valid


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete record of a JSON-lines log (none if the file does not exist)."""
    path = Path(path)
    return parse_jsonl(path.read_text())[0] if path.exists() else []


class JsonlAppender:
    """Appends one durable JSON line per record, holding the only write lock on the log.

    ``owner`` names the kind of writer in the error a second writer gets
    (two writers on one log would do the same work twice).
    """

    def __init__(self, path: str | os.PathLike[str], owner: str = "writer") -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise StoreError(f"another {owner} is already writing to {path.parent}") from None
        data = path.read_text()
        valid = len(data[: parse_jsonl(data)[1]].encode())
        if valid < path.stat().st_size:  # cut a truncated last line so the next append starts clean
            os.ftruncate(self._fh.fileno(), valid)

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()  # also releases the lock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
