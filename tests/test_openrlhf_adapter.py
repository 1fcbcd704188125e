"""The OpenRLHF adapter under OpenRLHF's real multi-turn executor, with a vLLM-shaped fake engine.

``agent_func.py`` is loaded by file path with OpenRLHF's own loader (``_load_agent_executor``, read
from the installed ``vllm_engine.py``: that module imports vLLM, so its function is compiled alone).
The fake engine answers ``generate(prompt_token_ids, sampling_params, multi_modal_data=...)`` the
way vLLM does: reply ids ending in the stop token, reply text without special tokens, and
``finish_reason="length"`` when ``max_tokens`` cuts it.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")
agent_module = pytest.importorskip(
    "openrlhf.utils.agent",
    reason="OpenRLHF is not installed (pip install --no-deps openrlhf==0.11.2 pylatexenc aiohttp, as in .ci/run)",
)

from tiny_lm import tiny_tokenizer

from agents.llm.agent import reply_action
from agents.llm.chat_format import TurnFormat, first_prompt_ids
from gymnasium_llmconfig.lab.train.openrlhf import adapter
from gymnasium_llmconfig.lab.train.openrlhf.prompts import first_observation, training_labels

AGENT_FUNC = Path(adapter.__file__).with_name("agent_func.py")


def load_like_openrlhf(path: Path):
    """OpenRLHF's ``_load_agent_executor``, compiled from the installed source and called on ``path``."""
    source = Path(importlib.util.find_spec("openrlhf.trainer.ray").submodule_search_locations[0], "vllm_engine.py")
    tree = ast.parse(source.read_text())
    loader = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_load_agent_executor")
    namespace = {"AgentExecutorBase": agent_module.AgentExecutorBase}
    exec(compile(ast.Module([loader], []), str(source), "exec"), namespace)
    return namespace["_load_agent_executor"](str(path))


class FakeVLLM:
    """Replies with scripted texts as vLLM would: ids + the end-of-turn token, text without it."""

    def __init__(self, tokenizer, replies: list[str]):
        self.tokenizer, self.replies, self.prompts = tokenizer, list(replies), []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.prompts.append(list(prompt_token_ids))
        text = self.replies[len(self.prompts) - 1]
        ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.tokenizer.eos_token_id]
        finish = "stop"
        if len(ids) > sampling_params.max_tokens:
            ids, finish = ids[: sampling_params.max_tokens], "length"
        out = SimpleNamespace(token_ids=ids, text=self.tokenizer.decode(ids, skip_special_tokens=True),
                              finish_reason=finish, logprobs=None)
        return SimpleNamespace(outputs=[out])


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def sample():
    """A real smoke-suite training sample at budget 3 (a medium Micro env, the low ones as demos)."""
    label = training_labels("smoke", budgets=[3], seeds=[0])[0]
    return label, first_observation(label)


def calls(label) -> list[str]:
    env = label.make_env()
    configs = env.unwrapped.card.space.enumerate()[:3]
    return [f'Trying this one. {{"name": "exec_config", "arguments": {json.dumps(c)}}}' for c in configs]


def reference(label, replies: list[str]) -> tuple[list[float], list[str]]:
    """The env's own rewards and observations for these replies, played directly."""
    env = label.make_env()
    env.reset(seed=label.seed)
    rewards, observations = [], []
    for reply in replies:
        observation, reward, terminated, truncated, _ = env.step(reply_action(reply)[0])
        rewards.append(reward)
        observations.append(observation)
        if terminated or truncated:
            break
    return rewards, observations


def run(tokenizer, sample, replies: list[str], max_length: int = 100_000):
    label, prompt = sample
    executor = load_like_openrlhf(AGENT_FUNC)
    engine = FakeVLLM(tokenizer, replies)
    params = SimpleNamespace(max_tokens=None, logprobs=None)
    result = asyncio.run(executor.execute(prompt, label.to_json(), params, max_length, tokenizer, engine))
    return result, engine


def test_agent_func_loads_as_openrlhf_loads_it(tmp_path):
    executor = load_like_openrlhf(AGENT_FUNC)
    assert isinstance(executor, agent_module.MultiTurnAgentExecutor)
    assert issubclass(executor.agent_instance_cls, agent_module.AgentInstanceBase)


def test_valid_episode_sums_to_the_env_return_with_exact_action_ranges(tokenizer, sample):
    label, prompt = sample
    replies = calls(label)
    result, engine = run(tokenizer, sample, replies)
    rewards, observations = reference(label, replies)
    assert len(engine.prompts) == label.budget == len(result["action_ranges"]) == 3
    assert result["reward"] == pytest.approx(sum(rewards)) and -1 < result["reward"] <= 0
    # the whole sequence is chat_format's incremental rendering; the action ranges are exactly the replies
    turns = TurnFormat(tokenizer)
    expected = first_prompt_ids(tokenizer, prompt)
    ranges = []
    for k, reply in enumerate(replies):
        generated = [*tokenizer(reply, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        ranges.append((len(expected), len(expected) + len(generated)))
        kept, following = turns.continuation_ids(generated, observations[k])
        expected += kept + (following if k < len(replies) - 1 else [])
        assert engine.prompts[k] == expected[: ranges[-1][0]]
    assert result["observation_tokens"] == expected
    assert result["action_ranges"] == ranges


@pytest.mark.parametrize("second", ["repeat", "malformed"])
def test_repeat_or_malformed_reply_ends_the_episode_at_minus_one(tokenizer, sample, second):
    label, _ = sample
    first = calls(label)[0]
    replies = [first, first if second == "repeat" else "I would rather not pick a configuration.", *calls(label)]
    result, engine = run(tokenizer, sample, replies)
    assert len(engine.prompts) == 2 and len(result["action_ranges"]) == 2
    assert result["reward"] == pytest.approx(-1.0)
    assert result["reward"] == pytest.approx(sum(reference(label, replies)[0]))


def test_malformed_first_reply_ends_after_one_interaction(tokenizer, sample):
    result, engine = run(tokenizer, sample, ["{lr: fast, please"])
    assert len(engine.prompts) == 1 and result["reward"] == pytest.approx(-1.0)


def test_max_len_cut_keeps_the_partial_reward(tokenizer, sample):
    label, _ = sample
    replies = calls(label)
    full, _ = run(tokenizer, sample, replies)
    second_end = full["action_ranges"][1][1]
    # room for two replies and the feedback after the second, none for a third
    feedback = full["action_ranges"][2][0] - second_end
    cut, engine = run(tokenizer, sample, replies, max_length=second_end + feedback)
    rewards, _ = reference(label, replies[:2])
    assert len(engine.prompts) == 2 and len(cut["action_ranges"]) == 2
    assert cut["reward"] == pytest.approx(sum(rewards))
    assert cut["reward"] != pytest.approx(full["reward"]) and cut["reward"] > -1
