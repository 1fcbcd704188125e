"""Actions that crashed the env or the wrappers before, as found by ``benchmarks/fuzz_actions.py``.

Each must now be answered as an invalid (or repaired) proposal, with an
observation inside the env's ``Text`` space.
"""

from __future__ import annotations

import contextlib
import json

import gymnasium
import numpy as np
import pytest
from conftest import require_data
from hypothesis import given
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from gymnasium_llmconfig.config_space import InvalidConfig, Parameter
from gymnasium_llmconfig.env import MAX_ERROR_CHARS
from gymnasium_llmconfig.parsing import parse_action
from wrappers import MostSimilarConfig

MICRO = "LLMConfig-Micro-S-D250K-v0"


def step_once(env: gymnasium.Env, action: str) -> dict:
    env.reset(seed=0)
    observation, reward, _, _, info = env.step(action)
    assert env.observation_space.contains(observation) and isinstance(reward, float)
    return info


@pytest.mark.parametrize("config_id", ["1e999", "-1e999", "9" * 400, "NaN"])
def test_config_id_beyond_float_range_is_invalid(config_id: str) -> None:
    info = step_once(gymnasium.make(MICRO, budget=5, on_invalid="penalize"), f'{{"config_id": {config_id}}}')
    assert not info["valid"] and "config_id must be an integer" in info["error"]


@pytest.mark.parametrize("text", ["1/0", "0/0", "2^99999", "10**400", "-8^0.5"])
def test_number_text_that_overflows_or_is_complex_is_invalid(text: str) -> None:
    with pytest.raises(InvalidConfig, match="lr must be a number"):
        Parameter("lr", (0.001, 0.002)).snap(text)


NUMBER_TEXT = st.text(alphabet=st.sampled_from("0123456789.eE+-*^/_,kKmMbBnaif "), max_size=40)


@given(st.one_of(NUMBER_TEXT, st.integers(), st.floats(), st.text(max_size=40)))
def test_snapping_any_number_or_text_is_a_choice_or_invalid_config(value: object) -> None:
    parameter = Parameter("lr", (0.001, 0.002), rel_tol=0.02)
    with contextlib.suppress(InvalidConfig):
        assert parameter.snap(value) in (0.001, 0.002)


def test_integer_beyond_float_range_is_invalid() -> None:
    with pytest.raises(InvalidConfig, match="too large for a float"):
        Parameter("lr", (0.001, 0.002)).snap(10**400)
    env = MostSimilarConfig(gymnasium.make(MICRO, budget=5, on_invalid="ignore"), metric="numeric")
    info = step_once(env, json.dumps({"lr": 10**400, "batch_size": 16}))
    assert info["valid"] and info["matched_config"]["batch_size"] == 16


def test_arch_repair_ignores_an_integer_beyond_float_range() -> None:
    require_data("hwgpt/perplexity_s.pt")
    env = MostSimilarConfig(gymnasium.make("LLMConfig-Arch-GPTS-v0", budget=5, on_invalid="ignore"))
    config = env.unwrapped.card.space.sample(np.random.default_rng(0))
    info = step_once(env, json.dumps({**config, "embed_dim": 10**400}))
    assert info["matched_config"] is None and not info["valid"]  # no usable width: nothing to repair
    info = step_once(env, json.dumps({**config, "n_layer": 10**400}))  # depth read from the lists instead
    assert info["valid"] and info["matched_config"] == config


def test_a_megabyte_key_gives_feedback_inside_the_text_space() -> None:
    action = json.dumps({"k" * (1 << 20): 1})
    info = step_once(gymnasium.make(MICRO, budget=5, on_invalid="ignore"), action)
    assert not info["valid"] and info["error"].startswith("unknown parameter(s) ['kkk")
    assert len(info["error"]) < MAX_ERROR_CHARS + 50 and info["error"].endswith("more characters)")
    info = step_once(MostSimilarConfig(gymnasium.make(MICRO, budget=5, on_invalid="ignore")), action)
    assert info["valid"] and info["matched_config"] is not None  # repaired; the note quoting it is cut too


def test_tool_call_with_deeply_nested_argument_string_is_explained() -> None:
    action = json.dumps({"name": "exec_config", "arguments": '{"a":' * 10_000 + "1" + "}" * 10_000})
    assert parse_action(action).error == "the exec_config arguments are not valid JSON"


def test_unclosed_braces_before_the_answer_still_find_it() -> None:
    parsed = parse_action("{" * 500 + ' {"lr": 0.001, "batch_size": 16}')
    assert parsed.config == {"lr": 0.001, "batch_size": 16}
