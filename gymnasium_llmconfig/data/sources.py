"""Source files: where they may live, how they are verified and fetched."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import DataError, DataIntegrityError, DataNotFoundError
from gymnasium_llmconfig.storage import atomic_file

DATA_DIR_ENV = "LLMCONFIG_DATA_DIR"
CACHE_DIR_ENV = "LLMCONFIG_CACHE_DIR"


@dataclass(frozen=True)
class DataSource:
    """One raw file, pinned by URL and sha256.

    ``path`` is the file's relative location inside a mirror or the cache.
    ``local`` is set instead for files that ship with the package or sit
    beside a user registry (collected sweeps): those are used in place.
    ``reader`` names how the file becomes a table (:mod:`gymnasium_llmconfig.data.readers`);
    ``fields`` are constant columns added to every row (e.g. the optimizer and
    model size a file's path stands for).
    """

    name: str
    path: str
    url: str = ""
    sha256: str = ""
    licence: str = ""
    citation: str = ""
    local: Path | None = None
    reader: str = "csv"
    fields: tuple[tuple[str, Any], ...] = ()

    @property
    def fetchable(self) -> bool:
        return bool(self.url and self.sha256)


def cache_dir() -> Path:
    """The user cache (``$LLMCONFIG_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gymnasium-llmconfig"


def _mirror_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def candidate_paths(source: DataSource) -> list[tuple[str, Path]]:
    """Places a source may be, in lookup order, labelled for messages."""
    if source.local is not None:
        return [("package", source.local)]
    places: list[tuple[str, Path]] = []
    mirror = _mirror_dir()
    if mirror is not None:
        places.append((f"${DATA_DIR_ENV}", mirror / source.path))
    places.append(("cache", cache_dir() / "raw" / source.path))
    return places


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _verified(path: str, mtime_ns: int, size: int, expected: str) -> bool:
    """Memoized sha256 check: a file is hashed once per (path, mtime, size)."""
    return sha256_of(Path(path)) == expected


def is_verified(source: DataSource, path: Path) -> bool:
    if not source.sha256:
        return True
    stat = path.stat()
    return _verified(str(path), stat.st_mtime_ns, stat.st_size, source.sha256)


def locate(source: DataSource, *, download: bool = False, needed_by: str = "") -> Path:
    """Return a verified local copy of ``source`` or raise a :class:`DataError` that says how to fix it.

    A copy whose sha256 does not match is refused and named in the error; it is never used.
    With ``download=True`` a missing file is fetched into the cache.
    """
    refused: list[Path] = []
    looked: list[str] = []
    for label, path in candidate_paths(source):
        looked.append(f"{label}: {path}")
        if not path.is_file():
            continue
        if is_verified(source, path):
            return path
        refused.append(path)
    if download and source.fetchable:
        return pull(source)
    for_whom = f" (needed by {needed_by})" if needed_by else ""
    if refused:
        raise DataIntegrityError(
            f"Data file {source.path!r} of source {source.name!r}{for_whom} exists but does not match its pinned "
            f"sha256 {source.sha256}: refused {', '.join(map(str, refused))}. Delete the bad copy and run "
            f"`llmconfig data pull {source.name}` to fetch a verified one."
        )
    if source.local is not None:
        raise DataNotFoundError(
            f"Data file {source.path!r} of source {source.name!r}{for_whom} is missing from {source.local}; "
            "reinstall the package or re-run the collector that wrote it."
        )
    mirror_hint = "" if _mirror_dir() else f" ${DATA_DIR_ENV} is not set."
    raise DataNotFoundError(
        f"Data file {source.path!r} of source {source.name!r}{for_whom} was not found. Looked in: "
        f"{'; '.join(looked)}.{mirror_hint} Fix: run `llmconfig data pull {source.name}` (downloads {source.url}), "
        f"pass download=True to gymnasium.make, or set {DATA_DIR_ENV} to a mirror that has {source.path}."
    )


def require(sources: Iterable[DataSource], needed_by: str) -> None:
    """Locate and verify every source now, or raise one :class:`DataError` naming all that are missing or
    refused and the one command that fetches them: a run checks its data before it starts anything (each
    file is hashed once per process, so the later loads cost nothing more)."""
    missing: list[DataSource] = []
    refused: list[DataSource] = []
    for source in sources:
        try:
            locate(source, needed_by=needed_by)
        except DataIntegrityError:
            refused.append(source)
        except DataNotFoundError:
            if source.local is not None:
                raise
            missing.append(source)
    if not missing and not refused:
        return
    names = " ".join(s.name for s in [*refused, *missing])
    problems = []
    if missing:
        mirror = _mirror_dir()
        where = f"${DATA_DIR_ENV} is not set" if mirror is None else f"${DATA_DIR_ENV}={mirror} does not have them"
        problems.append(f"{', '.join(s.name for s in missing)} not found ({where}; "
                        f"cache: {cache_dir() / 'raw'})")
    if refused:
        problems.append(f"{', '.join(s.name for s in refused)} found but not matching the pinned sha256 "
                        "(delete the bad copies)")
    raise DataNotFoundError(f"{needed_by} needs data that is not here: {'; '.join(problems)}. "
                            f"Fix: `llmconfig data pull {names}`, or set {DATA_DIR_ENV} to a mirror that has them.")


Fetcher = Callable[[str], Iterable[bytes]]


def _http_chunks(url: str) -> Iterable[bytes]:
    with urllib.request.urlopen(url, timeout=60) as response:
        yield from iter(lambda: response.read(1 << 16), b"")


def pull(source: DataSource, *, fetch: Fetcher = _http_chunks, force: bool = False) -> Path:
    """Download ``source`` into the cache: temp file, verify sha256, then atomic rename.

    A failed or mismatching download leaves nothing behind.
    """
    if not source.fetchable:
        raise DataError(f"Source {source.name!r} has no pinned URL and sha256; it cannot be downloaded.")
    target = cache_dir() / "raw" / source.path
    if target.is_file() and not force and is_verified(source, target):
        return target
    digest = hashlib.sha256()
    try:
        with atomic_file(target, binary=True) as out:
            for chunk in fetch(source.url):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != source.sha256:
                raise DataIntegrityError(
                    f"Download of {source.url} has sha256 {digest.hexdigest()}, expected {source.sha256}; "
                    "nothing was saved. The upstream file may have changed: report it."
                )
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"Could not download {source.url} for source {source.name!r}: {exc}") from exc
    return target


@dataclass(frozen=True)
class SourceStatus:
    """One row of ``llmconfig data status``."""

    source: DataSource
    found: Path | None
    where: str
    verified: bool


def status(source: DataSource) -> SourceStatus:
    """Where ``source`` is found (first existing copy) and whether it verifies."""
    for label, path in candidate_paths(source):
        if path.is_file():
            return SourceStatus(source, path, label, is_verified(source, path))
    return SourceStatus(source, None, "missing", False)
