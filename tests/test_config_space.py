"""The ConfigSpace interface agents use, on a shipped table space (Micro) and an architecture space (Arch).

Both spaces come from ``env.unwrapped.card.space``, as an agent sees them.
"""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import optuna
import pytest
from conftest import require_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.optuna_agent import ask_define_by_run
from gymnasium_llmconfig.config_space import ConfigSpace, InvalidConfig, PerLayerParameter, concat_batches

MICRO = "LLMConfig-Micro-L-D750K-v0"
ARCH = "LLMConfig-Arch-GPTS-v0"
FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SPACE_IDS = [MICRO, ARCH]
_SPACES: dict[str, ConfigSpace] = {}


def _space(env_id: str) -> ConfigSpace:
    if env_id == ARCH:
        require_data("hwgpt/perplexity_s.pt")
    if env_id not in _SPACES:
        _SPACES[env_id] = gymnasium.make(env_id).unwrapped.card.space
    return _SPACES[env_id]


seeds = st.integers(0, 2**32 - 1)
space_ids = st.sampled_from(SPACE_IDS)


# -- hand-checked values on the shipped Micro grid (10 learning rates x 4 batch sizes, all run) ----------------


def test_micro_neighbours_change_one_parameter_first() -> None:
    space = _space(MICRO)
    config = {"lr": 2**-9, "batch_size": 32}
    one_change = space.neighbours(config, np.random.default_rng(0), 12).configs()
    assert len(one_change) == 12  # 9 other learning rates + 3 other batch sizes
    assert all((c["lr"] == config["lr"]) != (c["batch_size"] == config["batch_size"]) for c in one_change)
    everything = space.neighbours(config, np.random.default_rng(0), 100)
    assert len(everything) == 39 and config not in everything.configs()


def test_micro_nearest_by_both_metrics() -> None:
    space = _space(MICRO)
    assert space.nearest({"lr": 0.002, "batch_size": 30}, metric="numeric") == {"lr": 2**-9, "batch_size": 32}
    # Every lr=0.0625 config shares the 30 characters '{"lr": 0.0625, "batch_size": ': the first listed wins.
    first = next(c for c in space.enumerate() if c["lr"] == 0.0625)
    assert space.nearest({"lr": 0.0625, "batch_size": 7}, metric="substring") == first
    assert space.nearest(["not", "a", "mapping"]) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metric must be one of"):
        space.nearest({"lr": 0.002}, metric="lcs")


def test_micro_batches_encode_like_single_configs() -> None:
    space = _space(MICRO)
    rng = np.random.default_rng(1)
    batch = concat_batches([space.sample_batch(rng, 5), space.neighbours(space.sample(rng), rng, 3)])
    assert len(batch) == 8
    assert np.array_equal(space.encode_batch(batch), np.array([space.encode(c) for c in batch.configs()]))
    assert space.to_batch(batch.configs()).configs() == batch.configs()
    assert batch.take([7, 0]).configs() == [batch.configs()[7], batch.configs()[0]]
    with pytest.raises(InvalidConfig, match="canonicalize"):
        space.to_batch([{"lr": 0.5, "batch_size": 8}])
    arch = _space(ARCH)
    with pytest.raises(TypeError, match="made by this space"):
        space.encode_batch(arch.sample_batch(rng, 2))
    with pytest.raises(TypeError, match="made by this space"):
        arch.encode_batch(batch)


# -- the declared conditional structure ------------------------------------------------------------------------


def test_arch_declares_per_layer_lists_and_optuna_reads_them() -> None:
    space = _space(ARCH)
    per_layer = [p for p in space.parameters if isinstance(p, PerLayerParameter)]
    assert [(p.name, p.length_from) for p in per_layer] == [("heads", "n_layer"), ("mlp_ratios", "n_layer")]
    assert not any(isinstance(p, PerLayerParameter) for p in _space(MICRO).parameters)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        config = ask_define_by_run(trial, space.parameters)
        assert space.canonicalize(config) == config
        n = config["n_layer"]
        assert list(trial.params) == ["embed_dim", "n_layer",
                                      *[f"{name}_{i}" for i in range(n) for name in ("heads", "mlp_ratios")], "bias"]


def test_arch_neighbours_change_at_most_three_decisions() -> None:
    space = _space(ARCH)
    rng = np.random.default_rng(3)
    config = space.sample(rng)
    base = space.to_batch([config]).index_matrix()[0]
    rows = space.neighbours(config, rng, 64).index_matrix()
    # A changed depth also adds or drops whole layers; with the depth kept, 1-3 columns differ.
    same_depth = rows[:, 1] == base[1]
    changed = (rows[same_depth] != base).sum(axis=1)
    assert len(rows) > 0 and np.all((changed >= 1) & (changed <= 3))


# -- properties of every space ---------------------------------------------------------------------------------


@FAST
@given(space_ids, seeds)
def test_nearest_of_a_member_is_itself(env_id: str, seed: int) -> None:
    space = _space(env_id)
    config = space.sample(np.random.default_rng(seed))
    for metric in ("substring", "numeric"):
        assert space.nearest(config, metric=metric) == config


@FAST
@given(space_ids, seeds, st.integers(1, 40))
def test_neighbours_are_other_members(env_id: str, seed: int, n: int) -> None:
    space = _space(env_id)
    rng = np.random.default_rng(seed)
    config = space.sample(rng)
    batch = space.neighbours(config, rng, n)
    assert len(batch) <= n  # up to n: an Arch mutant that redrew its own choices is dropped
    for neighbour in batch.configs():
        assert space.contains(neighbour) and space.canonicalize(neighbour) == neighbour
        assert space.key(neighbour) != space.key(config)


@FAST
@given(space_ids, seeds, st.integers(0, 30))
def test_sample_batch_members(env_id: str, seed: int, n: int) -> None:
    space = _space(env_id)
    batch = space.sample_batch(np.random.default_rng(seed), n)
    configs = batch.configs()
    assert len(batch) == len(configs) == n
    assert all(space.canonicalize(c) == c for c in configs)
    assert space.encode_batch(batch).shape == (n, space.dim)


_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.booleans(), st.none(), st.lists(st.integers(-100, 2000), max_size=14))


@FAST
@given(data=st.data())
def test_nearest_is_a_member_or_no_repair(data: st.DataObject) -> None:
    env_id = data.draw(space_ids)
    space = _space(env_id)
    names = [*space.names, "other", "LR", "num_heads", "n_layers"]
    proposal = data.draw(st.dictionaries(st.sampled_from(names), _values, max_size=7))
    metric = data.draw(st.sampled_from(["substring", "numeric"]))
    matched = space.nearest(proposal, metric=metric)
    if space.is_finite:  # a listed config always exists to fall back on
        assert matched is not None
    if matched is not None:
        assert space.contains(matched) and space.canonicalize(matched) == matched
        json.dumps(matched)  # plain JSON, as the env's action text needs
