"""Static baselines (paper 003 App. B.2, E.1) and the ablations' settings, against a fake phase runner."""

from __future__ import annotations

import json

import pytest
from zero_trees import FakeRunner

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero import analysis, baselines, space
from gymnasium_llmconfig.lab.zero.settings import SearchSettings


def Settings(**kw) -> SearchSettings:
    return SearchSettings(**{"iterations": 3, **kw})


def test_methods_and_ablation_switches():
    assert baselines.METHODS == ("llmzero", "grid", "random", "practitioner", "no-multistage", "no-earlystop",
                                 "no-scratch")
    base = Settings()
    assert baselines.search_settings("llmzero", base) == base
    assert baselines.search_settings("no-multistage", base) == Settings(multi_stage=False)
    assert baselines.search_settings("no-earlystop", base) == Settings(early_stop=False)
    assert baselines.search_settings("no-scratch", base) == Settings(scratch_injection=False)
    with pytest.raises(InvalidArgument, match="not a search method"):
        baselines.search_settings("grid", base)
    assert baselines.check_methods(["grid", "llmzero", "grid"]) == ["grid", "llmzero"]
    with pytest.raises(InvalidArgument, match=r"unknown method\(s\) \['gird'\].*llmzero, grid"):
        baselines.check_methods(["llmzero", "gird"])


def test_static_configs():
    assert baselines.static_configs("practitioner", 16, 0) == [space.PRACTITIONER]
    grid = baselines.static_configs("grid", 16, 7)
    assert sorted(map(repr, grid)) == sorted(map(repr, space.grid_configs()))  # the whole grid, once each
    assert grid != space.grid_configs() and grid == baselines.static_configs("grid", 16, 7)  # shuffled, by seed
    assert baselines.static_configs("grid", 3, 7) == grid[:3]
    a, b = baselines.static_configs("random", 4, 1), baselines.static_configs("random", 4, 1)
    assert a == b and len(set(a)) == 4 and a != baselines.static_configs("random", 4, 2)
    with pytest.raises(InvalidArgument, match="not a static baseline"):
        baselines.static_configs("llmzero", 4, 0)


def test_run_static_writes_parentless_nodes_and_resumes(tmp_path):
    runner = FakeRunner(tmp_path)
    nodes = list(baselines.run_static("grid", tmp_path, runner, Settings(iterations=2), steps=4).nodes.values())
    assert [n.id for n in nodes] == ["t0", "t1"] and runner.released == ["t0", "t1"]
    assert all(n.parent is None and n.kind == "scratch" and n.resume_step == 0 for n in nodes)
    assert [spec.steps for _, spec in runner.calls] == [4, 4]
    assert all(spec.parent is None for _, spec in runner.calls)
    assert [n.iteration for n in nodes] == [0, 1]
    saved = json.loads((tmp_path / "tree.json").read_text())
    assert saved["settings"]["iterations"] == 2 and len(saved["nodes"]) == 2 and saved["best"] == "t0"
    assert [n.id for n in analysis.load_nodes(tmp_path)] == ["t0", "t1"]
    # a rerun with a larger budget keeps the two trials and runs only the third
    more = FakeRunner(tmp_path)
    nodes = list(baselines.run_static("grid", tmp_path, more, Settings(iterations=3), steps=4).nodes.values())
    assert [c[0] for c in more.calls] == ["t2"] and len(nodes) == 3
    assert nodes[2].config == baselines.static_configs("grid", 3, Settings().seed)[2].to_dict()
