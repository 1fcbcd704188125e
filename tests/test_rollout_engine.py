"""The rollout engine on real Micro envs: rewards are the env's return, the mask is exactly the model's tokens."""

from __future__ import annotations

import json
import math

import gymnasium
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_lm import tiny_lm

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.llm.chat_format import prompt_ids
from agents.llm.hf import TransformersBackend
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.rollout import EpisodeSpec, RolloutEngine

ENV = "LLMConfig-Micro-M-D750K-v0"


class Scripted:
    """A chat backend that answers every chat with the next of its replies (per chat position)."""

    name = "scripted"

    def __init__(self, replies: list[str]):
        self.replies, self.calls = replies, 0

    def generate(self, messages, max_new_tokens, temperature, seed) -> str:
        turn = sum(m["role"] == "assistant" for m in messages)
        self.calls += 1
        return self.replies[turn]


def _configs(n: int) -> list[dict]:
    env = gymnasium.make(ENV, budget=n)
    env.reset(seed=0)
    return env.unwrapped.card.space.sample_batch(np.random.default_rng(1), n).configs()


def _call(config: dict) -> str:
    return "Trying this. " + json.dumps({"name": "exec_config", "arguments": config})


def _env_return(actions: list[str], budget: int) -> float:
    env = gymnasium.make(ENV, budget=budget)
    env.reset(seed=3)
    total = 0.0
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            break
    return total


def test_summed_reward_is_the_env_return_for_valid_repeat_and_invalid_replies() -> None:
    a, b, c = (_call(cfg) for cfg in _configs(3))
    cases = {"valid": [a, b, c], "repeat": [a, a, c], "invalid": [a, "I would rather not say.", c]}
    for name, replies in cases.items():
        (rollout,) = RolloutEngine(Scripted(replies), temperature=0.0).play([EpisodeSpec(ENV, 3, seed=3)])
        assert math.isclose(rollout.episode_return, _env_return(replies, 3), abs_tol=1e-12), name
        assert not rollout.token_ids and rollout.record.turns[0].action.startswith('{"name": "exec_config"')
    valid, repeat, invalid = (RolloutEngine(Scripted(r)).play([EpisodeSpec(ENV, 3, 3)])[0] for r in cases.values())
    assert -1.0 <= valid.episode_return <= 0.0 and valid.execution_rate == valid.unique_config_rate == 1.0
    assert repeat.episode_return == pytest.approx(-1.0) and len(repeat.rewards) == 2
    assert repeat.execution_rate == pytest.approx(2 / 3) and repeat.unique_config_rate == pytest.approx(1 / 3)
    assert invalid.episode_return == pytest.approx(-1.0) and invalid.execution_rate == pytest.approx(1 / 3)
    assert invalid.messages[-2] == {"role": "assistant", "content": "I would rather not say."}


@pytest.fixture(scope="module")
def tiny_backend() -> TransformersBackend:
    model, tokenizer = tiny_lm()
    backend = TransformersBackend.from_loaded(model, tokenizer, name="tiny")
    generated: list[list[int]] = []
    plain = backend.generate_ids

    def recording(prompts, max_new_tokens, temperature, seeds, caches=None):
        rows = plain(prompts, max_new_tokens, temperature, seeds, caches)
        generated.extend(rows)
        return rows

    backend.generate_ids, backend.generated = recording, generated
    return backend


def test_the_action_mask_is_one_exactly_on_generated_tokens(tiny_backend: TransformersBackend) -> None:
    pairs = resolve_suite("smoke").train_pairs
    specs = [EpisodeSpec.from_pair(pairs[0], 2, seed=0, sample_seed=s) for s in (0, 10, 20)]
    tiny_backend.generated.clear()
    engine = RolloutEngine(tiny_backend, max_new_tokens=8, temperature=1.0, most_similar=True,
                           env_kwargs={"on_invalid": "penalize"})  # garbage replies, yet every turn is played
    rollouts = engine.play(specs)
    every_run = []
    for rollout in rollouts:
        ids, mask = rollout.token_ids, rollout.action_mask
        assert len(ids) == len(mask) and rollout.matching
        runs, current = [], []
        for tok, m in zip(ids, mask, strict=True):
            if m:
                current.append(tok)
            elif current:
                runs.append(current)
                current = []
        runs += [current] if current else []
        every_run += runs
        assert [len(r) for r in runs] == rollout.reply_tokens and sum(mask) == sum(rollout.reply_tokens)
        # the prompt part is the template's rendering of the first chat
        first = prompt_ids(tiny_backend.tokenizer, rollout.messages[:2])
        assert ids[:len(first)] == first and not any(mask[:len(first)])
        assert rollout.spec.demos == pairs[0].demos and len(rollout.rewards) == len(rollout.record.turns)
        assert math.isclose(rollout.episode_return, sum(rollout.rewards))
    assert sorted(every_run) == sorted(tiny_backend.generated)  # each masked run is one generated reply, whole
    assert all(len(r.reply_tokens) == 2 and r.cache is None for r in rollouts)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_reusing_the_kv_cache_across_turns_generates_the_same_episodes(temperature: float) -> None:
    model, tokenizer = tiny_lm(seed=1)
    backend = TransformersBackend.from_loaded(model, tokenizer, name="tiny")
    specs = [EpisodeSpec(ENV, 3, seed=s, sample_seed=10 * s) for s in range(3)]
    played = {reuse: RolloutEngine(backend, max_new_tokens=10, temperature=temperature, reuse_cache=reuse,
                                   env_kwargs={"on_invalid": "penalize"}).play(specs) for reuse in (True, False)}
    for cached, plain in zip(played[True], played[False], strict=True):
        assert len(cached.reply_tokens) == 3
        assert cached.token_ids == plain.token_ids and cached.action_mask == plain.action_mask


def test_a_prompt_beyond_the_context_ends_the_episode_as_invalid_output() -> None:
    model, tokenizer = tiny_lm()
    backend = TransformersBackend.from_loaded(model, tokenizer, name="tiny", max_context_tokens=64)
    with pytest.warns(UserWarning, match="do not fit"):
        (rollout,) = RolloutEngine(backend, max_new_tokens=8).play([EpisodeSpec(ENV, 2, seed=0)])
    assert rollout.context_overflow and rollout.episode_return == pytest.approx(-1.0)
    assert rollout.reply_tokens == [0] and rollout.record.turns[0].reply == ""
