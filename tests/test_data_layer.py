"""The data layer: mirror lookup, sha256 refusal, atomic pull, clear messages."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import require_data

from gymnasium_llmconfig import data
from gymnasium_llmconfig.registry import load_registry

STEPLAW = load_registry().task("Pretrain").sources["steplaw-dense"]


def test_mirror_copy_is_found_and_verified() -> None:
    require_data(STEPLAW.path)
    st = data.status(STEPLAW)
    assert st.verified and st.where == "$LLMCONFIG_DATA_DIR"
    assert data.locate(STEPLAW).name == "dense_lr_bs_loss.csv"


def test_missing_file_message_names_file_places_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DataNotFoundError) as err:
        data.locate(STEPLAW, needed_by="LLMConfig-Pretrain-N429M-D50B-v0")
    message = str(err.value)
    for part in ("steplaw/dense_lr_bs_loss.csv", str(tmp_path / "mirror"), "llmconfig data pull steplaw-dense",
                 "LLMConfig-Pretrain-N429M-D50B-v0", STEPLAW.url):
        assert part in message


def test_corrupt_copy_is_refused_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "mirror" / STEPLAW.path
    bad.parent.mkdir(parents=True)
    shutil.copy(require_data(STEPLAW.path), bad)
    with open(bad, "a") as fh:
        fh.write("tampered\n")
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DataIntegrityError, match="refused") as err:
        data.locate(STEPLAW)
    assert str(bad) in str(err.value)
    assert not data.status(STEPLAW).verified


def test_pull_verifies_then_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    payload = require_data(STEPLAW.path).read_bytes()
    path = data.pull(STEPLAW, fetch=lambda url: [payload[:1000], payload[1000:]])
    assert path == tmp_path / "cache" / "raw" / STEPLAW.path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == STEPLAW.sha256


def test_failed_pull_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DataIntegrityError, match="nothing was saved"):
        data.pull(STEPLAW, fetch=lambda url: [b"not the file"])

    def broken(url: str):
        yield b"partial"
        raise OSError("connection reset")

    with pytest.raises(data.DataError, match="connection reset"):
        data.pull(STEPLAW, fetch=broken)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_make_without_data_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {"LLMCONFIG_DATA_DIR": str(tmp_path), "LLMCONFIG_CACHE_DIR": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    code = ("import gymnasium, gymnasium_llmconfig\n"
            "try:\n gymnasium.make('LLMConfig-Mixture-Qwen3B-v0')\n"
            "except gymnasium_llmconfig.data.DataNotFoundError as e:\n print('OK', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.startswith("OK") and "llmconfig data pull admire-ift" in out.stdout


def test_columnar_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gymnasium_llmconfig.data import tables

    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path))
    tables._read_cached.cache_clear()
    first = data.read_table(STEPLAW)
    parquet = tmp_path / "tables" / f"{STEPLAW.sha256}.parquet"
    assert parquet.is_file()
    tables._read_cached.cache_clear()
    again = data.read_table(STEPLAW)
    assert again.equals(first) and len(again) == 1911
