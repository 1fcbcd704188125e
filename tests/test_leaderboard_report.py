"""Leaderboard report: ranking and exact means in the markdown, a self-contained HTML, valid PNGs, atomic writes."""

from __future__ import annotations

import base64
import math
import os
import re
from pathlib import Path

import pytest

from gymnasium_llmconfig import storage
from gymnasium_llmconfig.lab.leaderboard.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REGRET = {"good": 0.1, "llm": 0.3, "bad": 0.5}
TASKS = {"Pretrain": ["LLMConfig-Pretrain-A-v0", "LLMConfig-Pretrain-B-v0"], "Arch": ["LLMConfig-Arch-GPTL-v0"]}
EXPECTED_FILES = {"leaderboard.md", "leaderboard.html", "regret_vs_budget.png",
                  "regret_vs_budget_Pretrain.png", "regret_vs_budget_Arch.png", "regret_vs_budget_paper.png"}


def _row(agent: str, task: str, env_id: str, budget: int, seed: int) -> dict:
    regret = REGRET[agent]
    text = agent == "llm"
    return {
        "agent": agent, "env_id": env_id, "task": task, "role": "high", "budget": budget, "seed": seed,
        "normalized_regret": regret, "rank_percentile": math.nan if task == "Arch" else 1.0 - regret,
        "outcome_reward": -regret, "episode_return": -regret,
        "execution_rate": 0.75 if text else 0.123, "unique_config_rate": 0.625 if text else 0.456,
        "best_metric": 1.0, "wall_s": 2.0, "text_agent": text, "steps": [{"ignored": True}],
    }


def _rows() -> list[dict]:
    return [
        _row(agent, task, env_id, budget, seed)
        for agent in REGRET for task, envs in TASKS.items() for env_id in envs
        for budget in (1, 2, 3) for seed in (0, 1)
    ]


def _table(markdown: str, heading: str) -> list[list[str]]:
    """Data rows (cells stripped of bold) of the first table after ``heading``."""
    section = markdown.split(f"{heading}\n", 1)[1]
    lines = [line for line in section.split("\n\n#", 1)[0].splitlines() if line.startswith("|")]
    return [[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("report")
    written = write_report(_rows(), out, run_info={"suite": "l2h", "wall_s": 75.0})
    return out, written


def test_markdown_ranks_best_agent_first_with_exact_means(full: tuple[Path, dict[str, Path]]) -> None:
    markdown = full[1]["markdown"].read_text()
    overall = _table(markdown, "## Overall")
    assert [row[:2] for row in overall] == [["1", "good"], ["2", "llm"], ["3", "bad"]]
    assert overall[0][2:] == ["0.100 ± 0.000"] * 4  # T=1..3 and the mean over budgets
    assert overall[2][-1] == "0.500 ± 0.000"
    assert "**0.100 ± 0.000**" in markdown and "**0.500" not in markdown  # only the best is bold
    for task in TASKS:
        assert [row[1] for row in _table(markdown, f"### {task}")] == ["good", "llm", "bad"]
        assert f"![{task}: normalized regret vs budget](regret_vs_budget_{task}.png)" in markdown
    assert "- **Suite**: l2h" in markdown and "- **Wall time**: 1m 15.0s" in markdown
    assert "- **Episodes**: 54" in markdown and "- **Seeds**: 0, 1" in markdown
    assert "0 = the agent found the table's best config, 1 = the worst; lower is better" in markdown


def test_rank_percentile_leaves_out_tables_without_ranks(full: tuple[Path, dict[str, Path]]) -> None:
    markdown = full[1]["markdown"].read_text()
    ranks = _table(markdown, "## Rank percentile")
    assert ranks[0] == ["good"] + ["0.900 ± 0.000"] * 4  # Arch's NaN ranks do not dilute the mean


def test_rates_table_shows_text_agents_only(full: tuple[Path, dict[str, Path]]) -> None:
    markdown = full[1]["markdown"].read_text()
    rates = _table(markdown, "## Text agents: execution and unique-config rates")
    assert rates == [["llm", "0.750 ± 0.000", "0.625 ± 0.000"]]
    assert "0.123" not in markdown and "0.456" not in markdown


def test_html_is_self_contained_with_embedded_pngs(full: tuple[Path, dict[str, Path]]) -> None:
    page = full[1]["html"].read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and not re.search(r"<script[^>]+src", page)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # overall, one per task and the §5 regret
    assert all(base64.b64decode(data).startswith(PNG_MAGIC) for data in images)
    assert page.count('<table class="sortable">') == 7 and "<script>" in page  # 5 + the two paper views
    assert 'data-v="0.1"' in page and '<td class="best" data-v="0.1">0.100 ± 0.000</td>' in page


def test_pngs_are_valid_and_no_temp_files_remain(full: tuple[Path, dict[str, Path]]) -> None:
    out, written = full
    assert set(os.listdir(out)) == EXPECTED_FILES
    assert {path.name for path in written.values()} == EXPECTED_FILES
    for name in EXPECTED_FILES - {"leaderboard.md", "leaderboard.html"}:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)


def test_partial_results_render(tmp_path: Path) -> None:
    rows = [r for r in _rows() if not (r["agent"] == "bad" and r["budget"] == 3)]
    rows = [r for r in rows if not (r["agent"] == "good" and r["budget"] == 2 and r["seed"] == 1)]
    rows += [_row("bad", "Pretrain", "LLMConfig-Pretrain-A-v0", 1, 0) | {"agent": "solo", "normalized_regret": 0.9}]
    markdown = write_report(rows, tmp_path)["markdown"].read_text()
    overall = {row[1]: row for row in _table(markdown, "## Overall")}
    assert overall["good"][3] == "0.100 (n=1)"  # one seed left at T=2: no std
    assert overall["bad"][4] == "-"
    assert overall["solo"][2:] == ["0.900 (n=1)", "-", "-", "0.900 (n=1)"]
    assert set(os.listdir(tmp_path)) == EXPECTED_FILES


def test_without_text_agents_or_rows_says_not_available(tmp_path: Path) -> None:
    rows = [r for r in _rows() if r["agent"] != "llm"]
    markdown = write_report(rows, tmp_path / "a")["markdown"].read_text()
    assert "## Text agents: execution and unique-config rates" in markdown
    assert "n/a" in markdown.split("## Text agents", 1)[1]
    empty = write_report([], tmp_path / "b")
    assert empty["html"].is_file() and empty["regret_vs_budget"].read_bytes().startswith(PNG_MAGIC)


def test_failed_write_keeps_previous_report_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_report(_rows(), tmp_path)
    before = (tmp_path / "leaderboard.md").read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report([r for r in _rows() if r["agent"] != "good"], tmp_path)
    assert (tmp_path / "leaderboard.md").read_bytes() == before
    assert set(os.listdir(tmp_path)) == EXPECTED_FILES
