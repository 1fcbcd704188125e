"""The pretraining collector end to end on a tiny sweep (seconds on one CPU core)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from gymnasium_llmconfig.lab.collect import sweep as sweep_mod
from gymnasium_llmconfig.lab.collect.cli import collect_app
from gymnasium_llmconfig.lab.collect.corpus import CorpusParams, make_corpus
from gymnasium_llmconfig.lab.collect.model import GPTConfig, TinyGPT, count_params, non_embedding_params
from gymnasium_llmconfig.lab.collect.runner import open_run_log, read_records
from gymnasium_llmconfig.lab.collect.sweep import COLUMNS, CollectError, collect, load_spec, parse_spec
from gymnasium_llmconfig.lab.collect.train import RunConfig, lr_at, run

ABSURD_LR = 1000.0
TINY = {
    "task": {"name": "Tiny", "title": "tiny sweep", "description": "a test sweep"},
    "corpus": {"train_tokens": 32768, "val_tokens": 2048, "stream_len": 1024, "seed": 1},
    "train": {"seq_len": 32, "seed": 0},
    "models": {"A": {"n_layer": 1, "d_model": 16, "n_head": 2}},
    "tokens": [4000],
    "lrs": [3.0e-3, 3.0e-2, ABSURD_LR],
    "batch_sizes": [4, 8],
}
N_RUNS = 6

runner = CliRunner()


def _write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def _table(out: Path) -> list[dict[str, str]]:
    with (out / "runs.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny sweep run once through the CLI: (spec path, output dir)."""
    root = tmp_path_factory.mktemp("sweep")
    spec = _write_spec(root / "sweep.yaml", TINY)
    out = root / "out"
    result = runner.invoke(collect_app, ["pretrain", "--spec", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return spec, out


def test_table_has_one_row_per_run_with_all_columns(swept: tuple[Path, Path]) -> None:
    _, out = swept
    rows = _table(out)
    assert len(rows) == N_RUNS
    assert tuple(rows[0]) == COLUMNS
    assert len({r["run_id"] for r in rows}) == N_RUNS
    assert (out / "runs.csv").stat().st_mode & 0o044 == 0o044  # readable by others, like any written file
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok, rows
    for r in ok:
        curve = json.loads(r["loss_curve"])
        assert 1 <= len(curve) <= 50 and curve[-1][0] == int(r["steps"])
        assert float(r["final_loss"]) < math.log(256)
        assert r["device"] == "cpu" and r["torch_version"] == torch.__version__
        assert len(r["corpus_sha256"]) == 64 and r["error"] == ""
        assert int(r["tokens_per_step"]) == int(r["batch_size"]) * 32
        assert int(r["steps"]) == 4000 // int(r["tokens_per_step"])


def test_best_row_is_argmin_of_final_loss(swept: tuple[Path, Path]) -> None:
    _, out = swept
    rows = [r for r in _table(out) if r["status"] != "failed"]
    best = min(rows, key=lambda r: float(r["final_loss"]))
    assert float(best["lr"]) != ABSURD_LR
    assert all(float(best["final_loss"]) <= float(r["final_loss"]) for r in rows)


def test_absurd_lr_is_recorded_as_diverged(swept: tuple[Path, Path]) -> None:
    _, out = swept
    diverged = [r for r in _table(out) if float(r["lr"]) == ABSURD_LR]
    assert len(diverged) == 2
    for r in diverged:
        assert r["status"] == "diverged"
        assert float(r["final_loss"]) == pytest.approx(math.log(256), abs=1e-4)


def test_registry_fragment_schema(swept: tuple[Path, Path]) -> None:
    _, out = swept
    frag = yaml.safe_load((out / "registry.yaml").read_text())
    (task,) = frag["tasks"]
    assert list(task) == [
        "name",
        "title",
        "description",
        "format",
        "metric",
        "parameters",
        "details",
        "cost",
        "sources",
        "fidelities",
    ]
    assert task["name"] == "Tiny" and task["format"] == "table"
    assert task["metric"]["column"] == "final_loss" and task["metric"]["direction"] == "minimize"
    assert [p["name"] for p in task["parameters"]] == ["lr", "batch_size"]
    assert task["details"] == ["final_raw_loss", "val_loss", "tokens_per_step", "steps", "status"]
    (source,) = task["sources"]
    assert (out / source["file"]).is_file()
    (fid,) = task["fidelities"]
    assert fid["env_id"] == "LLMConfig-Tiny-A-D4K-v0"
    assert fid["role"] == "low"
    assert fid["select"] == {"model": "A", "tokens": 4000}
    assert fid["metadata"] == {
        "n_params": non_embedding_params(1, 16),
        "tokens": 4000,
        "n_layer": 1,
        "d_model": 16,
        "n_head": 2,
    }


def test_second_run_skips_every_finished_run(swept: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spec, out = swept
    lines_before = (out / "runs.jsonl").read_text()

    def no_training(*args: object, **kwargs: object) -> dict:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep_mod, "run", no_training)
    result = runner.invoke(collect_app, ["pretrain", "--spec", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{N_RUNS} already done, 0 ran" in " ".join(result.output.split())
    assert (out / "runs.jsonl").read_text() == lines_before
    assert len(_table(out)) == N_RUNS


def test_truncated_last_line_is_ignored_and_rerun(swept: tuple[Path, Path], tmp_path: Path) -> None:
    spec, out = swept
    work = tmp_path / "out"
    work.mkdir()
    text = (out / "runs.jsonl").read_text()
    (work / "runs.jsonl").write_text(text[: len(text) - 40])  # a kill in the middle of the last write
    assert len(read_records(work / "runs.jsonl")) == N_RUNS - 1

    summary = collect(load_spec(spec), work)
    assert (summary.skipped, summary.ran) == (N_RUNS - 1, 1)
    lines = (work / "runs.jsonl").read_text().splitlines()
    assert len(lines) == N_RUNS and all(json.loads(line) for line in lines)
    assert len(_table(work)) == N_RUNS


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text('{"run_id": "a"}\nnot json\n{"run_id": "b"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_run_is_deterministic_on_cpu() -> None:
    corpus = make_corpus(CorpusParams(**TINY["corpus"]))
    cfg = RunConfig("A", 1, 16, 2, tokens=4000, lr=1e-2, batch_size=4, seq_len=32)
    a, b = run(cfg, corpus), run(cfg, corpus)
    assert a["final_loss"] == b["final_loss"] and a["loss_curve"] == b["loss_curve"]


def test_exception_is_a_failed_outcome(tmp_path: Path) -> None:
    spec = {**TINY, "corpus": {**TINY["corpus"], "val_tokens": 16}, "lrs": [1e-2], "batch_sizes": [4]}
    summary = collect(parse_spec(spec), tmp_path)
    assert summary.statuses == {"failed": 1}
    (row,) = _table(tmp_path)
    assert row["status"] == "failed" and row["final_loss"] == ""
    assert "validation split" in row["error"]


def test_roles_follow_compute_thirds() -> None:
    spec = parse_spec({**TINY, "tokens": [4000, 8000, 16000]})
    roles = {sweep_mod.cell_label(c): spec.role(c) for c in spec.cells()}
    assert roles == {"A-D4K": "low", "A-D8K": "medium", "A-D16K": "high"}
    explicit = parse_spec({**TINY, "tokens": [4000, 8000, 16000], "roles": {"A-D8K": "high"}})
    assert [explicit.role(c) for c in explicit.cells()] == ["low", "high", "high"]


def test_corpus_is_deterministic_and_hashed() -> None:
    params = CorpusParams(**TINY["corpus"])
    a = make_corpus(params)
    make_corpus.cache_clear()
    b = make_corpus(params)
    assert a.sha256 == b.sha256 and (a.train == b.train).all()
    assert make_corpus(CorpusParams(**{**TINY["corpus"], "seed": 2})).sha256 != a.sha256
    assert len(a.train) == 32768 and len(a.val) == 2048 and int(a.train.max()) < 256


def test_param_count_and_schedule() -> None:
    model = TinyGPT(GPTConfig(vocab_size=256, seq_len=32, n_layer=3, d_model=48, n_head=3))
    assert count_params(model) == non_embedding_params(3, 48)
    cfg = RunConfig("A", 1, 16, 2, tokens=100 * 128, lr=1.0, batch_size=4, seq_len=32)
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert lrs[4] == pytest.approx(1.0) and lrs[0] < lrs[4]  # 5% of 100 steps of warmup
    assert lrs[-1] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": [1e-3]}, "unknown key(s) in spec: ['lr']"),
        ({"models": {"A": {"n_layer": 1, "d_model": 16}}}, "missing key(s) in models.A"),
        ({"lrs": [1e-3, -1]}, "distinct positive numbers"),
        ({"train": {"seq_len": 32, "warmup": 0.1}}, "unknown key(s) in train"),
        ({"corpus": {"vocab": 256}}, "bad corpus parameters"),
    ],
)
def test_bad_spec_is_a_clear_error(change: dict, message: str) -> None:
    with pytest.raises(CollectError) as err:
        parse_spec({**TINY, **change})
    assert message in str(err.value)


def test_cli_user_errors_have_no_traceback(tmp_path: Path) -> None:
    missing = runner.invoke(collect_app, ["pretrain", "--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)])
    assert missing.exit_code == 2
    assert "spec file not found" in missing.output and "Traceback" not in missing.output

    bad = _write_spec(tmp_path / "bad.yaml", {**TINY, "epochs": 3})
    result = runner.invoke(collect_app, ["pretrain", "--spec", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown key(s) in spec: ['epochs']" in result.output

    spec = _write_spec(tmp_path / "ok.yaml", TINY)
    result = runner.invoke(collect_app, ["pretrain", "--spec", str(spec), "--out", str(tmp_path), "--device", "tpu"])
    assert result.exit_code == 2 and "unknown device 'tpu'" in result.output
    if not torch.cuda.is_available():
        result = runner.invoke(
            collect_app, ["pretrain", "--spec", str(spec), "--out", str(tmp_path), "--device", "cuda"]
        )
        assert result.exit_code == 2 and "CUDA is not available" in result.output


@pytest.mark.slow
def test_ray_workers_write_every_result(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = parse_spec({**TINY, "lrs": [3.0e-3, 3.0e-2]})
    summary = collect(spec, tmp_path, workers=2)
    assert (summary.ran, summary.skipped) == (4, 0)
    assert len(read_records(tmp_path / "runs.jsonl")) == 4
    assert collect(spec, tmp_path, workers=2).ran == 0


def test_one_collector_per_output_directory(tmp_path: Path) -> None:
    writer = open_run_log(tmp_path / "runs.jsonl")
    try:
        with pytest.raises(CollectError, match="another collector"):
            collect(parse_spec(TINY), tmp_path)
    finally:
        writer.close()


def test_collected_table_becomes_an_env(swept: tuple[Path, Path]) -> None:
    """Registered through $LLMCONFIG_REGISTRY with no code: exhaustive querying finds the table's argmin."""
    import os
    import subprocess
    import sys

    _, out = swept
    rows = [r for r in _table(out) if r["status"] != "failed"]
    best = min(rows, key=lambda r: float(r["final_loss"]))
    code = (
        "import gymnasium, json, gymnasium_llmconfig\n"
        "env_id = [i for i in gymnasium_llmconfig.register_envs() if 'Tiny' in i][0]\n"
        "space = gymnasium.make(env_id).unwrapped.card.space\n"
        "configs = space.enumerate()\n"
        "env = gymnasium.make(env_id, budget=len(configs))\n"
        "env.reset(seed=0)\n"
        "seen = []\n"
        "for c in configs:\n"
        "    _, _, _, _, info = env.step(json.dumps(c))\n"
        "    seen.append((info['metric'], c))\n"
        "print(json.dumps(min(seen, key=lambda t: t[0])))\n"
    )
    env = {**os.environ, "LLMCONFIG_REGISTRY": str(out)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    metric, config = json.loads(result.stdout.strip().splitlines()[-1])
    assert metric == pytest.approx(float(best["final_loss"]))
    assert config == {"lr": pytest.approx(float(best["lr"])), "batch_size": int(best["batch_size"])}
