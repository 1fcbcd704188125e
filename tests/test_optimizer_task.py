"""The Optimizer task (Marin optimizer sweeps): values straight from the JSON files, duplicates, nulls, bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
from conftest import require_data
from hypothesis import given, settings
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents import run_episode
from agents.zoo import make_agent
from gymnasium_llmconfig import data
from gymnasium_llmconfig.curation import auto_demo_ids, resolve_suite
from gymnasium_llmconfig.data.readers import marin_result
from gymnasium_llmconfig.registry import load_problem, load_registry
from gymnasium_llmconfig.training_data import TrainingSet
from wrappers import MostSimilarConfig

RESULTS = "marin/Analysis/Results"
ADAMW_HIGH = "LLMConfig-Optimizer-AdamW-1.2B-x1-v0"
DIVERGED = 6.0  # the task's metric cap: diverged and NaN runs score it


def _runs_by_hand(relative: str) -> list[tuple[dict[str, Any], float, str | None]]:
    """(config, scored loss, run id) of every run of a result.json, read without the project's reader."""
    doc = json.loads(require_data(f"{RESULTS}/{relative}").read_text())
    entries = [({}, doc["baseline"]["loss"], doc["baseline"]["wandb_id"])]
    entries += [({a["param"]: a["value"]}, a["loss"], a["wandb_id"]) for a in doc.get("ablations", [])]
    runs, ids = [], set()
    for change, loss, run_id in entries:
        if loss is None or (run_id is not None and run_id in ids):
            continue
        ids.add(run_id)
        loss = float(loss)
        scored = DIVERGED if math.isnan(loss) or loss > DIVERGED else loss
        runs.append(({**doc["best_config"], **change}, scored, run_id))
    return runs


def _same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] if isinstance(a[k], (bool, str)) else math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=0.0)
        for k in a)


@pytest.mark.parametrize(("env_id", "relative"), [
    ("LLMConfig-Optimizer-AdamW-130M-x1-v0", "adamw/130m/1/result.json"),
    ("LLMConfig-Optimizer-AdamW-1.2B-x1-v0", "adamw/1.2b/1/result.json"),
    ("LLMConfig-Optimizer-Muon-520M-x1-v0", "muon/520m/1/result.json"),
    ("LLMConfig-Optimizer-MARS-520M-x1-v0", "mars/520m/1/result.json"),
    ("LLMConfig-Optimizer-Lion-520M-x2-v0", "lion/520m/2/result.json"),
])
def test_best_worst_and_best_config_match_the_json_file(env_id: str, relative: str) -> None:
    runs = _runs_by_hand(relative)
    problem = load_problem(env_id)
    best = min(runs, key=lambda r: r[1])
    assert len(problem.space) == len(runs)
    assert problem.best_value == pytest.approx(best[1], rel=1e-12)
    assert problem.worst_value == pytest.approx(max(r[1] for r in runs), rel=1e-12)
    assert _same_config(problem.best_config, best[0])


def test_real_values_of_named_cells() -> None:
    """Spot values: AdamW's best learning rate falls with size, as the study reports (0.008 -> 0.004 -> 0.002)."""
    require_data(f"{RESULTS}/adamw/1.2b/1/result.json")
    lrs = [load_problem(f"LLMConfig-Optimizer-AdamW-{s}-x1-v0").best_config["learning_rate"]
           for s in ("130M", "520M", "1.2B")]
    assert lrs == [0.008, 0.004, 0.002]
    assert load_problem(ADAMW_HIGH).best_value == pytest.approx(2.90427, abs=5e-6)
    assert load_problem("LLMConfig-Optimizer-Muon-520M-x1-v0").best_value == pytest.approx(3.07098, abs=5e-6)


def test_a_run_recorded_twice_counts_once_and_numbers_compare_numerically() -> None:
    path = require_data(f"{RESULTS}/mars/130m/1/result.json")
    doc = json.loads(path.read_text())
    baseline_id = doc["baseline"]["wandb_id"]
    credited = [k for k, v in doc["name"].items() if v == baseline_id]
    assert credited == ["Baseline", "epsilon=1e-30", "epsilon=1e-25"]
    frame = marin_result(path)
    with_loss = sum(v is not None for v in doc["result"].values())
    assert len(frame) == with_loss - 2
    assert (frame["run_id"] == baseline_id).sum() == 1
    assert doc["best_config"]["epsilon"] == 9.999999999999999e-26
    assert frame.loc[frame["ablation"] == "Baseline", "config/epsilon"].item() == 1e-25


def test_null_entries_are_dropped_and_nan_runs_kept_as_diverged() -> None:
    empty = marin_result(require_data(f"{RESULTS}/soape/130m/4/result.json"))
    assert empty.empty  # 22 entries, every loss null
    frame = marin_result(require_data(f"{RESULTS}/mars/520m/1/result.json"))
    nan_rows = frame[frame["loss"].isna()]
    assert list(nan_rows["ablation"]) == ["learning_rate"]
    problem = load_problem("LLMConfig-Optimizer-MARS-520M-x1-v0")
    baseline = json.loads(require_data(f"{RESULTS}/mars/520m/1/result.json").read_text())["best_config"]
    config = {**baseline, "learning_rate": 0.032}
    outcome = problem.evaluate(problem.space.canonicalize(config))
    assert outcome.metric == DIVERGED and math.isnan(outcome.details["raw_loss"])
    assert "LLMConfig-Optimizer-SOAPE-130M-x4-v0" not in load_registry().envs


def test_every_file_is_pinned_and_a_corrupted_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = load_registry().task("Optimizer").sources
    assert len(sources) == 150
    assert all(len(s.url.split("/")[5]) == 40 and len(s.sha256) == 64 for s in sources.values())
    source = sources["marin-optimizer/adamw/520m/x4"]
    assert source.url.endswith("/experiments/optimizer_sweep/Analysis/Results/adamw/520m/4/result.json")
    bad = tmp_path / "mirror" / source.path
    bad.parent.mkdir(parents=True)
    shutil.copy(require_data(source.path), bad)
    bad.write_bytes(bad.read_bytes().replace(b"2.958", b"2.959", 1))
    monkeypatch.setenv("LLMCONFIG_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LLMCONFIG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DataIntegrityError, match="refused"):
        data.read_table(source)


def test_config_space_follows_the_optimizer_and_shifts_with_fidelity() -> None:
    require_data(f"{RESULTS}/muon/130m/1/result.json")
    adamw = load_problem("LLMConfig-Optimizer-AdamW-130M-x1-v0").space
    muon = load_problem("LLMConfig-Optimizer-Muon-130M-x1-v0").space
    assert "muon_to_adam_lr" in muon.names and "muon_to_adam_lr" not in adamw.names
    assert "nesterov" in adamw.names and next(p for p in adamw.parameters if p.name == "nesterov").kind == "bool"
    big = load_problem(ADAMW_HIGH).space
    lr = {p.name: p.choices for p in adamw.parameters}["learning_rate"]
    lr_big = {p.name: p.choices for p in big.parameters}["learning_rate"]
    assert max(lr_big) < max(lr)


def test_bad_input_names_the_allowed_parameters_and_values() -> None:
    require_data(f"{RESULTS}/adamw/130m/1/result.json")
    env = gymnasium.make("LLMConfig-Optimizer-AdamW-130M-x1-v0", budget=2, on_invalid="ignore")
    env.reset(seed=0)
    best = load_problem("LLMConfig-Optimizer-AdamW-130M-x1-v0").best_config
    _, _, _, _, info = env.step(json.dumps({**best, "momentum": 0.9}))
    assert not info["valid"] and "momentum" in info["error"] and "learning_rate" in info["error"]
    _, _, _, _, info = env.step(json.dumps({**best, "learning_rate": 0.005}))
    assert not info["valid"] and "0.008" in info["error"] and "0.016" in info["error"]
    wrapped = MostSimilarConfig(gymnasium.make("LLMConfig-Optimizer-AdamW-130M-x1-v0", budget=1), metric="numeric")
    wrapped.reset(seed=0)
    _, _, _, _, info = wrapped.step(json.dumps({**best, "learning_rate": 0.0079}))
    assert info["valid"] and info["matched_config"]["learning_rate"] == 0.008


def test_suites_and_demonstrations_stay_within_one_optimizer() -> None:
    require_data(f"{RESULTS}/adamw/1.2b/1/result.json")
    suite = resolve_suite("l2h")
    optimizer_test = [e for e in suite.test if "-Optimizer-" in e]
    assert ADAMW_HIGH in optimizer_test and "LLMConfig-Optimizer-AdamW-130M-x1-v0" in suite.train
    assert not set(optimizer_test) & set(suite.train)
    demos = auto_demo_ids(ADAMW_HIGH)
    assert demos and all("-AdamW-" in d for d in demos)
    registry = load_registry()
    for env_id in optimizer_test:
        ladder = [e for e in registry.env_ids(task="Optimizer") if registry.env(e)[1].ladder
                  == registry.env(env_id)[1].ladder]
        compute = {e: registry.env(e)[1].metadata["compute_6ND"] for e in ladder}
        trained = [e for e in ladder if e in suite.train]
        assert compute[env_id] > max(compute[e] for e in trained)


@pytest.mark.parametrize("agent_name", ["random", "topk", "fidelity-transfer"])
def test_agents_play_an_optimizer_high_env(agent_name: str) -> None:
    require_data(f"{RESULTS}/adamw/1.2b/1/result.json")
    agent = make_agent(agent_name)
    if agent_name == "fidelity-transfer":
        agent.fit(TrainingSet.from_env_ids([e for e in resolve_suite("l2h").train if "-Optimizer-AdamW-" in e]))
    infos = run_episode(gymnasium.make(ADAMW_HIGH, budget=3), agent, seed=0)
    assert len(infos) == 3 and all(i["valid"] and not i["repeat"] for i in infos)
    assert 0.0 <= infos[-1]["normalized_regret"] <= 1.0 and np.isfinite(infos[-1]["normalized_regret"])


def test_cli_lists_verifies_and_pulls_each_pinned_file() -> None:
    from typer.testing import CliRunner

    from gymnasium_llmconfig.lab.cli import app

    require_data(f"{RESULTS}/adamw/520m/4/result.json")
    runner = CliRunner()
    result = runner.invoke(app, ["data", "status"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "marin-optimizer/adamw/520m/x4" in result.output
    assert "marin-optimizer/sophia/520m/x1" in result.output and "NO (refused)" not in result.output
    result = runner.invoke(app, ["data", "pull", "marin-optimizer/adamw/520m/x4"])
    assert result.exit_code == 0 and "ok" in result.output
    result = runner.invoke(app, ["envs", "--task", "Optimizer"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and ADAMW_HIGH in result.output


_VALUES = st.sampled_from([0.9, 0.95, 1e-25, 9.999999999999999e-26, 1, 1.0, 128, 256, True, "linear"])
_LOSSES = st.one_of(st.none(), st.just("NaN"), st.floats(2.0, 1e14), st.integers(3, 10**14))


@settings(max_examples=60, deadline=None)
@given(base=st.dictionaries(st.sampled_from(["lr", "wd", "eps", "bs"]), _VALUES, min_size=1),
       ablations=st.lists(st.tuples(st.sampled_from(["lr", "wd", "eps", "bs", "warmup"]), _VALUES, _LOSSES,
                                    st.one_of(st.none(), st.sampled_from(["run-a", "run-b", "run-c"]))), max_size=8),
       base_loss=_LOSSES)
def test_reader_keeps_one_row_per_distinct_run_with_a_loss(tmp_path_factory: pytest.TempPathFactory,
                                                           base: dict, ablations: list, base_loss: Any) -> None:
    doc = {"best_config": base, "baseline": {"loss": base_loss, "wandb_id": "run-base"},
           "ablations": [{"param": p, "value": v, "loss": loss, "wandb_id": r} for p, v, loss, r in ablations]}
    path = tmp_path_factory.mktemp("marin") / "result.json"
    path.write_text(json.dumps(doc))
    frame = marin_result(path)
    assert frame["loss"].map(lambda x: isinstance(x, float)).all()
    run_ids = frame["run_id"].dropna()
    assert run_ids.is_unique
    configs = frame.filter(like="config/").astype(str).apply(tuple, axis=1)
    assert configs.is_unique
    assert len(frame) <= sum(e is not None for e in [base_loss, *(a[2] for a in ablations)])
    assert (frame["ablation"] == "Baseline").sum() == (base_loss is not None)


def test_source_set_mistakes_are_named(tmp_path: Path) -> None:
    from gymnasium_llmconfig.registry import Registry, RegistryError, _load_file

    def load(files: str, lookup: str = "") -> None:
        path = tmp_path / "registry.yaml"
        path.write_text(f"""
source_sets:
  s:
    path: "x/{{file}}"
    url: "https://example.org/{{commit}}/{{file}}"
    fields: "(?P<opt>[a-z]+)/(?P<size>[0-9a-z]+)/r.json"
    {lookup}
    files: [{files}]
""")
        _load_file(path, Registry(), set())

    with pytest.raises(RegistryError, match="does not match its 'fields' pattern"):
        load("{file: adamw/r.json, commit: abc, sha256: def}")
    with pytest.raises(RegistryError, match=r"lookup\.size"):
        load("{file: adamw/7m/r.json, commit: abc, sha256: def}", "lookup: {size: {130m: {N: 1}}}")
    with pytest.raises(RegistryError, match="missing required key 'sha256'"):
        load("{file: adamw/7m/r.json, commit: abc}")
    source = data.DataSource(name="odd", path="marin/x.json", reader="xml")
    with pytest.raises(data.DataError, match="unknown reader 'xml'"):
        data.read_table(source)
