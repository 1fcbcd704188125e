"""The one interface every LLM backend implements, its errors, and a factory.

A backend turns a chat (a list of ``{"role", "content"}`` messages) into the
assistant's next reply::

    backend.generate(messages, max_new_tokens=512, temperature=0.7, seed=0) -> str

Backends that can batch also have ``generate_batch(chats, max_new_tokens, temperature,
seeds) -> list[str]`` (:func:`generate_batch` falls back to one chat at a time); the
local one also generates from token ids (``generate_ids``), which the rollout engine uses.

Heavy dependencies (torch/transformers, openai) are imported only when a
backend is built, so ``import agents.llm`` is cheap and works without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from gymnasium_llmconfig.errors import (  # noqa: F401 (re-exported from their old home)
    BackendAuthError,
    BackendConnectionError,
    BackendError,
    BackendUnavailable,
)

Message = dict[str, str]

#: Backend names accepted by :func:`make_backend` (and the agent's ``backend=`` argument).
BACKENDS = ("transformers", "openai")


@runtime_checkable
class ChatBackend(Protocol):
    """Chat completion: messages in, the assistant's reply text out."""

    name: str

    def generate(
        self, messages: Sequence[Message], max_new_tokens: int, temperature: float, seed: int | None
    ) -> str:
        """Return the next assistant message for ``messages``.

        ``temperature <= 0`` means greedy decoding; ``seed`` makes sampling
        reproducible where the backend allows it.
        """


def generate_batch(
    backend: ChatBackend, chats: Sequence[Sequence[Message]], max_new_tokens: int, temperature: float,
    seeds: Sequence[int | None],
) -> list[str]:
    """Replies to many chats: the backend's own ``generate_batch`` when it has one, else one at a time."""
    batched = getattr(backend, "generate_batch", None)
    if batched is not None:
        return list(batched(chats, max_new_tokens, temperature, seeds))
    return [backend.generate(chat, max_new_tokens, temperature, seed) for chat, seed in zip(chats, seeds, strict=True)]


def make_backend(kind: str = "transformers", **kwargs: Any) -> ChatBackend:
    """Build a backend by name: ``"transformers"`` (local), ``"openai"`` (served)."""
    kind = kind.strip().lower().replace("_", "-")
    if kind in ("transformers", "hf", "local"):
        from agents.llm.hf import TransformersBackend

        return TransformersBackend(**kwargs)
    if kind in ("openai", "served", "vllm"):
        from agents.llm.openai_chat import OpenAIBackend

        return OpenAIBackend(**kwargs)
    raise ValueError(f"unknown LLM backend {kind!r}; choose one of {BACKENDS}")
