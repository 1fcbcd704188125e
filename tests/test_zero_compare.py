"""The comparison's summary (paper 003 §4: equal iterations, equal compute, intervals over seeds, paired
differences to grid) on hand-built trees, its report, and its argument checks."""

from __future__ import annotations

import json
import math

import pytest
from zero_trees import node, small_tree, write_tree

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero import compare
from gymnasium_llmconfig.lab.zero.report import write_compare_report

T_975_DF1 = 12.706204736174707  # Student t quantile 0.975 with 1 degree of freedom


def _grid(best: float, best_test: float):
    return [node("t0", None, 0, 0.4 if best > 0.4 else 0.2, kind="scratch", test=0.3, cpu=10),
            node("t1", None, 1, best, kind="scratch", test=best_test, cpu=10)]


@pytest.fixture
def cmp_dir(tmp_path):
    write_tree(tmp_path / "grid" / "seed0", _grid(0.5, 0.35))
    write_tree(tmp_path / "grid" / "seed1", _grid(0.6, 0.5))
    for seed in (0, 1):
        write_tree(tmp_path / "llmzero" / f"seed{seed}", small_tree())
    for done in tmp_path.glob("*/seed*"):
        (done / compare.DONE).write_text("{}")
    write_tree(tmp_path / "random" / "seed0", small_tree())  # unfinished: left out of the summary
    return tmp_path


def test_summary_by_hand(cmp_dir):
    s = compare.summarize(cmp_dir, ["llmzero", "grid", "random"], [0, 1], iterations=2)
    assert s["runs"]["random"] == {} and s["table"]["random"]["best_val"]["n"] == 0
    # llmzero after iterations 0-1 (r, a): val 0.5, test 0.4; grid's totals (20 s) set the equal-compute budget
    assert s["equal_compute_budget"] == {"0": 20.0, "1": 20.0}
    run = s["runs"]["llmzero"]["0"]
    assert (run["best_val"], run["test_at_best"]) == (0.5, 0.4)
    assert (run["eq_compute_val"], run["eq_compute_test"]) == (0.3, 0.25)  # only r finished within 20 s
    assert run["path"] == ["r", "a", "c"] and run["regularization_reversals"] == 1
    assert s["runs"]["grid"]["1"]["eq_compute_val"] == 0.6
    grid = s["table"]["grid"]["best_val"]
    half = T_975_DF1 * math.sqrt(0.005) / math.sqrt(2)  # values 0.5, 0.6: sample std sqrt(0.005)
    assert grid["mean"] == pytest.approx(0.55) and grid["high"] == pytest.approx(0.55 + half)
    # paired test differences llmzero - grid: 0.4 - 0.35, 0.4 - 0.5
    diff = s["vs_grid"]["llmzero"]["test_at_best"]
    assert diff["mean"] == pytest.approx(-0.025) and diff["n"] == 2
    assert s["vs_grid"]["grid"]["best_val"]["mean"] == 0
    # curves: every seed has a value at iteration 0 and 1; the CPU grid spans 0..40 s (llmzero's total),
    # each method's curve from its first finished node to its own total
    assert [p[0] for p in s["curves"]["iteration"]["llmzero"]["best_val"]] == [0, 1]
    cpu = s["curves"]["cpu_seconds"]["grid"]["best_val"]
    assert cpu[0][0] >= 10 and cpu[-2][1] == pytest.approx(0.4)  # t0 (0.4 in both seeds) ends at 10 s
    assert cpu[-1][:2] == [20, pytest.approx(0.55)]  # t1 at 20 s
    assert s["curves"]["cpu_seconds"]["llmzero"]["best_val"][-1][:2] == [pytest.approx(40), 0.6]
    assert json.loads((cmp_dir / "summary.json").read_text())["runs"]["grid"]["0"]["nodes"] == 2


def test_compare_report(cmp_dir):
    s = compare.summarize(cmp_dir, ["llmzero", "grid", "random"], [0, 1], iterations=2)
    md, page = write_compare_report(cmp_dir, s)
    text = md.read_text()
    assert "| llmzero | 2 | 0.5 [0.5, 0.5] |" in text
    assert "r → a → c" in text
    assert "| random | 0 | - | - | - |" in text  # no finished job yet
    assert page.read_text().count("data:image/png;base64,") == 4


def test_equal_compute_budget_leaves_the_single_practitioner_run_out():
    assert compare.equal_compute_budget({"practitioner": 5.0, "grid": 20.0, "llmzero": 30.0}) == 20.0
    assert compare.equal_compute_budget({"practitioner": 5.0}) == 5.0


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    calls = []
    kwargs = dict(live={}, search={"iterations": 2}, full_steps=4, prepare=lambda live: calls.append(live))
    with pytest.raises(InvalidArgument, match="unknown method"):
        compare.compare(tmp_path, ["llmzero", "bogus"], 1, **kwargs)
    with pytest.raises(InvalidArgument, match="--seeds must be at least 1"):
        compare.compare(tmp_path, ["grid"], 0, **kwargs)
    with pytest.raises(InvalidArgument, match="not both"):
        compare.compare(tmp_path, ["grid"], 1, workers=2, address="auto", **kwargs)
    assert calls == [] and not any(tmp_path.iterdir())


def test_plan_one_job_per_method_and_seed(tmp_path):
    jobs = compare.plan(tmp_path, ["llmzero", "grid"], [0, 1], {"family": "add3"}, {"iterations": 2}, 4)
    assert [(j.method, j.seed) for j in jobs] == [("llmzero", 0), ("llmzero", 1), ("grid", 0), ("grid", 1)]
    assert jobs[3].out_dir == str(tmp_path / "grid" / "seed1")
    assert jobs[3].live == {"family": "add3", "seed": 1} and jobs[3].search == {"iterations": 2, "seed": 1}
    assert not jobs[0].done


def test_compare_runs_every_job_in_process_skips_done_ones_and_reports(tmp_path):
    from zero_trees import fake_runner

    done, prepared = [], []
    kwargs = dict(live={"family": "add3"}, search={"iterations": 3, "default_steps": 4}, full_steps=6,
                  workers=0, make_runner=fake_runner, prepare=prepared.append,
                  on_done=lambda job, info: done.append((job.method, job.seed, info["nodes"])))
    s = compare.compare(tmp_path, ["llmzero", "no-multistage", "grid", "practitioner"], 2, **kwargs)
    assert sorted(done) == [("grid", 0, 3), ("grid", 1, 3), ("llmzero", 0, 3), ("llmzero", 1, 3),
                            ("no-multistage", 0, 3), ("no-multistage", 1, 3),
                            ("practitioner", 0, 1), ("practitioner", 1, 1)]
    assert prepared == [{"family": "add3"}]  # the base is built once, in the driver
    trees = {m: compare.analysis.load_nodes(tmp_path / m / "seed0") for m in ("llmzero", "no-multistage")}
    assert trees["llmzero"][0].kind == "root" and any(n.parent for n in trees["llmzero"])
    assert all(n.parent is None for n in trees["no-multistage"])  # the ablation never resumes
    assert s["runs"]["practitioner"]["1"]["cpu_seconds"] == 6.0  # one full run of 6 fake steps at 1 s each
    assert (tmp_path / "report.html").is_file() and (tmp_path / "summary.json").is_file()
    # a rerun finds every job done: nothing runs, the base is not rebuilt, the summary is rewritten
    done.clear(), prepared.clear()
    again = compare.compare(tmp_path, ["llmzero", "no-multistage", "grid", "practitioner"], 2, **kwargs)
    assert done == [] and prepared == [] and again["table"] == s["table"]


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    from zero_trees import fake_runner

    kwargs = dict(live={"family": "add3"}, full_steps=4, workers=0, make_runner=fake_runner)
    compare.compare(tmp_path, ["grid"], 1, search={"iterations": 1, "default_steps": 4}, **kwargs)
    with pytest.raises(InvalidArgument, match=r"other settings \(search: was .*'iterations': 1"):
        compare.compare(tmp_path, ["grid"], 1, search={"iterations": 2, "default_steps": 4}, **kwargs)
    compare.compare(tmp_path, ["grid", "practitioner"], 2, search={"iterations": 1, "default_steps": 4}, **kwargs)
    assert (tmp_path / "practitioner" / "seed1" / "done.json").is_file()
