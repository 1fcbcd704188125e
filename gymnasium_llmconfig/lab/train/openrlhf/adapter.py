"""The OpenRLHF multi-turn agent: one LLMConfig episode per rollout (paper 000, §4.2.3).

OpenRLHF 0.11's ``MultiTurnAgentExecutor.execute`` drives the loop: it makes one
:class:`AgentInstance` per sample, tokenizes what ``reset`` returns, lets vLLM continue it,
passes the reply's text to ``step`` and appends the reply's ids and the tokenized
``environment_feedback``; the reply's ids are the trained (action) ranges.

- ``reset`` rebuilds the env from the sample's label (:class:`EpisodeLabel`: ``gymnasium.make``
  under ``MostSimilarConfig``), checks that it opens with the prompt ``prompts.jsonl`` holds, and
  returns the first prompt as :mod:`agents.llm.chat_format` renders it (system, task, assistant
  header), the same text ``llm-prompt`` and the single-machine trainer start from.
- ``step`` sends the reply to the env as ``llm-prompt`` and the rollout engine do
  (:func:`agents.llm.agent.reply_action`: a clean ``exec_config`` call when the env's parser finds
  a config in it, else the raw text) and returns the env's step reward as the increment:
  the env's rewards sum to the paper's equation 3 (``-1`` in total on an invalid or repeated
  proposal), so the executor's summed reward is the episode return, and a rollout that ``max_len``
  cuts short keeps what it earned. The feedback is what ``chat_format`` appends after a reply
  (end-of-turn unless the model emitted it, the env's observation as the next user turn, the next
  assistant header), as text that tokenizes to exactly those ids.

The adapter sees the env only through ``reset``/``step``, never the answer table. It needs the
tokenizer and the reply's ids, which OpenRLHF does not pass to ``step``: :class:`AgentExecutor`
keeps them per episode in a context variable (each ``execute`` runs as its own asyncio task).
"""

from __future__ import annotations

import contextvars
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor

from agents.llm.agent import reply_action
from agents.llm.chat_format import TurnFormat, first_messages, render
from gymnasium_llmconfig import metrics
from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.train.openrlhf.episodes import EpisodeLabel


@dataclass
class _Episode:
    """What one ``execute`` call shares with its agent instance: the turn format and the last reply's ids."""

    turns: TurnFormat
    reply_ids: list[int] = field(default_factory=list)


_EPISODE: contextvars.ContextVar[_Episode] = contextvars.ContextVar("llmconfig_openrlhf_episode")
_FORMATS: weakref.WeakKeyDictionary[Any, TurnFormat] = weakref.WeakKeyDictionary()


def _turn_format(tokenizer: Any) -> TurnFormat:
    """One :class:`TurnFormat` per tokenizer object (an engine keeps one tokenizer for its lifetime)."""
    if tokenizer not in _FORMATS:
        _FORMATS[tokenizer] = TurnFormat(tokenizer, getattr(tokenizer, "name_or_path", "model"))
    return _FORMATS[tokenizer]


class _RecordingEngine:
    """The vLLM engine, noting each reply's token ids for the episode's ``step``."""

    def __init__(self, engine: Any, episode: _Episode):
        self._engine, self._episode = engine, episode

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        output = await self._engine.generate(*args, **kwargs)
        self._episode.reply_ids = list(output.outputs[0].token_ids)
        return output


class AgentInstance(AgentInstanceBase):
    """One episode of an LLMConfig env, driven by OpenRLHF's multi-turn executor."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.env: Any = None
        self.label: EpisodeLabel | None = None
        self.steps: list[dict[str, Any]] = []

    async def reset(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.label = EpisodeLabel.parse(states["label"])
        self.env = self.label.make_env()
        observation, _ = self.env.reset(seed=self.label.seed)
        expected = states.get("observation")
        if expected and expected != observation:
            raise InvalidArgument(
                f"the env {self.label.env_id} no longer opens with the prompt in prompts.jsonl (its data or "
                "version differs from where the prompts were written). Fix: write the prompts again with "
                "`llmconfig train grpo --backend openrlhf ... --dry-run` against the same data")
        turns = _EPISODE.get().turns
        return {"observation": render(turns.tokenizer, first_messages(observation), add_generation_prompt=True)}

    async def step(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        episode = _EPISODE.get()
        action, _ = reply_action(states["action_text"])
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.steps.append(info)
        done = bool(terminated or truncated)
        feedback = ""
        if not done:
            _, following = episode.turns.continuation_ids(episode.reply_ids, observation)
            feedback = episode.turns.tokenizer.decode(following, skip_special_tokens=False)
        budget = self.label.budget if self.label else len(self.steps)
        return {
            "rewards": torch.tensor(float(reward)),
            "environment_feedback": feedback,
            "done": done,
            "extra_logs": {
                "normalized_regret": float(info["normalized_regret"]),
                "execution_rate": metrics.execution_rate(self.steps, budget),
                "unique_config_rate": metrics.unique_config_rate(self.steps, budget),
            },
        }


class AgentExecutor(MultiTurnAgentExecutor):
    """OpenRLHF's multi-turn executor over :class:`AgentInstance` (the class ``agent_func.py`` exposes)."""

    def __init__(self) -> None:
        super().__init__(AgentInstance)

    async def execute(self, prompt: Any, label: Any, sampling_params: Any, max_length: int, hf_tokenizer: Any,
                      llm_engine: Any, images: Any = None) -> dict[str, Any]:
        episode = _Episode(_turn_format(hf_tokenizer))
        token = _EPISODE.set(episode)
        try:
            return await super().execute(prompt, label, sampling_params, max_length, hf_tokenizer,
                                         _RecordingEngine(llm_engine, episode), images)
        finally:
            _EPISODE.reset(token)
