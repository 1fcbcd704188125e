"""The one place that turns an episode's chat into model text and token ids.

``llm-prompt``, the rollout engine, SFT data and the OpenRLHF adapter all render
through here, so a policy sees exactly the same tokens wherever it is trained or
played. An episode is built incrementally: :func:`first_prompt_ids` (system +
the env's task prompt + the assistant header), then after each reply the ids of
:func:`continuation_ids` (end-of-turn, unless the model emitted it, the env's
feedback as the next user turn, and the next assistant header). Nothing here
hard-codes a chat format: the pieces are cut out of what the tokenizer's own
chat template renders, so the ids built turn by turn equal the template's
rendering of the whole conversation (tested for a ChatML tokenizer and
SmolLM2's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.llm.agent import DEFAULT_SYSTEM_PROMPT
from agents.llm.backend import Message
from gymnasium_llmconfig.errors import BackendUnavailable

#: Placeholder history used to cut the per-turn pieces out of the template's rendering.
_PROBE_USER = "Task."
_PROBE_REPLY = "Reply."


def require_chat_template(tokenizer: Any, model_name: str) -> None:
    """Refuse a tokenizer without a chat template: without one the model's turns are undefined."""
    if not getattr(tokenizer, "chat_template", None):
        raise BackendUnavailable(
            f"model {model_name!r} has no chat template (tokenizer_config.json has no `chat_template`), so its "
            "conversation turns are undefined. Fix: use an instruct/chat model (e.g. `smollm2`), or add a chat "
            "template to the tokenizer and save it with `tokenizer.save_pretrained(DIR)`."
        )


def first_messages(observation: str, system_prompt: str | None = None) -> list[Message]:
    """The chat an episode starts from: the system role (default :data:`DEFAULT_SYSTEM_PROMPT`) and the task."""
    system = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": observation}]


def render(tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> str:
    """The template's text for ``messages`` (the assistant header appended when ``add_generation_prompt``)."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=add_generation_prompt)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Template text to ids; the template already wrote every special token it wants."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Ids of ``messages`` followed by the assistant header: what a model continues from."""
    return encode(tokenizer, render(tokenizer, messages, add_generation_prompt=True))


def first_prompt_ids(tokenizer: Any, observation: str, system_prompt: str | None = None) -> list[int]:
    """Ids of an episode's first prompt (system, the env's task prompt, assistant header)."""
    return prompt_ids(tokenizer, first_messages(observation, system_prompt))


class TurnFormat:
    """The template's per-turn pieces for one tokenizer, derived once by rendering and diffing.

    ``end_of_turn`` is the text the template puts after an assistant reply before the
    next turn (``"<|im_end|>\\n"`` for ChatML); ``stop_ids`` are the tokens at which a
    reply ends (the end-of-turn's first token and the tokenizer's eos).
    """

    def __init__(self, tokenizer: Any, model_name: str = "model"):
        require_chat_template(tokenizer, model_name)
        self.tokenizer = tokenizer
        history = first_messages(_PROBE_USER, "System.")
        self._probe = [*history, {"role": "assistant", "content": _PROBE_REPLY}]
        before = render(tokenizer, history, add_generation_prompt=True)
        self._after_reply = render(tokenizer, self._probe, add_generation_prompt=False)
        head = before + _PROBE_REPLY
        if not self._after_reply.startswith(head):
            raise BackendUnavailable(
                f"the chat template of {model_name!r} does not render an assistant reply right after the "
                "assistant header, so turns cannot be built incrementally. Fix: use a model whose template "
                "appends `add_generation_prompt` text verbatim before the reply (ChatML, Llama 3, ...)."
            )
        self.end_of_turn = self._after_reply[len(head):]
        eot = encode(tokenizer, self.end_of_turn)
        self.end_of_turn_ids: list[int] = eot
        stops = [eot[0]] if eot else []
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stops:
            stops.append(int(tokenizer.eos_token_id))
        self.stop_ids: list[int] = stops

    def continuation_ids(self, generated: Sequence[int], feedback: str) -> tuple[list[int], list[int]]:
        """What follows a reply: ``(reply ids as kept, ids appended after it)``.

        The reply keeps the end-of-turn token when the model emitted it (it is trained
        to), drops a trailing eos the template does not write, and the appended ids
        are the rest of the end-of-turn, ``feedback`` as the next user turn and the
        next assistant header, all as the template renders them.
        """
        reply = list(generated)
        if reply and reply[-1] in self.stop_ids and reply[-1] != (self.end_of_turn_ids or [None])[0]:
            reply = reply[:-1]
        probe = [*self._probe, {"role": "user", "content": feedback}]
        turn = render(self.tokenizer, probe, add_generation_prompt=True)[len(self._after_reply):]
        following = encode(self.tokenizer, self.end_of_turn + turn)
        emitted = bool(reply) and bool(self.end_of_turn_ids) and reply[-1] == self.end_of_turn_ids[0]
        return reply, following[1:] if emitted else following

    def reply_text(self, generated: Sequence[int]) -> str:
        """A reply's text as the env and the transcript see it (special tokens dropped)."""
        return self.tokenizer.decode(list(generated), skip_special_tokens=True)
