"""The leaderboard runner: resumable, fair (fit sees training envs only), open to custom agents."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.random_search import RandomSearch
from gymnasium_llmconfig.budget import parse_budgets
from gymnasium_llmconfig.curation import resolve_suite
from gymnasium_llmconfig.lab.cli import app
from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.runner import AgentSpec, BenchmarkPlan, parse_agent_args, run_benchmark
from gymnasium_llmconfig.lab.leaderboard.store import EPISODES, ResultStore
from gymnasium_llmconfig.registry import load_registry
from gymnasium_llmconfig.storage import StoreError
from gymnasium_llmconfig.training_data import TrainingSet

SMOKE = resolve_suite("smoke")
PLAN = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random"), AgentSpec("topk"), AgentSpec("optuna-tpe"),
                                             AgentSpec("fidelity-transfer", {"max_points": 80})],
                     budgets=[1, 2, 3], seeds=[0, 1])
N_EPISODES = 4 * len(SMOKE.test) * 3 * 2


def _comparable(rows: Sequence[LeaderboardRow]) -> list[str]:
    """Rows without their timing, in a canonical order."""
    return sorted(json.dumps({k: v for k, v in r.to_dict().items() if k != "wall_s"}, sort_keys=True) for r in rows)


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    whole = run_benchmark(PLAN, tmp_path / "whole", workers=0, progress=False)
    assert (whole.played, whole.skipped, whole.interrupted) == (N_EPISODES, 0, False)

    parts = tmp_path / "parts"
    first = run_benchmark(PLAN, parts, workers=0, progress=False, stop_after=7)
    assert (first.played, first.interrupted) == (7, True)
    with (parts / EPISODES).open("a") as log:  # a kill in the middle of writing the next line
        log.write('{"agent": "random", "env_id": "LLMConfig-Mi')
    rest = run_benchmark(PLAN, parts, workers=0, progress=False)
    assert (rest.played, rest.skipped) == (N_EPISODES - 7, 7)
    assert _comparable(ResultStore(parts).rows()) == _comparable(ResultStore(tmp_path / "whole").rows())
    assert len((parts / EPISODES).read_text().splitlines()) == N_EPISODES  # nothing duplicated, nothing lost
    assert run_benchmark(PLAN, parts, workers=0, progress=False).played == 0
    for seed in PLAN.seeds:  # one fit per (agent, seed), built with seed + the episode seed
        fitted = ResultStore(parts).load_fitted("fidelity-transfer[max_points=80]", seed)
        assert sorted(fitted) == ["agent.json", "tensors.safetensors"]  # resumed from these files, not refitted
        assert json.loads(fitted["agent.json"])["init"]["seed"] == seed
    for out in (parts, tmp_path / "whole"):  # no pickle anywhere in a results directory
        assert {p.suffix for p in out.rglob("*") if p.is_file()} <= {".jsonl", ".json", ".safetensors", ".md",
                                                                      ".html", ".png"}
    assert (parts / "leaderboard.md").is_file() and (parts / "leaderboard.html").is_file()


def test_random_search_regret_never_increases_with_budget(tmp_path: Path) -> None:
    plan = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random")], budgets=[1, 2, 3, 4, 5], seeds=[0, 1, 2])
    run_benchmark(plan, tmp_path, workers=0, progress=False)
    regret: dict[tuple[str, int], dict[int, float]] = {}
    for row in ResultStore(tmp_path).rows():
        regret.setdefault((row.env_id, row.seed), {})[row.budget] = row.normalized_regret
    assert len(regret) == len(SMOKE.test) * 3
    for by_budget in regret.values():
        curve = [by_budget[b] for b in range(1, 6)]
        assert curve == sorted(curve, reverse=True), curve
    means = [sum(r[b] for r in regret.values()) / len(regret) for b in range(1, 6)]
    assert means[-1] < means[0]


def test_other_settings_in_the_same_out_are_refused(tmp_path: Path) -> None:
    plan = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random")], budgets=[1], seeds=[0])
    run_benchmark(plan, tmp_path, workers=0, progress=False)
    changed = BenchmarkPlan(suite="smoke", agents=[AgentSpec("random")], budgets=[1], seeds=[0],
                            env_kwargs={"top_k": 3})
    with pytest.raises(StoreError, match="env_kwargs"):
        run_benchmark(changed, tmp_path, workers=0, progress=False)


class SpyLearner(RandomSearch):
    """Random search that writes down what ``fit`` was given (to the file named by $SPY_FIT_LOG)."""

    name = "spy"

    def fit(self, training_set: TrainingSet) -> None:
        Path(os.environ["SPY_FIT_LOG"]).write_text(json.dumps(training_set.env_ids))

    def save(self, path: str | Path) -> None:
        Path(path, "spy.json").write_text("{}")

    @classmethod
    def load(cls, path: str | Path) -> SpyLearner:
        assert Path(path, "spy.json").read_text() == "{}"
        return cls()


def test_module_class_agent_runs_through_the_cli_on_ray_and_fit_sees_no_high_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    log = tmp_path / "fit.json"
    monkeypatch.setenv("SPY_FIT_LOG", str(log))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["bench", "--suite", "smoke", "--agents", f"{__name__}:SpyLearner,random",
                                      "--budgets", "1-2", "--seeds", "2", "--out", str(out), "--workers", "1",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    fitted_on = json.loads(log.read_text())
    registry = load_registry()
    assert fitted_on == list(SMOKE.train)
    assert {registry.env(e)[1].role for e in fitted_on} <= {"low", "medium"}
    assert not set(fitted_on) & set(SMOKE.test)
    rows = ResultStore(out).rows()
    assert {r.agent for r in rows} == {"spy", "random"}  # a module:Class agent goes by its name
    assert len(rows) == 2 * len(SMOKE.test) * 2 * 2
    spy = {(r.env_id, r.budget, r.seed): r.normalized_regret for r in rows if r.agent != "random"}
    plain = {(r.env_id, r.budget, r.seed): r.normalized_regret for r in rows if r.agent == "random"}
    assert spy == plain  # same proposals as random search with the same seeds
    rebuilt = CliRunner().invoke(app, ["report", str(out)], env={"COLUMNS": "400"})  # no wrap inside the path
    assert rebuilt.exit_code == 0 and "leaderboard.md" in rebuilt.output


class SeededSpy(RandomSearch):
    """Random search whose fit remembers its ``seed``; each episode records the seed of the agent that played it."""

    name = "seeded-spy"

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed
        self.fitted_seed: int | None = None
        self.record = self

    def fit(self, training_set: TrainingSet) -> None:
        self.fitted_seed = self.seed

    def to_dict(self) -> dict[str, int | None]:
        return {"fitted_seed": self.fitted_seed}

    def save(self, path: str | Path) -> None:
        Path(path, "spy.json").write_text(json.dumps({"seed": self.seed, "fitted_seed": self.fitted_seed}))

    @classmethod
    def load(cls, path: str | Path) -> SeededSpy:
        saved = json.loads(Path(path, "spy.json").read_text())
        agent = cls(saved["seed"])
        agent.fitted_seed = saved["fitted_seed"]
        return agent


def test_learning_agents_are_fitted_per_seed_and_episodes_of_seed_k_use_fit_k(tmp_path: Path) -> None:
    plan = BenchmarkPlan(suite="smoke", agents=[AgentSpec(f"{__name__}:SeededSpy", {"seed": 10})],
                         budgets=[1], seeds=[0, 2])
    run_benchmark(plan, tmp_path, workers=0, progress=False)
    store = ResultStore(tmp_path)
    rows = store.rows()
    assert len(rows) == len(SMOKE.test) * 2
    assert {(r.seed, r.agent_record["fitted_seed"]) for r in rows} == {(0, 10), (2, 12)}
    assert sorted(p.name for p in (tmp_path / "fitted" / "seeded-spy_seed=10_").iterdir()) == ["seed0", "seed2"]
    wider = replace(plan, seeds=[0, 1, 2])  # resuming with one more seed fits only that seed
    assert run_benchmark(wider, tmp_path, workers=0, progress=False).played == len(SMOKE.test)
    assert json.loads(store.load_fitted("seeded-spy[seed=10]", 1)["spy.json"]) == {"seed": 11, "fitted_seed": 11}


@pytest.mark.parametrize(("args", "message"), [
    (["--agents", "randon"], "Did you mean random"),
    (["--agents", "no_such_module:Agent"], "cannot import module 'no_such_module'"),
    (["--agents", "random", "--budgets", "0-2"], "budgets must be positive"),
    (["--agents", "random", "--budgets", "two"], "budgets must look like"),
    (["--agents", "random", "--budgets", "9-1"], "budget range '9-1' is descending; write it low to high, e.g. 1-9"),
    (["--agents", "random", "--agent-arg", "lr"], "--agent-arg must be key=value"),
    (["--agents", "random", "--agent-arg", "temperature=0.5"], "does not accept arguments ['temperature']"),
    (["--agents", "random", "--suite", "l2x"], "l2x"),
    (["--agents", "random", "--env", "LLMConfig-Micro-S-D250K-v0"], "not among the 'smoke' suite's test envs"),
])
def test_bad_bench_input_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["bench", "--suite", "smoke", "--out", str(tmp_path), "--workers", "0",
                                      "--no-progress", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_report_of_an_empty_directory_says_what_to_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "llmconfig bench" in result.output


def test_budget_and_agent_arg_parsing() -> None:
    assert parse_budgets("1-5") == [1, 2, 3, 4, 5]
    assert parse_budgets("5, 1,3") == [1, 3, 5]
    args = parse_agent_args(["seed=3", "gp-bo.n_initial=2", "llm-prompt.model=Qwen/Qwen3-8B"],
                            ["gp-bo", "llm-prompt"])
    assert args == {"gp-bo": {"seed": 3, "n_initial": 2}, "llm-prompt": {"seed": 3, "model": "Qwen/Qwen3-8B"}}
