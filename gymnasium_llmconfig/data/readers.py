"""Readers: how each kind of raw source file becomes a table with one row per run.

A source names its reader in ``registry.yaml`` (``reader:``, default ``csv``);
:func:`gymnasium_llmconfig.data.read_table` caches whatever the reader returns
as Parquet keyed by the file's sha256, so a reader runs once per file version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gymnasium_llmconfig.data.sources import DataError

#: Prefix of the hyperparameter columns written by :func:`marin_result`.
CONFIG_PREFIX = "config/"
#: Significant digits kept of every number: the Marin files write one value several ways
#: (``1e-25`` and ``9.999999999999999e-26``, ``1`` and ``1.0``), which then compare equal.
SIGNIFICANT_DIGITS = 12


def marin_result(path: Path) -> pd.DataFrame:
    """One cell of the Marin optimizer study (``Analysis/Results/<opt>/<size>/<multiple>/result.json``).

    The file holds the cell's best run (``baseline``, config ``best_config``) and
    one-at-a-time ablations of it (``ablations``: that config with one
    hyperparameter changed). Rows: ``ablation`` ("Baseline" or the changed
    parameter), ``run_id`` (W&B run, None when the file names none), ``loss``
    (NaN where the file says "NaN": a diverged run, kept as an outcome) and one
    ``config/<name>`` column per hyperparameter. Entries with a null loss were
    never run and are dropped; a run recorded twice (the same run id, or a
    config equal to an earlier one after numeric normalization) is counted
    once, the first entry (the Baseline) winning.
    """
    try:
        doc = json.loads(Path(path).read_text())
        base = {k: _normal(v) for k, v in doc["best_config"].items()}
        entries = [("Baseline", None, doc["baseline"]["loss"], doc["baseline"].get("wandb_id"))]
        entries += [(a["param"], _normal(a["value"]), a["loss"], a.get("wandb_id")) for a in doc.get("ablations", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a Marin optimizer-sweep result.json ({exc!r})") from exc
    rows: list[dict[str, Any]] = []
    seen_runs: set[str] = set()
    seen_configs: set[tuple[tuple[str, Any], ...]] = set()
    for param, value, loss, run_id in entries:
        if loss is None:
            continue
        config = dict(base) if param == "Baseline" else {**base, param: value}
        key = tuple(sorted(config.items()))
        if key in seen_configs or (run_id is not None and run_id in seen_runs):
            continue
        seen_configs.add(key)
        if run_id is not None:
            seen_runs.add(run_id)
        rows.append({"ablation": param, "run_id": run_id, "loss": float(loss),  # "NaN" -> nan
                     **{CONFIG_PREFIX + k: v for k, v in config.items()}})
    names = sorted({c for r in rows for c in r if c.startswith(CONFIG_PREFIX)})
    return pd.DataFrame(rows, columns=["ablation", "run_id", "loss", *names])


def _normal(value: Any) -> Any:
    """Numbers to ``SIGNIFICANT_DIGITS`` (integral values as int); bools and strings unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    number = float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


READERS: Mapping[str, Callable[[Path], pd.DataFrame]] = {
    "csv": pd.read_csv,
    "marin_result": marin_result,
}
