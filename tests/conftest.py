"""Test setup: point the data layer at the shared mirror and an isolated cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LLMCONFIG_DATA_DIR", str(REPO.parent / "shared" / "llmconfig-data"))
os.environ.setdefault("LLMCONFIG_CACHE_DIR", tempfile.mkdtemp(prefix="llmconfig-test-cache-"))
DATA_DIR = Path(os.environ["LLMCONFIG_DATA_DIR"])


def require_data(relative: str) -> Path:
    path = DATA_DIR / relative
    if not path.is_file():
        pytest.skip(f"data mirror file {path} is missing (set LLMCONFIG_DATA_DIR)")
    return path


def require_smollm2() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF, or a skip naming what is missing (transformers, gguf, the wheel)."""
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from agents.llm import BackendUnavailable
    from agents.llm.models import default_gguf_path

    try:
        return default_gguf_path()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The HW-GPT-Bench folder of the mirror (weights and reference CSVs)."""
    return require_data("hwgpt/reference_s.csv").parent
