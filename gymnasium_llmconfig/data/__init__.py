"""The data layer: find, verify, fetch and cache the raw source files.

Raw files are never shipped or committed. Each is known by a pinned URL and a
sha256 (from ``registry.yaml``); :func:`locate` finds a verified copy in the
``$LLMCONFIG_DATA_DIR`` mirror or the user cache, :func:`pull` downloads one
with explicit consent, and :func:`read_table` returns a parsed table from a
columnar (Parquet) cache built once per file version.
"""

from gymnasium_llmconfig.data.sources import (
    DataError,
    DataIntegrityError,
    DataNotFoundError,
    DataSource,
    cache_dir,
    locate,
    pull,
    require,
    status,
)
from gymnasium_llmconfig.data.tables import read_table

__all__ = [
    "DataError",
    "DataIntegrityError",
    "DataNotFoundError",
    "DataSource",
    "cache_dir",
    "locate",
    "pull",
    "read_table",
    "require",
    "status",
]
