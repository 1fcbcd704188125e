"""Paper 003 §4.2-4.3 statistics against hand-computed values on a hand-built tree (tests/zero_trees.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zero_trees import small_tree, write_tree

from gymnasium_llmconfig.errors import InvalidArgument, StoreError
from gymnasium_llmconfig.lab.zero import analysis
from gymnasium_llmconfig.lab.zero.space import CAPACITY, REGULARIZATION

T_975_DF2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (any t table)


def test_best_node_and_path_follow_validation_not_test():
    nodes = small_tree()
    assert analysis.best_node(nodes).id == "c"
    assert [n.id for n in analysis.best_path(nodes)] == ["r", "a", "c"]
    assert [n.id for n in analysis.path_to(nodes, "b")] == ["r", "b"]
    # a node with a higher test but lower validation never becomes the incumbent
    nodes[2].test_score = 0.99
    assert analysis.best_so_far(nodes)[-1].test_at_best == 0.45
    assert analysis.best_node([]) is None and analysis.best_path([]) == []


def test_best_so_far_is_a_step_function_of_iteration_and_compute():
    curve = analysis.best_so_far(small_tree())
    assert [(p.iteration, p.tokens, p.cpu_seconds, p.best_val, p.test_at_best) for p in curve] == [
        (0, 100, 10.0, 0.3, 0.25), (1, 220, 22.0, 0.5, 0.4), (2, 260, 26.0, 0.5, 0.4),
        (3, 410, 38.0, 0.6, 0.45), (4, 420, 40.0, 0.6, 0.45)]
    assert analysis.at_iteration(curve, 2).best_val == 0.5
    assert analysis.at_iteration(curve, 99).best_val == 0.6
    assert analysis.at_iteration(curve, -1) is None
    assert analysis.at_compute(curve, 30).best_val == 0.5  # nodes finished by 26 CPU s; c ends at 38
    assert analysis.at_compute(curve, 38).best_val == 0.6
    assert analysis.at_compute(curve, 5) is None


def test_ties_keep_the_earlier_incumbent():
    nodes = small_tree()
    nodes[3].score, nodes[3].test_score = 0.5, 0.1  # c ties a
    assert analysis.best_node(nodes).id == "a"
    assert analysis.best_so_far(nodes)[-1].test_at_best == 0.4


def test_early_stop_rate_and_compute_saved():
    stats = analysis.early_stop_stats(small_tree())
    # b planned 10 steps from step 5, stopped at its validation at step 10: 5 run, 5 saved at 4/5 CPU s each
    assert analysis.steps_run(small_tree()[2]) == 5
    assert (stats.nodes, stats.stopped, stats.rate) == (5, 1, 0.2)
    assert stats.saved_cpu_seconds == pytest.approx(4.0)
    assert stats.saved_tokens == pytest.approx(40.0)
    assert stats.spent_cpu_seconds == pytest.approx(40.0)
    assert stats.saved_share == pytest.approx(4 / 44)


def test_reversals_count_sign_changes_of_nonzero_moves():
    assert analysis.reversals([1, 2, 2, 3]) == 0
    assert analysis.reversals([1, 2, 1, 2]) == 2
    assert analysis.reversals([3, 3, 3]) == 0
    assert analysis.reversals([1e-3, 2e-3, 2e-3, 5e-4]) == 1
    assert analysis.reversals([True, False, True]) == 1
    assert analysis.reversals([]) == 0


@given(st.lists(st.integers(-5, 5), max_size=12))
def test_reversals_are_symmetric_and_zero_for_monotone(values):
    assert analysis.reversals(values) == analysis.reversals(values[::-1])
    assert analysis.reversals(sorted(values)) == 0
    assert 0 <= analysis.reversals(values) <= max(len(values) - 2, 0)


def test_path_stats_on_the_best_path():
    stats = analysis.path_stats(analysis.best_path(small_tree()))
    # lr 1e-3 -> 2e-3 -> 1e-3 reverses once; kl 0.01 -> 0.02 -> 0.02 and rollouts 4 -> 4 -> 8 do not
    assert stats.reversals["lr"] == 1 and stats.reversals["kl_coef"] == 0 and stats.reversals["rollouts"] == 0
    assert stats.group_reversals(REGULARIZATION) == 1
    assert stats.group_reversals(CAPACITY) == 0
    assert stats.changes_per_transition == [2, 2] and stats.mean_changes == 2
    assert (stats.improving, stats.transitions, stats.improving_share) == (2, 2, 1.0)
    single = analysis.path_stats(small_tree()[:1])
    assert single.transitions == 0 and math.isnan(single.improving_share)


def test_t_interval_by_hand():
    iv = analysis.t_interval([1.0, 2.0, 3.0])
    half = T_975_DF2 * 1.0 / math.sqrt(3)  # sample std of 1, 2, 3 is 1
    assert (iv.mean, iv.n) == (2.0, 3)
    assert iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    one = analysis.t_interval([0.5, None])
    assert one.mean == 0.5 and one.n == 1 and math.isnan(one.low)
    assert one.to_dict() == {"mean": 0.5, "low": None, "high": None, "n": 1}
    assert analysis.t_interval([]).n == 0


def test_paired_difference_uses_common_seeds_only():
    iv = analysis.paired_difference({0: 0.5, 1: 0.7, 2: 0.6}, {0: 0.4, 1: 0.5, 2: 0.6, 3: 0.9})
    # differences 0.1, 0.2, 0.0: mean 0.1, sample std 0.1
    assert iv.n == 3 and iv.mean == pytest.approx(0.1)
    assert iv.high - iv.mean == pytest.approx(T_975_DF2 * 0.1 / math.sqrt(3))


def test_load_nodes_round_trip_and_bad_input(tmp_path):
    write_tree(tmp_path, small_tree())
    assert [n.id for n in analysis.load_nodes(tmp_path)] == ["r", "a", "b", "c", "d"]
    with pytest.raises(InvalidArgument, match="does not exist"):
        analysis.load_nodes(tmp_path / "missing")
    (tmp_path / "tree.json").write_text("{}")
    with pytest.raises(StoreError, match="cannot read the search tree"):
        analysis.load_nodes(tmp_path)
