"""Cost per run from the registry and the amortized-cost analysis (paper 000 §5.1.4, Appendix D), by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import require_data
from typer.testing import CliRunner

from gymnasium_llmconfig.cost import env_cost, evaluate
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.errors import RegistryError
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.leaderboard.cost import amortize
from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.registry import load_registry

TABLES = Path(__file__).resolve().parents[1] / "gymnasium_llmconfig" / "tables"
MICRO_CSV = TABLES / "micro" / "runs.csv"


def test_every_registered_env_has_a_cost_with_a_basis() -> None:
    registry = load_registry()
    for task, fidelity in registry:
        spec = {**task.options.get("cost", {}), **fidelity.options.get("cost", {})}
        assert spec.get("basis"), f"{fidelity.env_id} has no cost basis"


def test_flops_rule_by_hand() -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    cost = env_cost("LLMConfig-Pretrain-N268M-D80B-v0")
    # 6 * 268,304,384 * 80e9 FLOPs at 312 TFLOP/s * 40% MFU = 286.6 GPU-hours per run; 120 runs in the table.
    assert cost.mean_run_hours == pytest.approx(6 * 268304384 * 80e9 / (312e12 * 0.4 * 3600))
    assert cost.mean_run_hours == pytest.approx(286.6, abs=0.05) and cost.runs == 120
    assert cost.total_hours == pytest.approx(120 * cost.mean_run_hours)
    assert evaluate("6 * N * (D + 1) ** 2 / 2", {"N": 2, "D": 1}) == 24.0
    with pytest.raises(RegistryError, match="numbers, names and"):
        evaluate("__import__('os')", {})
    with pytest.raises(RegistryError, match="uses 'X'"):
        evaluate("6 * X", {"N": 1})


def test_measured_wall_time_rule_reads_the_named_column() -> None:
    runs = pd.read_csv(MICRO_CSV)
    cell = runs[(runs["model"] == "L") & (runs["tokens"] == 750000)]
    cost = env_cost("LLMConfig-Micro-L-D750K-v0")
    assert cost.runs == len(cell) == 40
    assert cost.total_hours == pytest.approx(cell["wall_time_s"].sum() / 3600)


def test_the_grpo_collector_prices_its_runs_by_their_wall_time() -> None:
    table = pd.read_csv(TABLES / "grpo" / "table.csv")
    cell = table[table["fidelity"] == "Add3-N256-E8"]
    cost = env_cost("LLMConfig-GRPO-Add3-N256-E8-v0")
    assert cost.runs == len(cell) == 18
    assert cost.total_hours == pytest.approx(cell["wall_time_s"].sum() / 3600)


def test_amortize_by_hand() -> None:
    # M=2 training envs with 40 runs costing 100 h (E_m=20, t_LF=2.5 h); t_HF=10 h, so alpha=4.
    # S_meta=1, S_base=3: dS=2. Inequality (6): 2*20 < K*2*4 <=> K > 5, so K*=6; (7): K/M > 20/(2*4) = 2.5.
    result = amortize(task="T", learner="L", baseline="b", target_regret=0.1, s_meta=1, s_base=3, censored=False,
                      t_hf=10.0, train_runs=40, m=2, train_hours=100.0)
    assert (result.e_m, result.t_lf, result.alpha) == (20.0, 2.5, 4.0)
    assert result.break_even_k == 6 and result.leverage_threshold == 2.5
    assert result.meta_curve[:6] == (110.0, 120.0, 130.0, 140.0, 150.0, 160.0)  # 100 + 10 K
    assert result.base_curve[:6] == (30.0, 60.0, 90.0, 120.0, 150.0, 180.0)    # 30 K: equal at K=5, cheaper after
    assert (result.meta_curve[-1], result.base_curve[-1]) == (400.0, 900.0)
    never = amortize(task="T", learner="L", baseline="b", target_regret=0.1, s_meta=3, s_base=3, censored=False,
                     t_hf=10.0, train_runs=40, m=2, train_hours=100.0)
    assert never.break_even_k is None and never.leverage_threshold is None


def _micro(env_ids: tuple[str, ...]) -> list[str]:
    return [e for e in env_ids if e.startswith("LLMConfig-Micro-")]


def _write_results(out: Path, regrets: dict[str, list[float]]) -> None:
    """A smoke run's results: each agent's regret per budget 1..5, same on every test env and seed."""
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"suite": "smoke", "env_kwargs": {}}))
    lines = []
    for agent, per_budget in regrets.items():
        for env_id in _micro(resolve_suite("smoke").test):
            for budget, regret in enumerate(per_budget, start=1):
                row = LeaderboardRow(env_id=env_id, task="Micro", seed=0, budget=budget, normalized_regret=regret,
                                     rank_percentile=math.nan, outcome_reward=0.0, episode_return=0.0,
                                     execution_rate=1.0, unique_config_rate=1.0, best_metric=1.0, agent=agent)
                lines.append(json.dumps(row.to_dict()))
    (out / "episodes.jsonl").write_text("\n".join(lines) + "\n")


def test_cost_command_against_a_hand_computation(tmp_path: Path) -> None:
    out = tmp_path / "results"
    # fsbo reaches its budget-5 regret (0.1) at T=2; random at T=4; optuna-random never (censored to 6).
    _write_results(out, {"fsbo": [0.3, 0.1, 0.1, 0.1, 0.1], "random": [0.5, 0.4, 0.2, 0.1, 0.05],
                         "optuna-random": [0.5, 0.4, 0.3, 0.2, 0.2]})
    result = CliRunner().invoke(app, ["cost", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["baseline"]: r for r in json.loads((out / "cost.json").read_text())}
    assert set(rows) == {"random", "optuna-random"}
    runs = pd.read_csv(MICRO_CSV)
    suite = resolve_suite("smoke")
    train, test = _micro(suite.train), _micro(suite.test)  # the Micro task's cost (smoke also has GRPO)
    cells = {e: (m, int(d[1:].replace("K", "000"))) for e in train + test
             for m, d in [e.removeprefix("LLMConfig-Micro-").removesuffix("-v0").split("-")]}
    seconds = {e: runs[(runs["model"] == m) & (runs["tokens"] == d)]["wall_time_s"] for e, (m, d) in cells.items()}
    t_hf = sum(seconds[e].mean() for e in test) / len(test) / 3600
    train_hours = sum(seconds[e].sum() for e in train) / 3600
    train_runs = sum(len(seconds[e]) for e in train)
    alpha = t_hf / (train_hours / train_runs)
    random = rows["random"]
    assert (random["s_meta"], random["s_base"], random["censored"]) == (2, 4, False)
    assert random["t_hf"] == pytest.approx(t_hf) and random["train_hours"] == pytest.approx(train_hours)
    assert random["break_even_k"] == math.floor(train_runs / (2 * alpha)) + 1  # M E_m < K dS alpha, dS = 2
    assert random["meta_curve"][0] == pytest.approx(train_hours + 2 * t_hf)
    assert random["base_curve"][29] == pytest.approx(30 * 4 * t_hf)
    assert (rows["optuna-random"]["s_base"], rows["optuna-random"]["censored"]) == (6, True)
    assert ">=6" in (out / "cost.md").read_text()
    assert (out / "cost_curves.png").read_bytes().startswith(b"\x89PNG")


def test_cost_command_names_what_is_missing(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["cost", str(tmp_path / "nope")], env={"COLUMNS": "300"})
    assert missing.exit_code == 2 and "is not a results directory" in missing.output
    out = tmp_path / "only-random"
    _write_results(out, {"random": [0.5, 0.4, 0.3, 0.2, 0.1]})
    alone = runner.invoke(app, ["cost", str(out)], env={"COLUMNS": "300"})
    assert alone.exit_code == 2 and "needs at least one learning agent" in alone.output
