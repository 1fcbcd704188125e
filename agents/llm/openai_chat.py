"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, llama.cpp's llama-server, ...).

Transient failures (HTTP 429, 5xx, connection errors and timeouts) are retried
with exponential backoff; credentials refused (401/403) and other client errors
fail at once with a message that says what to fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agents.llm.backend import (
    BackendAuthError,
    BackendConnectionError,
    BackendError,
    BackendUnavailable,
    Message,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


class OpenAIBackend:
    """Chat completions over HTTP with the ``openai`` client.

    Args:
        model: the served model name (``/v1/models`` lists them).
        base_url: the endpoint's ``.../v1`` URL (default: a local vLLM at 127.0.0.1:8000).
        api_key_env: environment variable holding the key; ``"EMPTY"`` when unset (local servers).
        api_key: the key itself (overrides ``api_key_env``).
        max_retries: retries of a transient failure (429, 5xx, connection, timeout).
        backoff: first wait in seconds; doubled after every retry, capped at ``max_backoff``
            (a server's ``Retry-After`` is honoured up to that cap).
        timeout: seconds per request.
        send_seed: pass ``seed`` to the server (some servers reject it).
        extra_body: extra JSON fields for the request (e.g. ``{"top_k": 20}`` for vLLM).
        concurrency: requests in flight at once in :meth:`generate_batch` (the server batches them).
    """

    name = "openai"

    def __init__(
        self,
        model: str = "default",
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = "OPENAI_API_KEY",
        api_key: str | None = None,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        timeout: float = 120.0,
        send_seed: bool | str = True,
        extra_body: dict[str, Any] | None = None,
        concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ):
        try:
            import openai
        except ImportError as exc:
            raise BackendUnavailable("the openai backend needs the `openai` client. Fix: `pip install openai`") from exc
        self._openai = openai
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        key = api_key if api_key is not None else os.environ.get(api_key_env) or "EMPTY"
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=float(timeout), max_retries=0)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.send_seed = (send_seed.strip().lower() not in ("0", "false", "no", "off") if isinstance(send_seed, str)
                          else bool(send_seed))
        self.extra_body = dict(extra_body or {})
        self.concurrency = max(1, int(concurrency))
        self._sleep = sleep
        #: transient failures retried so far (over the backend's lifetime).
        self.retries = 0
        #: (status or error name, wait in seconds) of each retry, for logs and tests.
        self.retry_log: list[tuple[str, float]] = []
        self.last_usage: dict[str, float] = {}

    def _wait(self, attempt: int, exc: Exception) -> float:
        wait = min(self.max_backoff, self.backoff * 2**attempt) * (1 + 0.1 * random.random())
        response = getattr(exc, "response", None)
        retry_after = None if response is None else response.headers.get("retry-after")
        if retry_after:
            with contextlib.suppress(ValueError):  # a date, not seconds: keep the exponential wait
                wait = max(wait, min(self.max_backoff, float(retry_after)))
        return wait

    def generate(
        self, messages: Sequence[Message], max_new_tokens: int = 512, temperature: float = 0.7,
        seed: int | None = None,
    ) -> str:
        openai = self._openai
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": int(max_new_tokens),
            "temperature": max(0.0, float(temperature)),
        }
        if seed is not None and self.send_seed:
            request["seed"] = int(seed)
        if self.extra_body:
            request["extra_body"] = self.extra_body
        transient = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
        attempt = 0
        start = time.perf_counter()
        while True:
            try:
                response = self.client.chat.completions.create(**request)
                break
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise BackendAuthError(
                    f"{self.base_url} refused the credentials (HTTP {exc.status_code}): {_server_message(exc)}. "
                    f"Fix: put a valid key in ${self.api_key_env} (it is "
                    f"{'set' if os.environ.get(self.api_key_env) else 'unset, so the key sent was EMPTY'})."
                ) from exc
            except transient as exc:
                status = getattr(exc, "status_code", None)
                if attempt >= self.max_retries:
                    if isinstance(exc, openai.APIConnectionError):
                        raise BackendConnectionError(
                            f"could not reach the chat endpoint {self.base_url} after {attempt + 1} attempt(s) "
                            f"({type(exc).__name__}: {exc}). Is the server running and is base_url right?"
                        ) from exc
                    raise BackendConnectionError(
                        f"{self.base_url} kept failing with HTTP {status} after {attempt + 1} attempt(s): "
                        f"{_server_message(exc)}"
                    ) from exc
                wait = self._wait(attempt, exc)
                self.retries += 1
                self.retry_log.append((str(status) if status else type(exc).__name__, wait))
                self._sleep(wait)
                attempt += 1
            except openai.APIStatusError as exc:
                raise BackendError(
                    f"{self.base_url} rejected the request for model {self.model!r} "
                    f"(HTTP {exc.status_code}): {_server_message(exc)}"
                ) from exc
        self.last_usage = {"seconds": time.perf_counter() - start, "attempts": attempt + 1}
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.last_usage.update(
                prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0
            )
        if not response.choices:
            raise BackendError(f"{self.base_url} answered with no choices")
        return _message_text(response.choices[0].message)


    def generate_batch(
        self, chats: Sequence[Sequence[Message]], max_new_tokens: int = 512, temperature: float = 0.7,
        seeds: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Each chat's reply, requested concurrently so the server can batch them."""
        seeds = list(seeds) if seeds is not None else [None] * len(chats)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(chats)))) as pool:
            return list(pool.map(lambda chat, seed: self.generate(chat, max_new_tokens, temperature, seed),
                                 chats, seeds))


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


def _message_text(message: Any) -> str:
    """The reply as text: reasoning (if the server splits it out), content, then any tool calls."""
    parts: list[str] = []
    reasoning = getattr(message, "reasoning_content", None) or (getattr(message, "model_extra", None) or {}).get(
        "reasoning_content"
    )
    if reasoning:
        parts.append(f"<think>\n{reasoning}\n</think>")
    if message.content:
        parts.append(message.content)
    for call in getattr(message, "tool_calls", None) or []:
        fn = getattr(call, "function", None)
        if fn is None:
            continue
        args: Any = fn.arguments
        with contextlib.suppress(ValueError):  # keep a malformed string: the env's parser reports it
            args = json.loads(args) if isinstance(args, str) else args
        parts.append(json.dumps({"name": fn.name, "arguments": args}))
    return "\n".join(parts)
