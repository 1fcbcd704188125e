"""The search report: markdown and self-contained HTML from a hand-built tree.json and its traces."""

from __future__ import annotations

import re

from zero_trees import node, small_tree, write_tree

from gymnasium_llmconfig.lab.zero import report
from gymnasium_llmconfig.lab.zero.plots import BASE, tree_layout


def test_run_report_has_every_node_the_best_schedule_and_inline_figures(tmp_path):
    write_tree(tmp_path, small_tree())
    md, page = report.write_run_report(tmp_path)
    text = md.read_text()
    assert "c: 0.6 at step 30" in text
    for node_id in "rabcd":
        assert f"| {node_id} |" in text
    # the best path as a schedule: P1..P3, the transition's changed values starred
    assert re.search(r"\| P3 \| c \| 20 \| 10 \| 0.6 \| 0.45 \| 0.001\* \|", text)
    assert "Reversals: capacity 0, regularization 1" in text
    assert "1 of 5 (20%)" in text
    assert (tmp_path / "tree.png").stat().st_size > 1000 and (tmp_path / "schedule.png").exists()
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "src=\"http" not in html and "<link" not in html  # self-contained


def test_report_of_a_tree_without_scores_or_traces(tmp_path):
    write_tree(tmp_path, [node("x", None, 0, None, kind="root", status="failed")], traces=False)
    md, page = report.write_run_report(tmp_path)
    assert "No node has a validation score yet." in md.read_text()
    assert page.read_text().count("data:image/png") == 1  # the tree only


def test_tree_layout_centres_parents_over_children():
    pos = tree_layout(small_tree())
    # r's children are a (whose child is c) and b; the leaves c, b, d get x 0, 1, 2 in that order
    assert pos["c"] == (0, 3) and pos["a"] == (0, 2) and pos["b"] == (1, 2) and pos["d"] == (2, 1)
    assert pos["r"] == (0.5, 1) and pos[BASE] == (1.25, 0)


def test_tree_layout_hangs_an_injected_scratch_phase_under_its_anchor():
    nodes = small_tree()
    nodes[4].anchor = "c"  # d: a fresh start injected at the best node (§3.3)
    pos = tree_layout(nodes)
    assert pos["d"] == (0, 4) and pos["c"] == (0, 3)


def test_doc_escapes_pipes_in_markdown_and_markup_in_html(tmp_path):
    from gymnasium_llmconfig.lab.zero.doc import Doc

    doc = Doc("t")
    doc.table(["a|b"], [["<x>"]])
    md, page = doc.write(tmp_path, "d")
    assert "| a\\|b |" in md.read_text() and "&lt;x&gt;" in page.read_text()
