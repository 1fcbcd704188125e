"""Best/worst values and argmin configs computed straight from the CSVs match what the envs report."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pandas as pd
import pytest
from conftest import require_data

import gymnasium_llmconfig  # noqa: F401  (registers the envs)


def _problem(env_id: str, **kwargs):
    return gymnasium.make(env_id, **kwargs).unwrapped.problem


@pytest.mark.parametrize(
    ("env_id", "n", "d"),
    [
        ("LLMConfig-Pretrain-N429M-D50B-v0", 429260800, 50_000_000_000),
        ("LLMConfig-Pretrain-N215M-D4B-v0", 214663680, 4_000_000_000),
        ("LLMConfig-Pretrain-N1.07B-D56.9B-v0", 1073741824, 56_900_000_000),
    ],
)
def test_pretrain_cells(env_id: str, n: int, d: int) -> None:
    raw = pd.read_csv(require_data("steplaw/dense_lr_bs_loss.csv"))
    cell = raw[(n == raw.N) & (d == raw.D)]
    problem = _problem(env_id)
    assert len(problem.space) == len(cell)
    assert problem.best_value == pytest.approx(cell["smooth loss"].min(), abs=0)
    assert problem.worst_value == pytest.approx(cell["smooth loss"].max(), abs=0)
    best_row = cell.loc[cell["smooth loss"].idxmin()]
    assert problem.best_config["bs"] == best_row.bs
    assert problem.best_config["lr"] == pytest.approx(best_row.lr, rel=0.01)
    assert math.log2(problem.best_config["lr"]) * 2 == round(math.log2(problem.best_config["lr"]) * 2)


def test_pretrain_known_optimum_n429m_d50b() -> None:
    """The optimum of this Step Law cell, read off the CSV by hand: lr 2^-9.5 (0.001381), bs 256."""
    problem = _problem("LLMConfig-Pretrain-N429M-D50B-v0")
    raw = pd.read_csv(require_data("steplaw/dense_lr_bs_loss.csv"))
    cell = raw[(raw.N == 429260800) & (raw.D == 50_000_000_000)].sort_values("smooth loss")
    top = cell.iloc[0]
    assert (problem.best_config["bs"], round(2 * math.log2(problem.best_config["lr"])) / 2) == (
        top.bs,
        round(2 * math.log2(top.lr)) / 2,
    )
    env = gymnasium.make("LLMConfig-Pretrain-N429M-D50B-v0", budget=1)
    env.reset(seed=0)
    _, reward, _, truncated, info = env.step(f'{{"lr": {top.lr}, "bs": {int(top.bs)}}}')
    assert reward == 0.0 and truncated and info["normalized_regret"] == 0.0
    assert info["metric"] == pytest.approx(top["smooth loss"])


@pytest.mark.parametrize(("env_id", "model"), [("LLMConfig-Mixture-Qwen0.5B-v0", "Qwen2.5-0.5B"),
                                               ("LLMConfig-Mixture-Qwen3B-v0", "Qwen2.5-3B"),
                                               ("LLMConfig-Mixture-Qwen7B-v0", "Qwen2.5-7B")])
def test_mixture_models(env_id: str, model: str) -> None:
    raw = pd.read_csv(require_data("admire/admire_ift_runs.csv"))
    rows = raw[raw.model == model]
    problem = _problem(env_id, reveal_names=True)
    assert problem.task.direction == "maximize"
    assert len(problem.space) == len(rows)
    assert problem.best_value == rows["metric_avg_id+ood"].max()
    assert problem.worst_value == rows["metric_avg_id+ood"].min()
    best = rows.loc[rows["metric_avg_id+ood"].idxmax()]
    for column in [c for c in raw.columns if c.startswith("ratio_")]:
        assert problem.best_config[column.removeprefix("ratio_")] == pytest.approx(best[column])
    outcome = problem.evaluate(problem.best_config)
    assert outcome.details["gsm8k::tulu"] == pytest.approx(best["metric_gsm8k::tulu"])


@pytest.mark.parametrize(("env_id", "suffix", "n_rows"), [("LLMConfig-PileMix-1M-v0", "1m", 768),
                                                          ("LLMConfig-PileMix-60M-v0", "60m", 256),
                                                          ("LLMConfig-PileMix-1B-v0", "1B", 64)])
def test_pilemix_sizes(env_id: str, suffix: str, n_rows: int) -> None:
    groups = [("test_mixture", "test_pile_loss")] + ([("train_mixture", "train_pile_loss")] if suffix == "1m" else [])
    frames = [
        pd.read_csv(require_data(f"regmix/{m}_{suffix}.csv")).merge(
            pd.read_csv(require_data(f"regmix/{loss}_{suffix}.csv")), on="index")
        for m, loss in groups
    ]
    raw = pd.concat(frames)
    target = "metric/the_pile_pile_cc_val_loss"
    problem = _problem(env_id)
    assert len(problem.space) == n_rows == len(raw)
    assert problem.best_value == raw[target].min()
    assert problem.worst_value == raw[target].max()
    best = raw.iloc[int(raw[target].to_numpy().argmin())]
    weights = np.array([problem.best_config[f"domain_{i:02d}"] for i in range(1, 18)])
    assert weights == pytest.approx(best[[c for c in raw.columns if c.startswith("train_the_pile_")]].to_numpy(float))
    other = _problem(env_id, target="arxiv")
    assert other.best_value == raw["metric/the_pile_arxiv_val_loss"].min()


def test_pilemix_unknown_target_is_explained() -> None:
    with pytest.raises(ValueError, match=r"Unknown target 'nope'.*pile_cc"):
        _problem("LLMConfig-PileMix-60M-v0", target="nope")
