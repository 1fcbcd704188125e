"""Algorithm 1 (paper 003 App. D.1) over a fake deterministic runner and proposer: limits, debug, injection,
ablations, checkpoint release, and resume after a kill."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zero_fakes import ROOT, BehindStopper, FakeProposer, FakeRunner, Killed

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.zero.search import SearchSettings, run_search
from gymnasium_llmconfig.lab.zero.tree import Tree
from gymnasium_llmconfig.lab.zero.types import PhaseConfig


def search(tmp: Path, iterations: int = 16, proposer: FakeProposer | None = None, stopper: Any = None,
           root: PhaseConfig = ROOT, runner: FakeRunner | None = None, **settings: Any) -> tuple[Tree, FakeRunner]:
    runner = runner or FakeRunner(tmp)
    tree = run_search(tmp, runner, proposer or FakeProposer(), stopper,
                      SearchSettings(iterations=iterations, default_steps=4, **settings), root_config=root)
    return tree, runner


def test_scratch_injection_happens_when_the_ratio_drops_below_rho_min(tmp_path: Path) -> None:
    proposer = FakeProposer()
    tree, _ = search(tmp_path, proposer=proposer)
    kinds = [n.kind for n in tree.nodes.values()]
    # root + 6 evolve (1/6 < 0.2) -> scratch; 5 more evolve (2/11 < 0.2) -> scratch; 2 evolve = 16 phases
    assert kinds == ["root"] + ["evolve"] * 6 + ["scratch"] + ["evolve"] * 5 + ["scratch"] + ["evolve"] * 2
    for node_id in ("n7", "n13"):
        node = tree.nodes[node_id]
        ctx = proposer.contexts[node.iteration - 1]
        assert ctx.mode == "scratch" and ctx.checkpoints == []  # checkpoints withheld (§3.3)
        assert node.parent is None and node.resume_step == 0
        # injected under the best node of the tree as it was then
        before = Tree(tree.settings, [n for n in tree.nodes.values() if n.iteration < node.iteration])
        assert node.anchor == before.best_node().id  # type: ignore[union-attr]
    assert json.loads((tmp_path / "tree.json").read_text())["nodes"][7]["parent"] is None


def test_limits_hold_and_failures_get_debug_children(tmp_path: Path) -> None:
    failing_root = replace(ROOT, rollouts=16)  # the root fails: the first move must be a fix
    proposer = FakeProposer(rollouts=(4, 16))
    tree, runner = search(tmp_path, iterations=24, proposer=proposer, root=failing_root)
    nodes = list(tree.nodes.values())
    assert nodes[0].status == "failed" and nodes[1].kind == "debug" and nodes[1].parent is None
    assert proposer.contexts[0].mode == "debug" and proposer.contexts[0].parent_result.failure.startswith("memory")
    assert any(n.kind == "debug" and n.origin != "n0" for n in nodes)
    for node in nodes:
        assert tree.expansions(node.id, "evolve") <= 2 and tree.expansions(node.id, "debug") <= 3
        assert tree.debug_depth(node.id) <= 5
        if node.origin is not None and node.kind != "scratch":
            assert (tree.nodes[node.origin].status == "failed") == (node.kind == "debug")
        if node.kind == "debug" and node.parent is not None:  # resumes where its chain's first failure did
            assert node.parent == tree.chain_start(node.origin).parent  # type: ignore[arg-type]
        if node.parent is not None:
            assert node.resume_step in tree.nodes[node.parent].checkpoints
    assert len(runner.calls) == 24


def test_stopper_sees_the_best_finished_phase_and_the_early_stop_ablation(tmp_path: Path) -> None:
    stopper = BehindStopper()
    tree, runner = search(tmp_path / "a", iterations=10, stopper=stopper)
    statuses = [n.status for n in tree.nodes.values()]
    assert "early-stopped" in statuses
    for node_id, _, watched, best_score in runner.calls:
        earlier = [n.score for n in tree.nodes.values() if n.iteration < int(node_id[1:]) and n.score is not None]
        assert watched and best_score == (max(earlier) if earlier else None)
    off, runner_off = search(tmp_path / "b", iterations=10, stopper=BehindStopper(), early_stop=False)
    assert not any(watched for _, _, watched, _ in runner_off.calls)
    assert all(n.status == "completed" for n in off.nodes.values())


def test_without_multi_stage_every_phase_starts_from_scratch(tmp_path: Path) -> None:
    proposer = FakeProposer()
    tree, _ = search(tmp_path, iterations=8, proposer=proposer, multi_stage=False)
    assert all(n.parent is None and n.resume_step == 0 for n in tree.nodes.values())
    assert all(ctx.checkpoints == [] for ctx in proposer.contexts)
    assert len({json.dumps(n.config, sort_keys=True) for n in tree.nodes.values()}) > 1  # configs still adapt


def test_without_injection_no_scratch_phase(tmp_path: Path) -> None:
    tree, _ = search(tmp_path, scratch_injection=False)
    assert len(tree.nodes) == 16 and not any(n.kind == "scratch" for n in tree.nodes.values())


def test_resume_step_is_snapped_to_a_saved_checkpoint_and_recorded(tmp_path: Path) -> None:
    tree, _ = search(tmp_path, iterations=3, proposer=FakeProposer(offset=1))
    n1 = tree.nodes["n1"]
    # the root saved steps 2 and 4; the proposer asked for 5: snapped to 4, the request recorded
    assert tree.nodes["n0"].checkpoints == [2, 4]
    assert (n1.resume_step, n1.resume_requested) == (4, 5)


def test_checkpoints_no_live_node_needs_are_released(tmp_path: Path) -> None:
    tree, runner = search(tmp_path, iterations=10)
    best = tree.best_node()
    assert best is not None
    for node in tree.nodes.values():
        kept = runner.released.get(node.id, set(node.checkpoints))
        if node.id == best.id:
            assert best.best_step in kept
        elif tree.exhausted(node.id):
            assert kept == set(), node.id  # fully expanded, not the best: nothing to resume from
        else:
            assert kept == set(node.checkpoints)


def test_a_killed_search_resumes_to_the_same_tree(tmp_path: Path) -> None:
    stopper = BehindStopper
    whole, _ = search(tmp_path / "whole", proposer=FakeProposer(rollouts=(4, 16)), stopper=stopper())
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        search(out, proposer=FakeProposer(rollouts=(4, 16)), stopper=stopper(), runner=FakeRunner(out, kill_at="n6"))
    assert len(json.loads((out / "tree.json").read_text())["nodes"]) == 6  # valid, the 6 finished phases
    assert (out / "nodes" / "n6" / "trace.jsonl").exists() and (out / "checkpoints" / "n6").exists()
    resumed, runner = search(out, proposer=FakeProposer(rollouts=(4, 16)), stopper=stopper())
    assert runner.calls[0][0] == "n6"  # only the unfinished phases run again
    assert resumed.to_dict() == whole.to_dict()
    assert "partial" not in (out / "nodes" / "n6" / "trace.jsonl").read_text()
    assert not (out / "checkpoints" / "n6").exists()


def test_other_settings_against_an_existing_tree_are_refused_more_iterations_extend_it(tmp_path: Path) -> None:
    search(tmp_path / "a", iterations=4)
    with pytest.raises(InvalidArgument, match=r"seed=0, not seed=1"):
        search(tmp_path / "a", iterations=4, seed=1)
    with pytest.raises(InvalidArgument, match=r"already holds 4 phases; .* iterations \(not 3\)"):
        search(tmp_path / "a", iterations=3)
    extended, _ = search(tmp_path / "a", iterations=7)
    direct, _ = search(tmp_path / "b", iterations=7)
    assert extended.to_dict() == direct.to_dict()


def test_trace_files_are_written_for_every_node(tmp_path: Path) -> None:
    tree, _ = search(tmp_path, iterations=3)
    for node in tree.nodes.values():
        rows = [json.loads(line) for line in (tmp_path / node.trace).read_text().splitlines()]
        assert rows and rows[-1]["step"] == node.resume_step + node.steps


def test_with_the_heuristic_proposer_the_extrapolation_stopper_and_the_practitioner_root(tmp_path: Path) -> None:
    from gymnasium_llmconfig.lab.zero import space
    from gymnasium_llmconfig.lab.zero.proposer import HeuristicProposer
    from gymnasium_llmconfig.lab.zero.stopper import ExtrapolationStopper

    runner = FakeRunner(tmp_path)
    tree = run_search(tmp_path, runner, HeuristicProposer(), ExtrapolationStopper(min_steps=2),
                      SearchSettings(iterations=16, default_steps=6))
    nodes = list(tree.nodes.values())
    assert len(nodes) == 16 and nodes[0].config == space.PRACTITIONER.to_dict()
    assert all(n.proposer == "heuristic" for n in nodes[1:])
    for node in nodes:
        assert space.clamp_config(node.config)[1] == []  # every proposal inside the allowed ranges
        if node.parent is not None:
            assert node.resume_step in tree.nodes[node.parent].checkpoints
    assert tree.best_node() is not None


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), fail_share=st.sampled_from([(4,), (4, 16), (4, 4, 16), (16,)]),
       max_evolve=st.integers(1, 3), max_debug=st.integers(0, 3), max_debug_depth=st.integers(0, 5),
       iterations=st.integers(1, 30), multi_stage=st.booleans())
def test_tree_invariants_hold_for_any_search(seed: int, fail_share: tuple[int, ...], max_evolve: int,
                                             max_debug: int, max_debug_depth: int, iterations: int,
                                             multi_stage: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree, _ = search(Path(tmp), iterations=iterations, proposer=FakeProposer(rollouts=fail_share), seed=seed,
                         max_evolve=max_evolve, max_debug=max_debug, max_debug_depth=max_debug_depth,
                         multi_stage=multi_stage)
    nodes = list(tree.nodes.values())
    assert 1 <= len(nodes) <= iterations
    if len(nodes) < iterations:  # ended early: nothing could grow and nothing validated to restart from
        assert tree.select() is None
    order = {n.id: i for i, n in enumerate(nodes)}
    for node in nodes:
        assert tree.expansions(node.id, "evolve") <= max_evolve and tree.expansions(node.id, "debug") <= max_debug
        assert tree.debug_depth(node.id) <= max_debug_depth
        if node.pruned:
            assert node.kind == "debug" and node.status == "failed"
        if node.kind == "debug" and node.status != "failed":
            assert tree.nodes[node.anchor].status != "failed" or node.anchor == "n0"  # type: ignore[index]
        for ref in (node.parent, node.anchor, node.origin):
            assert ref is None or order[ref] < order[node.id]
        if node.parent is not None:
            assert multi_stage and node.resume_step in tree.nodes[node.parent].checkpoints
        up = node
        while up.anchor is not None and not node.pruned:  # every live node hangs from the root through live nodes
            up = tree.nodes[up.anchor]
            assert not up.pruned
        assert up.id == "n0" or node.pruned
