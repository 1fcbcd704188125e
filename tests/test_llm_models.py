"""``agents.llm.models``: how ``--model`` resolves (packaged GGUF, local directory, hub cache) and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.llm import BackendUnavailable
from agents.llm.models import ModelSource, default_gguf_path, load_model, resolve_model


def test_smollm2_names_the_packaged_gguf() -> None:
    try:
        default_gguf_path()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    for name in (None, "smollm2", "SmolLM2", "default"):
        source = resolve_model(name)
        assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert Path(source.label).is_file()


def test_local_directory_and_gguf_file(tmp_path: Path) -> None:
    hf_dir = tmp_path / "ckpt"
    hf_dir.mkdir()
    (hf_dir / "config.json").write_text("{}")
    assert resolve_model(hf_dir) == ModelSource(str(hf_dir))
    gguf_dir = tmp_path / "gguf"
    gguf_dir.mkdir()
    (gguf_dir / "m.gguf").write_bytes(b"")
    assert resolve_model(gguf_dir) == ModelSource(str(gguf_dir), "m.gguf")
    assert resolve_model(gguf_dir / "m.gguf") == ModelSource(str(gguf_dir), "m.gguf")


def test_bad_paths_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="does not exist"):
        resolve_model(tmp_path / "missing")
    with pytest.raises(BackendUnavailable, match=r"no config\.json and no \.gguf"):
        resolve_model(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(BackendUnavailable, match=r"not a \.gguf"):
        resolve_model(tmp_path / "weights.bin")


def _fake_hub_cache(root: Path, name: str) -> Path:
    """The layout huggingface_hub writes for a downloaded model: refs/main -> snapshots/<sha>/."""
    repo = root / f"models--{name.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    return snapshot


def test_hub_name_comes_from_the_cache_and_is_never_downloaded(tmp_path: Path, monkeypatch) -> None:
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    snapshot = _fake_hub_cache(tmp_path, "someorg/tiny-chat")
    assert Path(resolve_model("someorg/tiny-chat").directory) == snapshot
    with pytest.raises(BackendUnavailable, match="huggingface-cli download someorg/not-cached"):
        resolve_model("someorg/not-cached")


def test_load_model_loads_a_checkpoint_and_refuses_one_without_chat_template(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tiny_lm import save_tiny_lm

    directory = save_tiny_lm(tmp_path / "tiny")
    loaded = load_model(directory, device="cpu")
    assert loaded.device == "cpu" and loaded.source == ModelSource(str(directory))
    assert str(next(loaded.model.parameters()).dtype) == "torch.float32"
    assert loaded.tokenizer.chat_template
    config = json.loads((directory / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    for extra in directory.glob("chat_template.*"):
        extra.unlink()
    with pytest.raises(BackendUnavailable, match="no chat template"):
        load_model(directory, device="cpu")
