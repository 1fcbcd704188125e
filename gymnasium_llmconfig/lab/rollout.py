"""The multi-episode rollout engine: B chat episodes in lockstep, one batched generation per turn.

Shared by GRPO, trajectory simulation, leaderboard evaluation of ``llm-prompt`` and the
OpenRLHF adapter (paper 000, §4.2), so all of them see the same episodes. Each episode
is a real env from ``gymnasium.make`` (optionally under ``MostSimilarConfig``: on for
training rollouts, where it densifies the reward, off by default for evaluation). Every
turn, the episodes still running are generated together; a reply is turned into an
action exactly as ``llm-prompt`` does (:func:`agents.llm.agent.reply_action`).

With a local backend (one that has ``generate_ids``), an episode's token ids are built
incrementally by :mod:`agents.llm.chat_format` (they equal the chat template's rendering
of the transcript up to the last reply), and ``action_mask`` is 1 exactly on the tokens
the model generated. A chat-only backend (an OpenAI-compatible endpoint, a scripted
teacher) yields transcripts without ids.

A prompt that no longer fits in the model's context gets an empty reply, which the env
scores as invalid output (return -1 under the default ``on_invalid="terminate"``); such
episodes are flagged ``context_overflow`` and the backend warns once. The run never stops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from agents.llm.agent import EpisodeRecord, TurnRecord
from agents.llm.backend import ChatBackend, Message, generate_batch
from agents.llm.chat_format import first_messages, first_prompt_ids
from gymnasium_llmconfig import metrics
from gymnasium_llmconfig.curation import Pair
from wrappers import MostSimilarConfig


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play: env, budget, the env's reset seed, and the sampling seed of its first turn.

    ``demos`` are the env ids shown as demonstrations (``None``: the env's default, ``"auto"``);
    ``sample_seed`` (default: ``seed``) lets G rollouts of the same sample draw different replies.
    Turn ``k`` samples with ``sample_seed + k``, as ``llm-prompt`` does.
    """

    env_id: str
    budget: int
    seed: int
    demos: tuple[str, ...] | None = None
    sample_seed: int | None = None

    @classmethod
    def from_pair(cls, pair: Pair, budget: int, seed: int, sample_seed: int | None = None) -> EpisodeSpec:
        """A curated sample (target env with its lower-fidelity demos) at a budget."""
        return cls(pair.target, int(budget), int(seed), tuple(pair.demos), sample_seed)


@dataclass
class Rollout:
    """A played episode: transcript, token ids and mask, per-step rewards and infos, and its rates.

    ``sum(rewards)`` is the env's episode return (paper's eq. 3, or -1 on invalid/repeated output).
    ``token_ids``, ``action_mask`` and ``reply_tokens`` (generated tokens per turn) are empty
    for chat-only backends.
    """

    spec: EpisodeSpec
    matching: bool
    record: EpisodeRecord
    problem: Any = None
    infos: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    action_mask: list[int] = field(default_factory=list)
    reply_tokens: list[int] = field(default_factory=list)
    context_overflow: bool = False
    seconds: float = 0.0
    #: the model's keys/values of ``token_ids`` so far (a local backend's prefix cache), dropped at the end.
    cache: Any = field(default=None, repr=False)

    @property
    def messages(self) -> list[Message]:
        return self.record.messages

    @property
    def episode_return(self) -> float:
        return math.fsum(self.rewards)

    @property
    def execution_rate(self) -> float:
        return metrics.execution_rate(self.infos, self.spec.budget)

    @property
    def unique_config_rate(self) -> float:
        return metrics.unique_config_rate(self.infos, self.spec.budget)

    @property
    def normalized_regret(self) -> float:
        """Simple regret of the best config found, 1.0 when none was valid."""
        last = self.infos[-1].get("normalized_regret") if self.infos else None
        return 1.0 if last is None else float(last)


class RolloutEngine:
    """Plays episodes in lockstep with one backend.

    Args:
        backend: a chat backend; with ``generate_ids`` (the local transformers backend) the
            rollouts carry token ids and the action mask.
        max_new_tokens: reply length limit per turn.
        temperature: sampling temperature (0 = greedy).
        system_prompt: the system message (default: ``llm-prompt``'s).
        most_similar: wrap every env in ``MostSimilarConfig`` (training: on; evaluation: off).
        env_kwargs: passed to ``gymnasium.make`` (``on_invalid``, ``top_k``, ...).
        model_name: the model named in the episode records (default: the backend's).
        reuse_cache: keep each episode's keys/values between turns (local backends), so a turn
            prefills only the env's feedback. Off by default: on this project's CPU it was slower
            (62 s against 41 s for 16 two-turn episodes, ``benchmarks/rollout_speed.py``) than
            re-prefilling, because the backend already prefills the prompt beginning that a batch's
            episodes share once per turn, and copying and re-padding per-episode caches costs more.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.7,
        system_prompt: str | None = None,
        most_similar: bool = False,
        env_kwargs: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        reuse_cache: bool = False,
    ):
        self.backend = backend
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.system_prompt = system_prompt
        self.most_similar = bool(most_similar)
        self.env_kwargs = dict(env_kwargs or {})
        self.model_name = model_name if model_name is not None else _model_name(backend)
        self.tokens = callable(getattr(backend, "generate_ids", None))
        self.reuse_cache = bool(reuse_cache)

    @classmethod
    def for_agent(cls, agent: Any, env_kwargs: Mapping[str, Any] | None = None) -> RolloutEngine:
        """The engine that plays as ``llm-prompt`` would: its backend, reply length, temperature, system prompt."""
        return cls(agent.backend, max_new_tokens=agent.max_new_tokens, temperature=agent.temperature,
                   system_prompt=agent.system_prompt, env_kwargs=env_kwargs,
                   model_name=None if agent.model is None else str(agent.model))

    def make_env(self, spec: EpisodeSpec) -> gymnasium.Env:
        kwargs = dict(self.env_kwargs)
        if spec.demos is not None:
            kwargs["demos"] = list(spec.demos)
        env = gymnasium.make(spec.env_id, budget=spec.budget, **kwargs)
        return MostSimilarConfig(env) if self.most_similar else env

    def play(self, specs: Sequence[EpisodeSpec]) -> list[Rollout]:
        """Play every spec to its end; rollouts come back in the order of ``specs``."""
        envs = [self.make_env(spec) for spec in specs]
        rollouts = [self._start(spec, env) for spec, env in zip(specs, envs, strict=True)]
        try:
            running = list(range(len(specs)))
            turn = 0
            while running:
                replies, ids = self._generate([rollouts[i] for i in running], turn)
                still = []
                for i, reply, row in zip(running, replies, ids, strict=True):
                    if self._step(rollouts[i], envs[i], reply, row):
                        still.append(i)
                running, turn = still, turn + 1
        finally:
            for env in envs:
                env.close()
        return rollouts

    # -- internals -------------------------------------------------------------------------

    def _start(self, spec: EpisodeSpec, env: gymnasium.Env) -> Rollout:
        observation, _ = env.reset(seed=spec.seed)
        messages = first_messages(observation, self.system_prompt)
        record = EpisodeRecord(
            env_id=spec.env_id, budget=spec.budget, seed=spec.seed,
            backend=getattr(self.backend, "name", type(self.backend).__name__),
            model=self.model_name, messages=messages,
        )
        rollout = Rollout(spec=spec, matching=self.most_similar, record=record, problem=env.unwrapped.problem)
        if self.tokens:
            rollout.token_ids = first_prompt_ids(self.backend.tokenizer, observation, self.system_prompt)
            rollout.action_mask = [0] * len(rollout.token_ids)
        return rollout

    def _generate(self, batch: list[Rollout], turn: int) -> tuple[list[str], list[list[int] | None]]:
        seeds = [None if self.temperature <= 0 else (r.spec.seed if r.spec.sample_seed is None
                                                     else r.spec.sample_seed) + turn for r in batch]
        start = time.perf_counter()
        if self.tokens:
            caches = [r.cache for r in batch] if self.reuse_cache else None
            rows = self.backend.generate_ids([r.token_ids for r in batch], self.max_new_tokens,
                                             self.temperature, seeds, caches)
            for rollout, cache in zip(batch, caches or [None] * len(batch), strict=True):
                rollout.cache = cache
            replies = [self.backend.turns.reply_text(row) for row in rows]
        else:
            replies = generate_batch(self.backend, [r.messages for r in batch], self.max_new_tokens,
                                     self.temperature, seeds)
            rows = [None] * len(batch)
        seconds = (time.perf_counter() - start) / max(1, len(batch))
        for rollout in batch:
            rollout.seconds += seconds
        return [reply or "" for reply in replies], rows

    def _step(self, rollout: Rollout, env: gymnasium.Env, reply: str, row: list[int] | None) -> bool:
        """Send one reply to the env and extend the transcript; True while the episode goes on."""
        observation = rollout.messages[-1]["content"]
        usage = None if row is None else {"completion_tokens": len(row)}
        turn = TurnRecord.from_reply(observation, reply, usage)
        feedback, reward, terminated, truncated, info = env.step(turn.action)
        turn.observe(feedback, reward, info)
        rollout.record.turns.append(turn)
        rollout.infos.append(info)
        rollout.rewards.append(float(reward))
        rollout.messages.extend([{"role": "assistant", "content": reply}, {"role": "user", "content": feedback}])
        going = not (terminated or truncated)
        if row is not None:
            rollout.context_overflow = rollout.context_overflow or not row  # a live row always has a token
            kept, following = self.backend.turns.continuation_ids(row, feedback)
            rollout.reply_tokens.append(len(kept))
            rollout.token_ids += kept
            rollout.action_mask += [1] * len(kept)
            if going:
                rollout.token_ids += following
                rollout.action_mask += [0] * len(following)
            else:
                rollout.cache = None
        return going


def _model_name(backend: Any) -> str | None:
    name = getattr(backend, "model_id", getattr(backend, "model", None))
    return None if name is None else str(name)
