"""ArchProblem: reference-pool statistics, regret endpoints, outcome details and the pool cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gymnasium_llmconfig.config_space import InvalidConfig
from gymnasium_llmconfig.problem import FidelityInfo, TaskInfo
from gymnasium_llmconfig.tasks.arch import ArchProblem, formulas

TASK = TaskInfo("arch", "Architecture", "choose a GPT architecture", "ppl/max_ppl + flops/max_flops", "minimize")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arch_problem_cache")


def make(scale: str, data_dir: Path, cache_dir: Path, **kw: int) -> ArchProblem:
    fidelity = FidelityInfo(f"GPT-{scale.upper()}", {"s": "low", "m": "medium", "l": "high"}[scale], {}, "")
    return ArchProblem(f"LLMConfig-Arch-GPT{scale.upper()}-v0", TASK, fidelity, scale,
                       data_dir / f"perplexity_{scale}.pt", cache_dir, **kw)


@pytest.fixture(scope="module", params=["s", "m", "l"])
def problem(request: pytest.FixtureRequest, data_dir: Path, cache_dir: Path) -> ArchProblem:
    return make(request.param, data_dir, cache_dir)


def test_pool_stats(problem: ArchProblem) -> None:
    assert problem.pool_len == 10_000 + 32  # no duplicates expected in spaces this large
    for v in (problem.best_value, problem.worst_value, problem.max_perplexity, float(problem.max_flops)):
        assert math.isfinite(v)
    assert 0 < problem.best_value < problem.worst_value <= 2.0
    # FLOPs grow with every choice, so the all-largest corner sets max_flops.
    assert problem.max_flops == problem.space.max_flops


def test_best_pool_config_evaluates_to_best_value(problem: ArchProblem) -> None:
    out = problem.evaluate(problem.best_config)
    assert out.metric == problem.best_value
    assert out.details["beats_pool_best"] is False
    assert problem.normalized_regret(out.metric) == 0.0
    assert problem.normalized_regret(problem.worst_value) == 1.0
    mid = (problem.best_value + problem.worst_value) / 2
    assert problem.normalized_regret(mid) == pytest.approx(0.5)
    top = problem.top_configs(20)
    assert top[0] == (problem.best_config, problem.best_value)
    values = [v for _, v in top]
    assert values == sorted(values)
    for cfg, v in top[:5]:
        assert problem.evaluate(cfg).metric == v


def test_outcome_details(problem: ArchProblem) -> None:
    cfg = problem.space.sample(np.random.default_rng(123))
    out = problem.evaluate(cfg)
    d = out.details
    assert set(d) == {"perplexity", "flops", "params", "ppl_term", "flops_term", "beats_pool_best"}
    assert d["params"] == formulas.param_count(cfg["embed_dim"], cfg["heads"], cfg["mlp_ratios"])
    assert d["flops"] == formulas.flops(cfg["embed_dim"], cfg["heads"], cfg["mlp_ratios"])
    assert isinstance(d["flops"], int) and isinstance(d["params"], int)
    assert d["ppl_term"] == d["perplexity"] / problem.max_perplexity
    assert d["flops_term"] == d["flops"] / problem.max_flops
    assert out.metric == d["ppl_term"] + d["flops_term"]
    assert d["beats_pool_best"] == (out.metric < problem.best_value)
    with pytest.raises(InvalidConfig, match="canonicalize"):
        problem.evaluate({**cfg, "heads": cfg["heads"][:-1]})
    with pytest.raises(InvalidConfig, match="canonicalize"):
        problem.evaluate({**cfg, "bias": "False"})


def test_pool_cache_is_reused_and_keyed(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make("s", data_dir, tmp_path, pool_size=500, pool_seed=7)
    path = first.pool_cache_path()
    assert path.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    def no_build(self: ArchProblem) -> None:
        raise AssertionError("pool rebuilt although a valid cache exists")

    with monkeypatch.context() as m:
        m.setattr(ArchProblem, "build_pool", no_build)
        again = make("s", data_dir, tmp_path, pool_size=500, pool_seed=7)
    for attr in ("best_value", "worst_value", "best_config", "max_perplexity", "max_flops"):
        assert getattr(again, attr) == getattr(first, attr)

    other = make("s", data_dir, tmp_path, pool_size=500, pool_seed=8)
    assert other.pool_cache_path() != path and other.best_config != first.best_config

    path.write_bytes(b"garbage")  # a corrupt cache is rebuilt, with identical results
    rebuilt = make("s", data_dir, tmp_path, pool_size=500, pool_seed=7)
    assert rebuilt.best_value == first.best_value and rebuilt.top_configs(3) == first.top_configs(3)


def test_rejects_maximize_task(data_dir: Path, tmp_path: Path) -> None:
    task = TaskInfo("arch", "A", "d", "m", "maximize")
    with pytest.raises(ValueError, match="minimi"):
        ArchProblem("x", task, FidelityInfo("s", "low", {}, ""), "s", data_dir / "perplexity_s.pt", tmp_path)
