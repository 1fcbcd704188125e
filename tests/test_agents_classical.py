"""The classical zoo through gymnasium.make: valid distinct proposals, real first moves, clear errors."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest
from conftest import require_data
from hypothesis import given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents import run_episode
from agents.features import TransferEncoder
from agents.zoo import UnknownAgentError, agent_names, make_agent
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.registry import load_problem
from gymnasium_llmconfig.training_data import TrainingSet

MICRO = "LLMConfig-Micro-L-D750K-v0"
MIXTURE_FILE = "admire/admire_ift_runs.csv"
STEPLAW_FILE = "steplaw/dense_lr_bs_loss.csv"
CLASSICAL = ["random", "topk", "optuna-tpe", "optuna-random", "optuna-qmc", "gp-bo", "fidelity-transfer"]


def _play(env_id: str, agent_name: str, budget: int = 5, seed: int = 0, agent=None) -> list[dict]:
    env = gymnasium.make(env_id, budget=budget)
    return run_episode(env, agent or make_agent(agent_name), seed=seed)


def _distinct_valid(infos: list[dict], budget: int) -> None:
    assert len(infos) == budget
    assert all(info["valid"] and not info["repeat"] for info in infos), [info["error"] for info in infos]
    assert len({json.dumps(info["config"], sort_keys=True) for info in infos}) == budget


@pytest.mark.parametrize("name", CLASSICAL)
def test_every_classical_agent_plays_valid_distinct_configs_on_the_shipped_micro_env(name: str) -> None:
    infos = _play(MICRO, name)
    _distinct_valid(infos, 5)
    assert 0.0 <= infos[-1]["normalized_regret"] <= 1.0


@pytest.mark.parametrize("name", ["optuna-tpe", "gp-bo", "topk"])
def test_agents_stay_inside_a_mixture_table_of_76_runs(name: str) -> None:
    require_data(MIXTURE_FILE)
    infos = _play("LLMConfig-Mixture-Qwen7B-v0", name)
    _distinct_valid(infos, 5)


@pytest.mark.parametrize("name", ["random", "optuna-tpe", "gp-bo"])
def test_agents_propose_valid_architectures(name: str) -> None:
    require_data("hwgpt/perplexity_s.pt")
    infos = _play("LLMConfig-Arch-GPTS-v0", name, budget=3)
    _distinct_valid(infos, 3)


def test_same_seed_same_episode_and_random_prefixes_match() -> None:
    first = [i["config"] for i in _play(MICRO, "optuna-tpe", seed=4)]
    again = [i["config"] for i in _play(MICRO, "optuna-tpe", seed=4)]
    assert first == again
    short = [i["config"] for i in _play(MICRO, "random", budget=2, seed=7)]
    long = [i["config"] for i in _play(MICRO, "random", budget=5, seed=7)]
    assert long[:2] == short


def test_topk_replays_the_nearest_medium_cell_best_config_on_a_high_step_law_cell() -> None:
    require_data(STEPLAW_FILE)
    # N268M-D80B's demos are the six medium cells; the nearest in (log10 N, log10 D) is N429M-D50B
    # (0.2 decades in each), whose best run is lr=2^-9, bs=256; on the target that config's regret is 0.024.
    infos = _play("LLMConfig-Pretrain-N268M-D80B-v0", "topk", budget=1)
    assert infos[0]["config"] == {"lr": 2**-9, "bs": 256}
    assert infos[0]["normalized_regret"] == pytest.approx(0.02384, abs=1e-4)
    assert load_problem("LLMConfig-Pretrain-N429M-D50B-v0").best_config == {"lr": 2**-9, "bs": 256}


def test_fidelity_transfer_extrapolates_step_law_optima_from_the_training_cells_only() -> None:
    require_data(STEPLAW_FILE)
    train = [e for e in resolve_suite("l2h").train if "Pretrain" in e]
    agent = make_agent("fidelity-transfer")
    agent.fit(TrainingSet.from_env_ids(train))
    regrets = [_play(e, "", budget=1, agent=agent)[0]["normalized_regret"]
               for e in resolve_suite("l2h").test if "Pretrain" in e]
    random_first = [np.mean([_play(e, "random", budget=1, seed=s)[0]["normalized_regret"] for s in range(5)])
                    for e in resolve_suite("l2h").test if "Pretrain" in e]
    assert max(regrets) < 0.03  # one run, no budget spent searching, within 3% of the best of 50-100
    assert np.mean(regrets) < np.mean(random_first) / 3


def test_transfer_features_give_one_learning_rate_one_coordinate_in_every_cell() -> None:
    require_data(STEPLAW_FILE)
    a = load_problem("LLMConfig-Pretrain-N215M-D4B-v0").space
    b = load_problem("LLMConfig-Pretrain-N1.07B-D20B-v0").space
    encoder = TransferEncoder([a, b])
    shared = {"lr": 2**-9, "bs": 256}
    assert np.allclose(encoder(a, [shared]), encoder(b, [shared]))
    assert not np.allclose(a.encode(a.canonicalize(shared)), b.encode(b.canonicalize(shared)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_architecture_neighbours_are_canonical_members_of_the_space(seed: int) -> None:
    require_data("hwgpt/perplexity_m.pt")
    space = load_problem("LLMConfig-Arch-GPTM-v0").space
    rng = np.random.default_rng(seed)
    for config in space.neighbours(space.sample(rng), rng, 8).configs():
        assert space.canonicalize(config) == config


def test_agent_names_and_errors() -> None:
    names = agent_names()
    assert {"random", "topk", "optuna-tpe", "optuna-cmaes", "gp-bo", "fsbo", "metabo", "nap",
            "fidelity-transfer"} <= set(names)
    assert make_agent("optuna-qmc").name == "optuna-qmc"
    with pytest.raises(UnknownAgentError, match="Did you mean optuna-"):
        make_agent("optuna-bogus")
    with pytest.raises(UnknownAgentError, match="has no attribute 'Nope'"):
        make_agent("agents.random_search:Nope")
    with pytest.raises(UnknownAgentError, match=r"without a reset\(\) method"):
        make_agent("collections:OrderedDict")
    with pytest.raises(RuntimeError, match="reset"):
        make_agent("random").act("")
