"""LLMZero's tree (paper 003 App. D.2-D.3, §3.2-3.3): every formula against numbers worked by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gymnasium_llmconfig.errors import InvalidArgument, StoreError
from gymnasium_llmconfig.lab.zero.settings import SearchSettings
from gymnasium_llmconfig.lab.zero.tree import NodeStats, Tree, q_value, shape, uct
from gymnasium_llmconfig.lab.zero.types import NodeRecord

S = SearchSettings()


def rec(node_id: str, *, parent: str | None = None, anchor: str | None = None, origin: str | None = None,
        kind: str = "evolve", status: str = "completed", score: float | None = 0.5) -> NodeRecord:
    """A finished node; an evolve node's parent, anchor and origin default to each other."""
    anchor = anchor if anchor is not None else parent
    return NodeRecord(
        id=node_id, parent=parent, kind=kind, iteration=int(node_id[1:]), resume_step=0, config={}, steps=4,
        status=status, score=score, best_step=None, test_score=None, validations=[], checkpoints=[2, 4],
        tokens=0, cpu_seconds=0.0, wall_seconds=0.0, trace=f"nodes/{node_id}/trace.jsonl",
        anchor=anchor, origin=origin if origin is not None else anchor)  # type: ignore[arg-type]


def tree_of(*nodes: NodeRecord, **settings: Any) -> Tree:
    tree = Tree(SearchSettings(**settings))
    for node in nodes:
        tree.add(node)
    return tree


def root(score: float | None = 0.5, status: str = "completed") -> NodeRecord:
    return rec("n0", kind="root", status=status, score=score)


# ----- eq. 7 --------------------------------------------------------------------------------------
def test_shape_eq7_by_hand() -> None:
    assert shape(0.0, 0.3) == 0.0
    assert shape(1.0, 0.3) == pytest.approx(1.0)
    # (e^(0.5/0.3) - 1) / (e^(1/0.3) - 1) = (5.29449 - 1) / (28.03162 - 1) = 4.29449 / 27.03162
    assert shape(0.5, 0.3) == pytest.approx(0.158869, abs=1e-6)
    # (e^(0.25/0.3) - 1) / 27.03162 = (2.30097 - 1) / 27.03162
    assert shape(0.25, 0.3) == pytest.approx(0.048128, abs=1e-6)
    # T = 1: (e^0.5 - 1) / (e - 1) = 0.648721 / 1.718282
    assert shape(0.5, 1.0) == pytest.approx(0.377541, abs=1e-6)


# ----- eq. 8 --------------------------------------------------------------------------------------
def test_q_eq8_without_penalties() -> None:
    # 2 validated of 2, mean ŝ 0.5: 2/2 * 0.158869 - 0 - 0
    assert q_value(NodeStats(2, 2, 0, 0, 0.5), S) == pytest.approx(0.158869, abs=1e-6)


def test_q_eq8_early_stop_penalty_and_forgiven_failure() -> None:
    # v_total 4, v_val 3, v_fail 1 (forgiven: max(0, 1 - 2) = 0), v_early 1, mean ŝ 0.5:
    # 3/4 * 0.158869 - 0.5 * 0/4 - 0.3 * 1/4 = 0.119152 - 0.075 = 0.044152
    assert q_value(NodeStats(4, 3, 1, 1, 0.5), S) == pytest.approx(0.044152, abs=1e-6)
    # exactly o_f = 2 failures are still forgiven: 2/4 * 1.0 - 0 = 0.5
    assert q_value(NodeStats(4, 2, 2, 0, 1.0), S) == pytest.approx(0.5)


def test_q_eq8_failure_penalty_beyond_of() -> None:
    # v_total 6, v_val 2, v_fail 4, mean ŝ 1: 2/6 * 1 - 0.5 * (4 - 2)/6 = 0.333333 - 0.166667
    assert q_value(NodeStats(6, 2, 4, 0, 1.0), S) == pytest.approx(1 / 6)
    # no validated node: only penalties, 0 - 0.5 * (3 - 2)/3 = -0.166667
    assert q_value(NodeStats(3, 0, 3, 0, 0.0), S) == pytest.approx(-1 / 6)


# ----- eqs. 5-6 -----------------------------------------------------------------------------------
def test_uct_eq5_and_virtual_child_eq6() -> None:
    # child: Q 0.5, N(p) 4, N(c) 2: 0.5 + 1.414 * sqrt(ln 4 / 2) = 0.5 + 1.414 * 0.832555 = 1.677232
    assert uct(0.5, 4, 2, 1.414) == pytest.approx(1.677232, abs=1e-6)
    # virtual child at p with N(p) 4 and k = 3 children: N_fair = 4/4 = 1; prior 0.2:
    # 0.2 + 1.414 * sqrt(ln 4 / 1) = 0.2 + 1.414 * 1.177410 = 1.864858
    assert uct(0.2, 4, 4 / (3 + 1), 1.414) == pytest.approx(1.864858, abs=1e-6)


def test_tree_statistics_and_virtual_uct_by_hand() -> None:
    # n0 (0.6) -> n1 (0.4, early-stopped), n2 (failed). Range [0.4, 0.6]: ŝ(n0) = 1, ŝ(n1) = 0.
    tree = tree_of(root(0.6), rec("n1", parent="n0", score=0.4, status="early-stopped"),
                   rec("n2", parent="n0", status="failed", score=None))
    assert tree.stats("n0") == NodeStats(v_total=3, v_val=2, v_fail=1, v_early=1, mean_score=0.5)
    # Q(n1) = 1/1 * f(0) - 0 - 0.3 * 1/1 = -0.3; UCT = -0.3 + 1.414 * sqrt(ln 3 / 1) = -0.3 + 1.482080
    assert tree.child_uct("n0", "n1") == pytest.approx(1.182080, abs=1e-6)
    # root has 2 evolve children: exhausted; n2 failed with no debug child yet is still open, so k = 2
    # non-terminal children: N_fair = 3/3 = 1, prior f(1) = 1: 1 + 1.482080
    assert tree.virtual_uct("n0") == pytest.approx(2.482080, abs=1e-6)


# ----- D.3 selection ------------------------------------------------------------------------------
def test_selection_expands_when_the_virtual_child_wins() -> None:
    # n0 (0.6) -> n1 (0.4). ŝ(n0) = 1, ŝ(n1) = 0, N(n0) = 2.
    # UCT(n1) = 0 + 1.414 * sqrt(ln 2 / 1) = 1.177232; UCT(new) = f(1) + 1.414 * sqrt(ln 2 / (2/2)) = 2.177232
    tree = tree_of(root(0.6), rec("n1", parent="n0", score=0.4))
    assert tree.virtual_uct("n0") == pytest.approx(2.177232, abs=1e-6)
    assert tree.child_uct("n0", "n1") == pytest.approx(1.177232, abs=1e-6)
    assert tree.select() == "n0"


def test_selection_descends_when_a_child_wins() -> None:
    # n0 (0.4) -> n1 (0.6): UCT(n1) = 1 + 1.177232 = 2.177232 > UCT(new) = f(0) + 1.177232
    tree = tree_of(root(0.4), rec("n1", parent="n0", score=0.6))
    assert tree.select() == "n1"  # n1 has no child yet: expand it


def test_selection_descends_from_an_exhausted_node_into_the_best_child() -> None:
    # n0 (0.6) -> n1 (0.4), n2 (0.5): ŝ 1, 0, 0.5; N(n0) = 3, root has its 2 evolve children.
    # UCT(n1) = 0 + 1.414 sqrt(ln 3) = 1.482080; UCT(n2) = f(0.5) + 1.482080 = 1.640949.
    # The virtual child (1 + 1.482080) would win, but the root may not grow: descend into n2.
    tree = tree_of(root(0.6), rec("n1", parent="n0", score=0.4), rec("n2", parent="n0", score=0.5))
    assert tree.child_uct("n0", "n2") == pytest.approx(1.640949, abs=1e-6)
    assert tree.exhausted("n0")
    assert tree.select() == "n2"


def test_selection_ties_go_to_the_older_child() -> None:
    # n0 (0.5) -> n1 (0.5), n2 (0.5): equal scores, ŝ = 1 everywhere, equal UCTs: n1.
    tree = tree_of(root(0.5), rec("n1", parent="n0"), rec("n2", parent="n0"))
    assert tree.child_uct("n0", "n1") == tree.child_uct("n0", "n2")
    assert tree.select() == "n1"


# ----- limits, re-parenting, terminality, injection -----------------------------------------------
def test_evolve_limit_counts_creations_not_scratch_children() -> None:
    tree = tree_of(root(), rec("n1", parent="n0"))
    assert not tree.exhausted("n0")
    tree.add(rec("n2", parent=None, anchor="n0", kind="scratch"))  # injected: does not count (§3.3)
    assert not tree.exhausted("n0")
    tree.add(rec("n3", parent="n0"))
    assert tree.exhausted("n0")
    assert [c.id for c in tree.children("n0")] == ["n1", "n2", "n3"]


def test_debug_limit_of_three_children() -> None:
    tree = tree_of(root(), rec("n1", parent="n0", status="failed", score=None))
    for i in (2, 3, 4):
        assert not tree.exhausted("n1")
        tree.add(rec(f"n{i}", parent="n0", anchor="n1", origin="n1", kind="debug", status="failed", score=None))
    assert tree.exhausted("n1")  # 3 debug children made


def test_debug_depth_limit_of_five() -> None:
    tree = tree_of(root(), rec("n1", parent="n0", status="failed", score=None))
    prev = "n1"
    for i in range(2, 7):  # debug depths 1..5
        assert not tree.exhausted(prev)
        tree.add(rec(f"n{i}", parent="n0", anchor=prev, origin=prev, kind="debug", status="failed", score=None))
        prev = f"n{i}"
    assert tree.debug_depth("n6") == 5
    assert tree.exhausted("n6")  # a sixth consecutive fix is not allowed
    assert not tree.exhausted("n5")  # depth 4, one debug child so far


def test_successful_fix_is_reparented_and_the_debug_chain_pruned() -> None:
    # n0 -> n1 (failed) -> n2 (debug, failed) -> n3 (debug, fixed); n1 also had n4 (debug, failed) below.
    tree = tree_of(root(0.5), rec("n1", parent="n0", status="failed", score=None),
                   rec("n2", parent="n0", anchor="n1", kind="debug", status="failed", score=None),
                   rec("n4", parent="n0", anchor="n1", kind="debug", status="failed", score=None))
    tree.add(rec("n3", parent="n0", anchor="n2", kind="debug", score=0.7))
    assert tree.nodes["n3"].anchor == "n0"  # sibling of n1, the chain's oldest failed node
    assert tree.nodes["n3"].origin == "n2"  # who created it never changes
    assert tree.nodes["n2"].pruned and tree.nodes["n4"].pruned
    assert not tree.nodes["n1"].pruned and not tree.nodes["n3"].pruned
    assert [c.id for c in tree.children("n0")] == ["n1", "n3"]
    assert tree.fixed("n1") and tree.exhausted("n1") and tree.nodes["n1"].terminal  # fixed: no more debugging
    assert tree.stats("n0") == NodeStats(v_total=3, v_val=2, v_fail=1, v_early=0, mean_score=0.5)
    assert [n.id for n in tree.path_to("n3")] == ["n0", "n3"]


def test_a_fix_of_the_root_stays_under_the_root() -> None:
    tree = tree_of(root(None, "failed"),
                   rec("n1", parent=None, anchor="n0", kind="debug", status="failed", score=None))
    tree.add(rec("n2", parent=None, anchor="n1", kind="debug", score=0.3))
    assert tree.nodes["n2"].anchor == "n0" and tree.nodes["n1"].pruned
    assert tree.select() == "n2"  # the root is fixed (exhausted), its only live child is open
    assert [n.id for n in tree.path_to("n2")] == ["n2"]


def test_terminality_propagates_upward_and_selection_skips_terminal_subtrees() -> None:
    # max_debug 0: a failed node can never grow, so it is terminal at once.
    # n0 -> n1 (0.9) -> n3, n4 (both failed) ; n0 -> n2 (0.1)
    tree = tree_of(root(0.5), rec("n1", parent="n0", score=0.9), rec("n2", parent="n0", score=0.1),
                   rec("n3", parent="n1", status="failed", score=None),
                   rec("n4", parent="n1", status="failed", score=None), max_debug=0)
    assert tree.nodes["n3"].terminal and tree.nodes["n4"].terminal
    assert tree.nodes["n1"].terminal  # fully expanded, every child terminal
    assert not tree.nodes["n0"].terminal
    assert tree.select() == "n2"  # n1 scores best but its subtree is out of selection
    tree.add(rec("n5", parent="n2", status="failed", score=None))
    tree.add(rec("n6", parent="n2", status="failed", score=None))
    assert tree.nodes["n2"].terminal and tree.nodes["n0"].terminal
    assert tree.select() is None


def test_scratch_injection_trigger() -> None:
    # the root counts as a scratch phase: 1/5 = 0.2 is not < 0.2; 1/6 = 0.167 is; 2/6 = 0.333 is not
    tree = tree_of(root())
    assert not tree.needs_scratch()  # no evolve node yet
    for i in range(1, 6):
        tree.add(rec(f"n{i}", parent=f"n{i - 1}" if i > 1 else "n0"))
    assert not tree.needs_scratch()
    tree.add(rec("n6", parent="n5"))
    assert tree.needs_scratch()
    tree.add(rec("n7", parent=None, anchor="n6", kind="scratch"))
    assert not tree.needs_scratch()


def test_best_node_ignores_failed_and_pruned_nodes() -> None:
    tree = tree_of(root(0.5), rec("n1", parent="n0", status="failed", score=0.9),
                   rec("n2", parent="n0", score=0.7, status="early-stopped"), rec("n3", parent="n2", score=0.7))
    assert tree.best_node().id == "n2"  # type: ignore[union-attr]  # n3 ties: the older wins
    assert Tree(S).best_node() is None


def test_save_load_round_trip(tmp_path: Any) -> None:
    tree = tree_of(root(0.5), rec("n1", parent="n0", status="failed", score=None),
                   rec("n2", parent="n0", anchor="n1", kind="debug", score=0.6), c=2.0)
    path = tree.save(tmp_path / "tree.json")
    back = Tree.load(path)
    assert back.settings == tree.settings and back.to_dict() == tree.to_dict()
    assert back.to_dict()["best"] == "n2" and back.nodes["n2"].anchor == "n0"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(StoreError, match=r"bad\.json"):
        Tree.load(tmp_path / "bad.json")


def test_settings_reject_bad_values_with_their_names() -> None:
    with pytest.raises(InvalidArgument, match="iterations=0"):
        SearchSettings(iterations=0)
    assert SearchSettings.from_dict(SearchSettings(seed=3).to_dict()) == SearchSettings(seed=3)
    assert math.isclose(SearchSettings().c, 1.414)
