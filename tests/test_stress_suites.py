"""Stress suites (paper 000 §6) and the paper's split: seeded thinning, the reversed rule, no held-out run in a fit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agents.fidelity_transfer import FidelityTransfer
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import RegistryError
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.metrics import rank_percentile
from gymnasium_llmconfig.registry import _load, load_problem
from gymnasium_llmconfig.train_selection import TrainSelection, subsample_rows
from gymnasium_llmconfig.training_data import TrainingSet


def _micro(name: str):
    """The suite restricted to the shipped Micro task (fast, no data mirror needed)."""
    suite = resolve_suite(name)
    keep = lambda ids: tuple(e for e in ids if "-Micro-" in e)  # noqa: E731
    return dataclasses.replace(suite, train=keep(suite.train), test=keep(suite.test))


@pytest.mark.parametrize(("name", "fraction"), [("l2h-sparse20", 0.2), ("l2h-sparse40", 0.4)])
def test_sparse_suites_keep_a_seeded_reproducible_fraction_of_each_training_table(name: str, fraction: float) -> None:
    suite = _micro(name)
    assert suite.selection == TrainSelection(fraction=fraction, seed=0)
    assert suite.test == _micro("l2h").test and suite.train == _micro("l2h").train
    first, again = TrainingSet.from_suite(suite), TrainingSet.from_suite(suite)
    for env, same in zip(first, again, strict=True):
        full = load_problem(env.env_id).space
        assert len(env.space) == round(fraction * len(full))  # 40 runs per Micro cell -> 8 / 16
        assert env.space.enumerate() == same.space.enumerate()
        assert all(full.contains(c) for c in env.space.enumerate())
    other = TrainingSet.from_suite(dataclasses.replace(suite, selection=TrainSelection(fraction, seed=1)))
    assert any(a.space.enumerate() != b.space.enumerate() for a, b in zip(first, other, strict=True))
    assert np.array_equal(subsample_rows("x", 10, 0.2, 0), subsample_rows("x", 10, 0.2, 0))
    assert len(subsample_rows("x", 3, 0.2, 0)) == 1  # at least one run survives


def test_a_learning_agent_never_sees_a_held_out_run(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _micro("l2h-sparse20")
    training = TrainingSet.from_suite(suite)
    kept = {env.env_id: {env.space.key(c) for c in env.space.enumerate()} for env in training}
    seen: dict[str, set] = {env_id: set() for env_id in kept}
    for env_id in kept:
        problem = load_problem(env_id)
        evaluate = problem.evaluate

        def spy(config, env_id=env_id, evaluate=evaluate, problem=problem):
            seen[env_id].add(problem.space.key(config))
            return evaluate(config)

        monkeypatch.setattr(problem, "evaluate", spy)
    FidelityTransfer(seed=0).fit(training)
    assert all(seen[e] and seen[e] <= kept[e] for e in kept)
    env = training.envs[0]
    held_out = next(c for c in load_problem(env.env_id).space.enumerate() if env.space.key(c) not in kept[env.env_id])
    with pytest.raises(KeyError, match="held out"):
        env.utility(held_out)
    _, utility = env.runs()
    assert env.normalized_regret(float(utility.max())) == 0.0 and env.normalized_regret(float(utility.min())) == 1.0


def test_reversed_suite_keeps_only_runs_that_rank_in_the_worse_half_at_test() -> None:
    suite = _micro("l2h-reversed")
    tests = [load_problem(e) for e in suite.test]
    training = TrainingSet.from_suite(suite)
    assert training.env_ids and set(training.env_ids) <= set(suite.train)
    for env in training:
        for config in env.space.enumerate():
            ranks = [rank_percentile(t, t.evaluate(t.space.canonicalize(config)).metric) for t in tests]
            assert np.mean(ranks) < 0.5
        best = env.runs()[0][int(np.argmax(env.runs()[1]))]
        test_best = [t.best_config for t in tests]
        assert best not in test_best  # the training optimum is never a test optimum
    assert "Arch" not in {e.split("-")[1] for e in resolve_suite("l2h-reversed").train}


def test_paper_suite_follows_table_9_where_the_data_has_the_cells() -> None:
    suite = resolve_suite("paper")
    assert set(suite.test) == {"LLMConfig-Arch-GPTL-v0", "LLMConfig-Mixture-Qwen7B-v0",
                               "LLMConfig-Pretrain-N215M-D100B-v0", "LLMConfig-Pretrain-N268M-D80B-v0"}
    assert {"LLMConfig-Arch-GPTM-v0", "LLMConfig-Mixture-Qwen3B-v0"} <= set(suite.train)
    assert "LLMConfig-Arch-GPTS-v0" not in suite.train and not set(suite.train) & set(suite.test)
    assert suite.selection is None and "Table 9" in suite.description


@pytest.mark.parametrize(("yaml", "message"), [
    ("s: {train_subsample: {fraction: 1.5}}", "fraction must be in"),
    ("s: {train_subsample: {fractoin: 0.2}}", "Did you mean 'fraction'"),
    ("s: {train_filter: {reversed: abc}}", "must be numbers"),
    ("s: {train: [LLMConfig-Arch-GPTM-v0]}", "give both 'train' and 'test'"),
    ("s: {tets: [a]}", "Did you mean 'test'"),
])
def test_bad_suite_keys_name_the_suite_and_the_fix(tmp_path: Path, yaml: str, message: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(f"suites:\n  {yaml}\n")
    with pytest.raises(RegistryError, match=message) as error:
        _load((path,))
    assert "suite 's'" in str(error.value)


def test_bench_runs_the_reversed_suite_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "rev"
    result = CliRunner().invoke(app, ["bench", "--suite", "l2h-reversed", "--agents", "random,topk",
                                      "--env", "LLMConfig-Micro-L-D750K-v0", "--budgets", "2", "--seeds", "1",
                                      "--workers", "0", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Paper regret (§5)" in (out / "leaderboard.md").read_text()
