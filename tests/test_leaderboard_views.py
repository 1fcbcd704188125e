"""The paper's §5 regret (normalized by what any method found) and footnote 2's aggregate, against hand computations."""

from __future__ import annotations

import math

import pytest

from gymnasium_llmconfig.lab.leaderboard.report import write_report
from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.views import (
    comparison_bounds,
    comparison_regret_rows,
    footnote2_rows,
    shifted_tasks,
)
from gymnasium_llmconfig.metrics import comparison_regret


def _row(agent: str, env_id: str, task: str, metrics: list[float], seed: int = 0, *, maximize: bool = False,
         table_regret: float = 0.5) -> LeaderboardRow:
    best = max(metrics) if maximize else min(metrics)
    return LeaderboardRow(env_id=env_id, task=task, seed=seed, budget=len(metrics), normalized_regret=table_regret,
                          rank_percentile=math.nan, outcome_reward=0.0, episode_return=0.0, execution_rate=1.0,
                          unique_config_rate=1.0, best_metric=best, agent=agent,
                          steps=[{"metric": m, "valid": True} for m in metrics])


def test_comparison_regret_by_hand() -> None:
    assert comparison_regret(2.5, best=2.0, worst=4.0) == pytest.approx(0.25)
    assert comparison_regret(0.6, best=0.8, worst=0.4) == pytest.approx(0.5)  # maximize: best > worst
    assert comparison_regret(None, best=2.0, worst=4.0) == 1.0
    assert comparison_regret(3.0, best=3.0, worst=3.0) == 0.0
    assert comparison_regret(5.0, best=2.0, worst=4.0) == 1.0  # clipped


def test_bounds_span_every_agent_and_read_the_direction_from_the_episodes() -> None:
    rows = [_row("a", "min-env", "T", [3.0, 2.5]), _row("b", "min-env", "T", [4.0, 2.0]),
            _row("a", "max-env", "U", [0.4, 0.6], maximize=True), _row("b", "max-env", "U", [0.8], maximize=True)]
    assert comparison_bounds(rows) == {"min-env": (2.0, 4.0), "max-env": (0.8, 0.4)}
    regrets = {(r.agent, r.env_id): r.normalized_regret for r in comparison_regret_rows(rows)}
    # min-env: a found 2.5 -> (2.5-2)/(4-2) = 0.25; b found the best 2.0 -> 0.
    # max-env: a found 0.6 -> (0.8-0.6)/(0.8-0.4) = 0.5; b found 0.8 -> 0.
    assert regrets == pytest.approx({("a", "min-env"): 0.25, ("b", "min-env"): 0.0,
                                     ("a", "max-env"): 0.5, ("b", "max-env"): 0.0})


def test_footnote2_replaces_topk_by_random_on_shifted_tasks_only() -> None:
    rows = [_row("topk", "arch", "Arch", [1.0]), _row("random", "arch", "Arch", [2.0]),
            _row("topk", "pre", "Pretrain", [1.0]), _row("random", "pre", "Pretrain", [2.0])]
    out = footnote2_rows(rows, {"Arch"})
    topk = {r.env_id: r.best_metric for r in out if r.agent == "topk"}
    assert topk == {"arch": 2.0, "pre": 1.0}
    assert sorted(r.agent for r in out) == ["random", "random", "topk", "topk"]
    assert shifted_tasks({"Arch", "Mixture", "Pretrain", "PileMix", "Mine"}) == {"Arch", "Mixture", "PileMix"}


def test_report_shows_the_paper_views_with_hand_computed_means(tmp_path) -> None:
    # One shifted task (Arch), one env each; two seeds. Bounds over every agent: best 1.0, worst 5.0.
    rows = []
    for seed in (0, 1):
        rows += [_row("topk", "LLMConfig-Arch-GPTL-v0", "Arch", [1.0], seed),       # §5 regret 0
                 _row("random", "LLMConfig-Arch-GPTL-v0", "Arch", [5.0, 3.0][seed:seed + 1], seed)]  # 1, 0.5
    markdown = write_report(rows, tmp_path)["markdown"].read_text()
    paper = markdown.split("## Paper regret (§5)", 1)[1].split("## Paper aggregate", 1)[0]
    assert "| 1 | topk | **0.000 ± 0.000**" in paper
    assert "| 2 | random | 0.750 ± 0.354" in paper   # mean(1, 0.5), sample std
    footnote = markdown.split("## Paper aggregate (footnote 2)", 1)[1]
    assert "space_shift: Arch" in footnote
    assert "| 1 | random | **0.750 ± 0.354**" in footnote and "| 1 | topk | **0.750 ± 0.354**" in footnote
    assert (tmp_path / "regret_vs_budget_paper.png").read_bytes().startswith(b"\x89PNG")
