"""The training seam: what ``fit`` is handed, and fitted agents saved without pickles."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from conftest import require_data
from hypothesis import given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents import run_episode
from agents.fidelity_transfer import FidelityTransfer
from agents.persistence import PersistenceError
from gymnasium_llmconfig.problem import TaskInfo
from gymnasium_llmconfig.registry import load_problem
from gymnasium_llmconfig.training_data import TrainingSet

MICRO = ("LLMConfig-Micro-S-D250K-v0", "LLMConfig-Micro-M-D250K-v0")


def test_utility_is_the_metric_signed_so_larger_is_better() -> None:
    loss = TaskInfo("t", "T", "", "loss", "minimize")
    score = TaskInfo("t", "T", "", "score", "maximize")
    assert (loss.utility(2.5), score.utility(2.5)) == (-2.5, 2.5)
    assert (loss.metric(loss.utility(0.75)), score.metric(0.75)) == (0.75, 0.75)


def test_training_set_lists_every_run_of_the_shipped_micro_tables_as_signed_utilities() -> None:
    training = TrainingSet.from_env_ids(MICRO)
    assert training.env_ids == list(MICRO) and len(training) == 2
    assert list(training.by_task()) == ["Micro"]
    env = training.envs[0]
    problem = load_problem(MICRO[0])
    configs, utility = env.runs()
    assert (env.direction, env.role) == ("minimize", problem.fidelity.role)
    assert len(configs) == len(problem.space) == len(utility)
    assert np.array_equal(utility, [-problem.evaluate(c).metric for c in configs])  # a loss: utility = -loss
    assert configs[int(np.argmax(utility))] == problem.best_config
    assert env.normalized_regret(float(utility.max())) == 0.0
    assert env.normalized_regret(float(utility.min())) == 1.0


def test_training_set_is_read_only_and_rejects_a_bare_string() -> None:
    env = TrainingSet.from_env_ids(MICRO[:1]).envs[0]
    with pytest.raises(FrozenInstanceError):
        env.env_id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.metadata["N"] = 1  # type: ignore[index]
    with pytest.raises(TypeError, match="list of env ids"):
        TrainingSet.from_env_ids(MICRO[0])


def test_maximize_task_utilities_keep_the_metric_sign() -> None:
    require_data("admire/admire_ift_runs.csv")
    env = TrainingSet.from_env_ids(["LLMConfig-Mixture-Qwen0.5B-v0"]).envs[0]
    _, utility = env.runs()
    problem = load_problem("LLMConfig-Mixture-Qwen0.5B-v0")
    assert env.direction == "maximize"
    assert utility.max() == problem.best_value and utility.min() == problem.worst_value


def test_infinite_space_has_no_run_list_but_answers_sampled_configs() -> None:
    require_data("hwgpt/perplexity_s.pt")
    env = TrainingSet.from_env_ids(["LLMConfig-Arch-GPTS-v0"]).envs[0]
    with pytest.raises(ValueError, match=r"env\.utilities"):
        env.runs()
    config = env.space.sample(np.random.default_rng(0))
    assert env.utility(config) == -load_problem("LLMConfig-Arch-GPTS-v0").evaluate(config).metric


def test_fidelity_transfer_save_load_round_trip(tmp_path: Path) -> None:
    agent = FidelityTransfer(max_points=40, arch_samples=50, scale_keys=["N"])
    agent.fit(TrainingSet.from_env_ids(MICRO))
    saved = agent.save(tmp_path / "ft")
    document = json.loads((saved / "agent.json").read_text())
    assert document["init"] == {"max_points": 40, "seed": 0, "arch_samples": 50, "n_incumbents": 3,
                                "scale_keys": ["N"]}
    loaded = FidelityTransfer.load(saved)
    env_id = "LLMConfig-Micro-L-D750K-v0"
    play = [[i["config"] for i in run_episode(gymnasium.make(env_id, budget=4), a, seed=2)] for a in (agent, loaded)]
    assert play[0] == play[1]


def test_load_refuses_another_class_and_objects_it_does_not_know(tmp_path: Path) -> None:
    agent = FidelityTransfer(max_points=20)
    agent.fit(TrainingSet.from_env_ids(MICRO[:1]))
    saved = agent.save(tmp_path / "ft")
    with pytest.raises(PersistenceError, match=r"agent\.json is missing"):
        FidelityTransfer.load(tmp_path)
    document = json.loads((saved / "agent.json").read_text())
    (saved / "agent.json").write_text(json.dumps({**document, "class": "os:system"}))
    with pytest.raises(PersistenceError, match=r"not a agents\.fidelity_transfer:FidelityTransfer"):
        FidelityTransfer.load(saved)
    document["state"] = {"object": "subprocess:Popen", "attributes": {"dict": {}}}
    (saved / "agent.json").write_text(json.dumps(document))
    with pytest.raises(PersistenceError, match="'subprocess:Popen', which this agent does not load"):
        FidelityTransfer.load(saved)


_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False),
                    st.text(max_size=5), st.lists(st.floats(allow_nan=False), max_size=4).map(np.array))
_states = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12)


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(_states)
def test_any_fitted_state_round_trips_exactly_through_json_and_safetensors(state: object) -> None:
    agent = FidelityTransfer()
    agent.models = {"t": state}  # type: ignore[dict-item]
    assert _same(FidelityTransfer.from_files(agent.to_files()).models["t"], state)
