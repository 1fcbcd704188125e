"""``llm-prompt``: a prompted LLM that plays the envs through the agent protocol.

The agent keeps the whole conversation: system (a short role), user (the env's
task prompt, which already holds the answer format), then alternating
assistant (its replies: reasoning, then an ``exec_config`` call) and user (the
env's feedback). Each reply is read with the env's own parser
(:func:`gymnasium_llmconfig.parsing.parse_action`); when it holds a config the
agent sends a clean ``exec_config`` call, otherwise the raw text, so the env
reports the format error to the model. Every turn's reasoning is kept in an
:class:`EpisodeRecord` together with the episode's execution rate and
unique-config rate (the paper's Table 4).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agents.llm.backend import ChatBackend, Message, make_backend
from gymnasium_llmconfig import metrics
from gymnasium_llmconfig.parsing import TOOL_NAME, ParsedAction, parse_action
from gymnasium_llmconfig.prompt import to_charset

if TYPE_CHECKING:
    from gymnasium_llmconfig.card import TaskCard

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert at configuring large language model experiments. Each turn, think step by step "
    "about the task, the context and the results so far, then run exactly one configuration by ending "
    f'your reply with the tool call {{"name": "{TOOL_NAME}", "arguments": {{...}}}} in JSON.'
)


@dataclass
class TurnRecord:
    """One act/observe round."""

    observation: str
    reply: str
    reasoning: str
    action: str
    proposal: dict[str, Any] | None
    parse_error: str | None
    seconds: float | None = None
    completion_tokens: int | None = None
    feedback: str | None = None
    reward: float | None = None
    valid: bool | None = None
    repeat: bool | None = None
    config: dict[str, Any] | None = None
    matched_config: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def from_reply(cls, observation: str, reply: str, usage: dict[str, Any] | None = None) -> TurnRecord:
        """The turn of ``reply`` to ``observation``, with the action the env is sent (see :func:`reply_action`)."""
        usage = usage or {}
        action, parsed = reply_action(reply)
        return cls(observation=observation, reply=reply, reasoning=_reasoning(reply), action=action,
                   proposal=parsed.config, parse_error=parsed.error, seconds=usage.get("seconds"),
                   completion_tokens=usage.get("completion_tokens"))

    def observe(self, feedback: str, reward: float, info: dict[str, Any]) -> None:
        """Keep the env's answer to this turn."""
        self.feedback, self.reward = feedback, float(reward)
        self.valid, self.repeat = bool(info.get("valid")), bool(info.get("repeat"))
        config, matched = info.get("config"), info.get("matched_config")
        self.config = None if config is None else dict(config)
        self.matched_config = None if matched is None else dict(matched)
        self.error = info.get("error")


def reply_action(reply: str) -> tuple[str, ParsedAction]:
    """What the env is sent for a model's reply: a clean ``exec_config`` call when the env's own
    parser finds a config in it, else the raw text (so the env reports the format error to the model)."""
    parsed = parse_action(reply)
    if parsed.config is not None:
        return json.dumps({"name": TOOL_NAME, "arguments": parsed.config}, default=str), parsed
    return to_charset(reply), parsed


@dataclass
class EpisodeRecord:
    """An episode's conversation, per-turn reasoning and instruction-following rates.

    The rates are :func:`gymnasium_llmconfig.metrics.execution_rate` and
    :func:`~gymnasium_llmconfig.metrics.unique_config_rate` of the turns (the paper's
    Table 4), so a record and the leaderboard agree, also on proposals that
    ``MostSimilarConfig`` fixed (those are not successful calls).
    """

    env_id: str
    budget: int
    seed: int | None
    backend: str
    model: str | None
    turns: list[TurnRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def step_infos(self) -> list[dict[str, Any]]:
        """The turns as the step-info fields :mod:`gymnasium_llmconfig.metrics` reads."""
        return [{"config": t.config, "matched_config": t.matched_config, "valid": bool(t.valid),
                 "repeat": bool(t.repeat)} for t in self.turns]

    @property
    def executed_calls(self) -> int:
        return metrics.executed_calls(self.step_infos())

    @property
    def valid_calls(self) -> int:
        return sum(1 for t in self.turns if t.valid)

    @property
    def unique_configs(self) -> int:
        return metrics.unique_configs(self.step_infos())

    @property
    def execution_rate(self) -> float:
        return metrics.execution_rate(self.step_infos(), self.budget)

    @property
    def unique_config_rate(self) -> float:
        return metrics.unique_config_rate(self.step_infos(), self.budget)

    @property
    def total_reward(self) -> float:
        return float(sum(t.reward for t in self.turns if t.reward is not None))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            executed_calls=self.executed_calls, valid_calls=self.valid_calls, unique_configs=self.unique_configs,
            execution_rate=self.execution_rate, unique_config_rate=self.unique_config_rate,
            total_reward=self.total_reward,
        )
        return out


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


class LLMPromptAgent:
    """A prompted chat LLM behind the agent protocol (``reset``/``act``/``observe``).

    Args:
        backend: a :class:`ChatBackend`, or its name: ``"transformers"`` (local, default
            SmolLM2-135M-Instruct GGUF) or ``"openai"`` (any OpenAI-compatible endpoint).
        model: the backend's model (a local path for transformers, a served name for openai).
        max_new_tokens: reply length limit per turn.
        temperature: sampling temperature (``0`` = greedy).
        seed: base seed; turn ``k`` of an episode reset with seed ``s`` samples with ``s + k``.
        system_prompt: the system message (the env's prompt already holds the answer format).
        episode_batch: the leaderboard plays this many of the agent's episodes in lockstep,
            generating their turns in one batch (the rollout engine); 1 plays them one at a time.
        **backend_kwargs: passed to the backend (``base_url``, ``api_key_env``, ``device``,
            ``gguf_file``, ``max_retries``, ...).

    String values (as from ``--agent-arg key=value``) are accepted for the numbers.
    """

    name = "llm-prompt"
    #: Declares batched play to the leaderboard runner (see ``episode_batch`` above).
    episode_batch = 16

    def __init__(
        self,
        backend: str | ChatBackend = "transformers",
        *,
        model: str | None = None,
        max_new_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = 0,
        system_prompt: str | None = None,
        episode_batch: int = 16,
        **backend_kwargs: Any,
    ):
        if isinstance(backend, str):
            if model is not None:
                backend_kwargs["model"] = model
            backend = make_backend(backend, **backend_kwargs)
        elif backend_kwargs:
            raise TypeError(f"backend options {sorted(backend_kwargs)} need a backend name, not a built backend")
        self.backend: ChatBackend = backend
        self.model = model if model is not None else getattr(backend, "model_id", getattr(backend, "model", None))
        self.max_new_tokens = _as_int(max_new_tokens, "max_new_tokens")
        self.temperature = float(temperature)
        self.seed = None if seed is None or seed == "None" else _as_int(seed, "seed")
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.episode_batch = max(1, _as_int(episode_batch, "episode_batch"))
        self.messages: list[Message] = []
        self.record: EpisodeRecord | None = None
        #: every episode played by this agent, oldest first.
        self.episodes: list[EpisodeRecord] = []
        self._episode_seed: int | None = self.seed

    # -- agent protocol ------------------------------------------------------------------------

    def reset(self, card: TaskCard, seed: int | None = None) -> None:
        self._episode_seed = self.seed if seed is None else int(seed)
        self.messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        self.record = EpisodeRecord(
            env_id=card.env_id, budget=card.budget, seed=self._episode_seed,
            backend=getattr(self.backend, "name", type(self.backend).__name__),
            model=None if self.model is None else str(self.model),
            messages=self.messages,
        )
        self.episodes.append(self.record)

    def act(self, observation: str) -> str:
        if self.record is None:
            raise RuntimeError("call reset(card, seed) before act()")
        if not (self.messages and self.messages[-1]["role"] == "user" and self.messages[-1]["content"] == observation):
            self.messages.append({"role": "user", "content": observation})
        turn = len(self.record.turns)
        seed = None if self._episode_seed is None else self._episode_seed + turn
        reply = self.backend.generate(
            list(self.messages), max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=seed
        )
        reply = reply or ""
        self.messages.append({"role": "assistant", "content": reply})
        turn = TurnRecord.from_reply(observation, reply, getattr(self.backend, "last_usage", None))
        self.record.turns.append(turn)
        return turn.action

    def observe(self, observation: str, reward: float, info: dict[str, Any]) -> None:
        if self.record is None or not self.record.turns:
            raise RuntimeError("observe() follows act()")
        self.record.turns[-1].observe(observation, reward, info)
        self.messages.append({"role": "user", "content": observation})

    # -- rates of the current episode ----------------------------------------------------------

    @property
    def execution_rate(self) -> float:
        return 0.0 if self.record is None else self.record.execution_rate

    @property
    def unique_config_rate(self) -> float:
        return 0.0 if self.record is None else self.record.unique_config_rate


def _reasoning(reply: str) -> str:
    """The reply without its final JSON object: the thinking that led to the call.

    A reply with no readable JSON object is all reasoning.
    """
    decoder = json.JSONDecoder()
    last, pos = None, reply.find("{")
    while pos != -1:
        try:
            _, end = decoder.raw_decode(reply, pos)
        except ValueError:
            pos = reply.find("{", pos + 1)
            continue
        last, pos = pos, reply.find("{", end)
    text = reply if last is None else reply[:last]
    text = text.rstrip()
    for fence in ("```json", "```"):
        text = text.removesuffix(fence).rstrip()
    return text
