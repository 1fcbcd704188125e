"""The wrappers: most-similar matching, budget truncation, transcripts, recording, and their stacks."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401
from gymnasium_llmconfig.matching import LongestSubstringIndex, SpaceMatcher
from gymnasium_llmconfig.metrics import outcome_reward
from wrappers import (
    BudgetTruncation,
    DiscreteConfigActions,
    MostSimilarConfig,
    RecordEpisodes,
    TranscriptObservation,
    read_episodes,
)

PRETRAIN = "LLMConfig-Pretrain-N429M-D50B-v0"
MIXTURE = "LLMConfig-Mixture-Qwen3B-v0"
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _lcs_dp(a: str, b: str) -> int:
    """Longest common substring by the textbook DP (independent of difflib)."""
    best, prev = 0, [0] * (len(b) + 1)
    for ca in a:
        row = [0] * (len(b) + 1)
        for j, cb in enumerate(b, start=1):
            if ca == cb:
                row[j] = prev[j - 1] + 1
                best = max(best, row[j])
        prev = row
    return best


def _space(env_id: str):
    return gymnasium.make(env_id).unwrapped.problem.space


# -- MostSimilarConfig ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text("ab{}:, 01", min_size=0, max_size=40), min_size=1, max_size=12),
       query=st.text("ab{}:, 01", max_size=40))
def test_index_finds_the_exact_longest_common_substring(texts: list[str], query: str) -> None:
    sizes = [_lcs_dp(query, t) for t in texts]
    index = LongestSubstringIndex(texts)
    assert index.best(query) == sizes.index(max(sizes))  # the longest, first on ties
    assert all(b >= s for b, s in zip(index.upper_bounds(query), sizes, strict=True))


@pytest.mark.parametrize("env_id, broken", [
    (PRETRAIN, {"lr": 0.0021, "bs": 130}),
    (PRETRAIN, {"LR": "2^-9", "batch": 128}),
    (MIXTURE, {"source_01": 0.0152, "source_02": 0.5, "source_19": 0.3}),
])
def test_lcs_match_is_the_paper_rule(env_id: str, broken: dict) -> None:
    env = MostSimilarConfig(gymnasium.make(env_id, budget=2))
    space = env.unwrapped.problem.space
    env.reset(seed=0)
    action = f"I think this is good: {json.dumps(broken)}"
    obs, _, terminated, _, info = env.step(action)
    texts = [space.canonical_text(c) for c in space.enumerate()]
    query = SpaceMatcher(space.parameters, texts, space.encode_all()).proposal_text(broken)
    exhaustive = LongestSubstringIndex(texts)  # every candidate checked, no pruning
    sizes = [_lcs_dp(query, t) if env_id == PRETRAIN else exhaustive.longest(query, i) for i, t in enumerate(texts)]
    assert info["matched_config"] == space.enumerate()[sizes.index(max(sizes))]
    assert info["config"] == info["matched_config"] and info["valid"] and not terminated
    assert info["original_action"] == action and "most similar valid configuration" in obs


def test_numeric_match_is_the_nearest_encoding() -> None:
    env = MostSimilarConfig(gymnasium.make(PRETRAIN, budget=3), metric="numeric")
    space = env.unwrapped.problem.space
    env.reset(seed=0)
    _, _, _, _, info = env.step('{"lr": 0.0019, "bs": 100}')
    assert info["matched_config"] == {"lr": 2**-9, "bs": 128}  # each value snapped to its nearest choice
    _, _, _, _, info = env.step('{"lr": 0.02, "bs": 3000}')  # beyond the largest run: nearest in encoding
    lr, bs = space.parameters
    corner = np.array([lr.unit_position(lr.choices[-1]), bs.unit_position(bs.choices[-1])])
    distances = [float(np.sum((space.encode(c) - corner) ** 2)) for c in space.enumerate()]
    assert info["matched_config"] == space.enumerate()[int(np.argmin(distances))]
    _, _, _, _, info = env.step('{"nothing": "known"}')  # no usable dimension: falls back to lcs
    assert info["valid"] and info["matched_config"] is not None


def test_valid_and_unparseable_proposals_pass_through() -> None:
    env = MostSimilarConfig(gymnasium.make(PRETRAIN, budget=3))
    env.reset(seed=0)
    _, _, _, _, info = env.step('{"lr": 0.00195, "bs": 128}')
    assert info["valid"] and info["matched_config"] is None and info["original_action"] is None
    _, _, terminated, _, info = env.step('{"lr": 0.001953125, "bs": 128}')  # a repeat stays a repeat
    assert terminated and info["repeat"] and info["matched_config"] is None
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("I would pick a small learning rate.")
    assert terminated and not info["valid"] and reward == -1.0 and "no JSON object" in obs


def test_infinite_space_uses_its_repair() -> None:
    env_id = "LLMConfig-Arch-GPTS-v0"
    if env_id not in gymnasium.registry:
        pytest.skip("the Arch task is not registered")
    env = MostSimilarConfig(gymnasium.make(env_id, budget=2))
    env.reset(seed=0)
    space = env.unwrapped.problem.space
    config = space.sample(np.random.default_rng(0))
    broken = {**config, "heads": config["heads"] + [config["heads"][-1]]}  # one entry too many
    _, _, _, _, info = env.step(json.dumps(broken))
    assert info["valid"] and info["matched_config"] == space.nearest(broken)
    with pytest.raises(TypeError, match="sampled configs"):
        DiscreteConfigActions(gymnasium.make(env_id))


@FAST
@given(data=st.data())
def test_any_parseable_proposal_is_matched_to_a_valid_config(data: st.DataObject) -> None:
    env_id = data.draw(st.sampled_from([PRETRAIN, "LLMConfig-PileMix-1M-v0"]))
    metric = data.draw(st.sampled_from(["lcs", "numeric"]))
    space = _space(env_id)
    names = [*space.names, "other", "LR"]
    value = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                      st.text(max_size=8), st.booleans(), st.none(), st.lists(st.integers(), max_size=3))
    proposal = data.draw(st.dictionaries(st.sampled_from(names), value, min_size=1, max_size=6))
    matched = space.nearest(proposal, "substring" if metric == "lcs" else metric)
    assert matched is not None and space.contains(matched)
    env = MostSimilarConfig(gymnasium.make(env_id, budget=1), metric=metric)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(json.dumps(proposal))
    assert info["valid"] and truncated and not terminated


# -- BudgetTruncation -------------------------------------------------------------------------------


def test_make_applies_budget_truncation_with_one_budget() -> None:
    env = gymnasium.make(PRETRAIN, budget=3)
    assert isinstance(env, BudgetTruncation) and type(env.unwrapped).__name__ == "LLMConfigEnv"
    assert env.budget == env.unwrapped.budget == 3
    assert "Budget: 3 trial(s)" in env.reset(seed=0)[0]
    assert isinstance(gymnasium.make(env.spec), BudgetTruncation)  # the spec recreates the stack

    with pytest.raises(RuntimeError, match="between episodes"):
        BudgetTruncation(env, budget=2)  # the episode reset above is running

    env = gymnasium.make(PRETRAIN, budget=3)
    rebudgeted = BudgetTruncation(env, budget=2)  # sets the env's T: prompt, reward and truncation follow
    prompt, _ = rebudgeted.reset(seed=0)
    assert "Budget: 2 trial(s)" in prompt and env.unwrapped.budget == env.budget == 2
    configs = env.unwrapped.problem.space.enumerate()
    _, r1, _, truncated, _ = rebudgeted.step(json.dumps(configs[0]))
    assert not truncated
    _, r2, _, truncated, _ = rebudgeted.step(json.dumps(configs[1]))
    assert truncated
    problem = env.unwrapped.problem
    values = [problem.evaluate(c).metric for c in configs[:2]]
    expected = outcome_reward(values, budget=2, best=problem.best_value, worst=problem.worst_value)
    assert r1 + r2 == pytest.approx(expected)
    with pytest.raises(RuntimeError, match="call reset"):
        rebudgeted.step(json.dumps(configs[2]))
    with pytest.raises(ValueError, match="budget"):
        BudgetTruncation(gymnasium.make(PRETRAIN), budget=0)


@FAST
@given(budget=st.integers(1, 5), on_invalid=st.sampled_from(["terminate", "penalize", "ignore"]),
       kinds=st.lists(st.sampled_from(["new", "repeat", "invalid", "garbage"]), min_size=1, max_size=30),
       seed=st.integers(0, 1000))
def test_never_more_than_budget_proposals(budget: int, on_invalid: str, kinds: list[str], seed: int) -> None:
    env = gymnasium.make(PRETRAIN, budget=budget, on_invalid=on_invalid)
    env.reset(seed=seed)
    configs = env.unwrapped.problem.space.enumerate()
    order = np.random.default_rng(seed).permutation(len(configs))
    actions = {"invalid": '{"lr": 0.5, "bs": 128}', "garbage": "hmm"}
    used, trials, done = [], 0, False
    for kind in kinds:
        if kind == "new" or (kind == "repeat" and not used):
            used.append(json.dumps(configs[order[len(used)]]))
            action = used[-1]
        else:
            action = used[-1] if kind == "repeat" else actions[kind]
        _, _, terminated, truncated, info = env.step(action)
        assert trials <= info["trials"] <= budget
        trials = info["trials"]
        if trials == budget and not terminated:
            assert truncated
        if truncated:
            assert trials == budget or on_invalid == "ignore"
        if terminated or truncated:
            done = True
            with pytest.raises(RuntimeError):
                env.step(actions["garbage"])
            break
    assert done or trials < budget


# -- TranscriptObservation --------------------------------------------------------------------------


def test_transcript_holds_the_whole_conversation() -> None:
    env = TranscriptObservation(gymnasium.make(PRETRAIN, budget=3))
    prompt, _ = env.reset(seed=0)
    first = "Let me think.\n" + '{"lr": 0.00195, "bs": 128}'
    obs1, *_ = env.step(first)
    obs2, *_ = env.step("x" * 10_000 + '{"lr": 0.00276, "bs": 256}')
    assert obs1.startswith(prompt) and first in obs1 and "Trial 1/3" in obs1
    assert obs2.startswith(obs1) and "Trial 2/3" in obs2 and "characters omitted" in obs2
    assert "--- agent (turn 2) ---" in obs2 and env.observation_space.contains(obs2)
    assert env.reset(seed=1)[0] == prompt


def test_transcript_stays_within_the_observation_space() -> None:
    env = TranscriptObservation(gymnasium.make(PRETRAIN, budget=5, on_invalid="ignore"), max_action_chars=10**6)
    env.reset(seed=0)
    done, obs = False, ""
    while not done:
        obs, _, terminated, truncated, _ = env.step("y" * 120_000)
        done = terminated or truncated
        assert env.observation_space.contains(obs)
    assert "earlier turn(s) omitted" in obs


# -- RecordEpisodes ---------------------------------------------------------------------------------


def test_record_episodes_writes_one_complete_line_per_episode(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "episodes.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"half": ')  # what a crash mid-write would leave
    env = RecordEpisodes(MostSimilarConfig(gymnasium.make(PRETRAIN, budget=2)), path)
    env.reset(seed=7)
    env.step('{"lr": 0.00195, "bs": 128}')
    env.step('{"lr": 0.0021, "bs": 130}')  # matched
    env.reset(seed=8)
    env.step('{"lr": 0.00195, "bs": 128}')
    env.reset(seed=9)  # the unfinished episode is written as incomplete
    env.close()
    with pytest.warns(UserWarning, match="1 broken line"):
        episodes = list(read_episodes(path))
    assert [e["seed"] for e in episodes] == [7, 8] and [e["complete"] for e in episodes] == [True, False]
    first = episodes[0]
    assert first["env_id"] == PRETRAIN and first["budget"] == 2 and first["prompt"].startswith("# Task")
    assert [s["action"] for s in first["steps"]][1] == '{"lr": 0.0021, "bs": 130}'
    assert first["steps"][1]["info"]["matched_config"] is not None and first["steps"][1]["truncated"]
    assert first["return"] == pytest.approx(sum(s["reward"] for s in first["steps"]))
    assert path.read_bytes().endswith(b"\n")


# -- stacks -----------------------------------------------------------------------------------------


def _stack(tmp_path: Path, budget: int, metric: str = "lcs") -> gymnasium.Env:
    inner = MostSimilarConfig(gymnasium.make(PRETRAIN, budget=budget), metric=metric)
    return RecordEpisodes(TranscriptObservation(inner), tmp_path / "stack.jsonl")


@FAST
@given(budget=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_stack_return_equals_equation_3(tmp_path: Path, budget: int, seed: int) -> None:
    env = _stack(tmp_path, budget)
    env.reset(seed=seed)
    problem = env.unwrapped.problem
    configs = problem.space.enumerate()
    picks = np.random.default_rng(seed).choice(len(configs), size=budget, replace=False)
    total, values = 0.0, []
    for i in picks:
        _, reward, terminated, truncated, _ = env.step(json.dumps(configs[i]))
        total += reward
        values.append(problem.evaluate(configs[i]).metric)
    assert truncated and not terminated
    expected = outcome_reward(values, budget=budget, best=problem.best_value, worst=problem.worst_value)
    assert total == pytest.approx(expected, abs=1e-12)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@FAST
@given(actions=st.lists(
    st.one_of(st.text(max_size=200), _JSONISH.map(json.dumps), _JSONISH.map(repr),
              st.builds(lambda a, b: a + "{" + b, st.text(max_size=40), st.text(max_size=40))),
    min_size=1, max_size=8),
    budget=st.integers(1, 3), metric=st.sampled_from(["lcs", "numeric"]),
    on_invalid=st.sampled_from(["terminate", "penalize", "ignore"]))
def test_any_text_never_raises_through_a_stack(
    tmp_path: Path, actions: list[str], budget: int, metric: str, on_invalid: str
) -> None:
    inner = MostSimilarConfig(gymnasium.make(PRETRAIN, budget=budget, on_invalid=on_invalid), metric=metric)
    env = RecordEpisodes(TranscriptObservation(BudgetTruncation(inner)), tmp_path / "fuzz.jsonl")
    env.reset(seed=0)
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        assert env.observation_space.contains(obs) and -1.0 <= reward <= 0.0
        if terminated or truncated:
            env.reset()
    env.close()
