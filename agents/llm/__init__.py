"""LLM agents: a prompted chat model (runner name ``llm-prompt``) with local and served backends.

    from agents.llm import LLMPromptAgent
    agent = LLMPromptAgent("transformers")                      # packaged SmolLM2-135M-Instruct GGUF
    agent = LLMPromptAgent("openai", model="Qwen/Qwen3-8B", base_url="http://127.0.0.1:8000/v1")
"""

from agents.llm.agent import (
    DEFAULT_SYSTEM_PROMPT,
    EpisodeRecord,
    LLMPromptAgent,
    TurnRecord,
)
from agents.llm.backend import (
    BACKENDS,
    BackendAuthError,
    BackendConnectionError,
    BackendError,
    BackendUnavailable,
    ChatBackend,
    make_backend,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_SYSTEM_PROMPT",
    "BackendAuthError",
    "BackendConnectionError",
    "BackendError",
    "BackendUnavailable",
    "ChatBackend",
    "EpisodeRecord",
    "LLMPromptAgent",
    "TurnRecord",
    "make_backend",
]
