"""The action parser: every accepted form, the last-one-wins rule, and never raising."""

from __future__ import annotations

import json

import gymnasium
from hypothesis import given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401
from gymnasium_llmconfig.parsing import parse_action


def test_plain_json() -> None:
    assert parse_action('{"lr": 0.001, "bs": 64}').config == {"lr": 0.001, "bs": 64}


def test_fenced_block_after_reasoning() -> None:
    text = 'Loss fell with smaller lr.\n```json\n{"lr": 0.002, "bs": 128}\n```'
    assert parse_action(text).config == {"lr": 0.002, "bs": 128}


def test_tool_call_with_string_arguments() -> None:
    call = {"name": "exec_config", "arguments": json.dumps({"lr": 0.003, "bs": 32})}
    parsed = parse_action(f"<tool_call>{json.dumps(call)}</tool_call>")
    assert parsed.config == {"lr": 0.003, "bs": 32} and parsed.form == "tool_call"


def test_openai_function_shape() -> None:
    call = {"type": "function", "function": {"name": "exec_config", "arguments": '{"lr": 1e-3, "bs": 16}'}}
    assert parse_action(json.dumps(call)).config == {"lr": 1e-3, "bs": 16}


def test_last_one_wins() -> None:
    text = 'First {"lr": 0.1, "bs": 1}, then {"name": "exec_config", "arguments": {"lr": 0.2, "bs": 2}}'
    assert parse_action(text).config == {"lr": 0.2, "bs": 2}


def test_python_dict_fallback() -> None:
    assert parse_action("I pick {'lr': 0.001, 'bias': True}").config == {"lr": 0.001, "bias": True}


def test_wrong_tool_and_garbage_explained() -> None:
    assert "unknown tool" in parse_action('{"name": "rm_rf", "arguments": {}}').error
    assert "no JSON object" in parse_action("just words").error
    assert parse_action(None).config is None  # type: ignore[arg-type]
    assert parse_action("{" * 10_000).config is None
    assert parse_action('{"a":' * 5000).config is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    result = parse_action(text)
    assert (result.config is None) != (result.error is None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]":,0123456789.eE-truefalsn lrbs\'\\')), max_size=200))
def test_json_like_text_never_raises_through_env(text: str) -> None:
    env = gymnasium.make("LLMConfig-Pretrain-N215M-D4B-v0", budget=2, on_invalid="ignore")
    env.reset(seed=0)
    obs, _, _, _, info = env.step(text)
    assert env.observation_space.contains(obs)
    assert info["valid"] == (info["error"] is None)
