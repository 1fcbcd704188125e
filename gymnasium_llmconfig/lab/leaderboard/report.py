"""Leaderboard report from benchmark episode rows: ``leaderboard.md``, one self-contained ``leaderboard.html`` and PNGs.

Numbers come from :func:`gymnasium_llmconfig.metrics.summarize` per agent, so the
report averages exactly like the metrics module: per seed, envs within a task,
then tasks (each task weighs the same); mean and std are over seeds. Every file
is written to a temp file in ``out_dir`` and moved into place, so a crash (or a
reader polling a running benchmark) never sees a half-written report.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.lab.leaderboard.plots import (
    Style,
    agent_styles,
    regret_vs_budget_png,
)
from gymnasium_llmconfig.lab.leaderboard.row import LeaderboardRow
from gymnasium_llmconfig.lab.leaderboard.views import comparison_regret_rows, footnote2_rows, shifted_tasks
from gymnasium_llmconfig.metrics import summarize
from gymnasium_llmconfig.storage import atomic_write

ALL = 0  # pseudo budget under which every budget's episodes are pooled (real budgets are >= 1)
MEAN_COLUMN = "Mean over T"
REGRET_NOTE = (
    "Normalized regret = |table best - best value found| / |table best - table worst|, clipped to [0, 1]: "
    "0 = the agent found the table's best config, 1 = the worst; lower is better."
)
CELL_NOTE = (
    "Cells: mean ± std over seeds; a seed's value averages the envs of a task, then the tasks (each task weighs "
    f"the same). {MEAN_COLUMN} pools the episodes of every budget. Bold: best in its column. "
    "(n=k): only k seeds; -: no result."
)
RANK_NOTE = (
    "Rank percentile of the best config found: share of the env's configs it beats or ties (1 = the table's best; "
    "higher is better). Envs without a finite table (Arch) are left out."
)
RATES_NOTE = (
    "Text agents only (Table 4 of the paper): execution rate = proposals naming a config of the space / budget; "
    "unique-config rate = distinct such configs / budget. Pooled over budgets; higher is better."
)
PAPER_NOTE = (
    "Paper 000 §5's regret: per env, |best - best value found| / |best - worst| with best and worst the best and "
    "worst scores any agent of this report evaluated there (any budget, any seed), clipped to [0, 1]. It answers "
    "'how close did each agent get, relative to the others', and depends on which agents are compared."
)
FOOTNOTE2_NOTE = (
    "Paper 000 footnote 2: the §5 regret averaged as above, but on tasks with a configuration-space shift "
    "(the registry's space_shift: {tasks}) topk's episodes are replaced by random's, since replaying the "
    "training configs cannot transfer to a disjoint space."
)
NA = "n/a: no results for this section in this run."
_LABELS = {
    "suite": "Suite", "agents": "Agents", "tasks": "Tasks", "envs": "Environments", "budgets": "Budgets",
    "seeds": "Seeds", "episodes": "Episodes", "episode_time_s": "Episode time (sum)", "wall_s": "Wall time",
}


@dataclass(frozen=True)
class Cell:
    """Mean and sample std (NaN for one seed) over ``n`` seeds of one agent in one column; ``n == 0``: no result."""

    mean: float = math.nan
    std: float = math.nan
    n: int = 0


Summary = dict[tuple[str, str, int], Cell]  # (level, name, budget) -> cell


@dataclass(frozen=True)
class Table:
    """Agents (best first) by numeric columns; ``ranks`` only where the table ranks agents."""

    columns: tuple[str, ...]
    agents: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]
    higher_is_better: bool = False
    ranks: Mapping[str, int] | None = None

    def cell(self, agent: str, column: str) -> Cell:
        return self.cells.get((agent, column), Cell())

    def is_best(self, agent: str, column: str) -> bool:
        means = [c.mean for (_, col), c in self.cells.items() if col == column and math.isfinite(c.mean)]
        value = self.cell(agent, column).mean
        if not means or not math.isfinite(value):
            return False
        best = max(means) if self.higher_is_better else min(means)
        return abs(value - best) <= 1e-12

    @property
    def n_max(self) -> int:
        return max((c.n for c in self.cells.values()), default=0)


@dataclass(frozen=True)
class Section:
    """A heading, a note under it, its table (or the ``missing`` line instead) and the figure file it embeds."""

    heading: str
    table: Table | None
    note: str = ""
    figure: str | None = None
    level: int = 2
    missing: str = ""


def write_report(
    rows: Sequence[LeaderboardRow | Mapping[str, Any]],
    out_dir: Path,
    *,
    title: str = "LLMConfig-Gym leaderboard",
    run_info: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the report files into ``out_dir``; return them by role (``markdown``, ``html``, and each PNG's stem).

    ``rows`` are :class:`LeaderboardRow` objects or their stored dicts.
    """
    rows = [r if isinstance(r, LeaderboardRow) else LeaderboardRow.from_dict(r) for r in rows]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections, figures = _build(rows)
    info = _run_info(rows, run_info or {})
    written: dict[str, Path] = {}
    for name, png in figures.items():
        written[Path(name).stem] = _write_atomic(out_dir / name, png)
    written["markdown"] = _write_atomic(out_dir / "leaderboard.md", _markdown(title, info, sections).encode())
    written["html"] = _write_atomic(out_dir / "leaderboard.html", _html(title, info, sections, figures).encode())
    return written


def _build(rows: Sequence[LeaderboardRow]) -> tuple[list[Section], dict[str, bytes]]:
    """Summaries per agent, then the tables and figures of every section."""
    by_agent: dict[str, list[LeaderboardRow]] = {}
    for row in rows:
        by_agent.setdefault(row.agent, []).append(row)
    budgets = sorted({r.budget for r in rows})
    tasks = sorted({r.task for r in rows})
    regret = {a: _summary(rs, "normalized_regret") for a, rs in by_agent.items()}
    regret_all = {a: _summary(rs, "normalized_regret", pooled=True) for a, rs in by_agent.items()}
    styles = agent_styles(list(by_agent))

    figures: dict[str, bytes] = {}
    overall = _budget_table(regret, regret_all, ("overall", "overall"), budgets, ranked=True)
    figures["regret_vs_budget.png"] = _figure(overall, budgets, "Normalized regret vs budget: overall", styles)
    sections = [Section("Overall", overall, figure="regret_vs_budget.png")]
    for task in tasks:
        table = _budget_table(regret, regret_all, ("task", task), budgets, ranked=True)
        name = f"regret_vs_budget_{_slug(task)}.png"
        figures[name] = _figure(table, budgets, f"Normalized regret vs budget: {task}", styles)
        sections.append(Section(task, table, figure=name, level=3))
    if tasks:
        sections.insert(1, Section("Per task", None, level=2))

    ranked_rows = {a: [r for r in rs if _finite(r.rank_percentile)] for a, rs in by_agent.items()}
    ranked_rows = {a: rs for a, rs in ranked_rows.items() if rs}
    rank_table = None
    if ranked_rows:
        rank = {a: _summary(rs, "rank_percentile") for a, rs in ranked_rows.items()}
        rank_all = {a: _summary(rs, "rank_percentile", pooled=True) for a, rs in ranked_rows.items()}
        rank_table = _budget_table(rank, rank_all, ("overall", "overall"), budgets, higher_is_better=True)
    sections.append(Section("Rank percentile", rank_table, RANK_NOTE, missing=NA))
    sections += _paper_sections(rows, budgets, styles, figures)

    text_agents = {a: rs for a, rs in by_agent.items() if any(r.text_agent for r in rs)}
    rates_table = None
    if text_agents:
        key = ("overall", "overall", ALL)
        columns = {
            label: {a: _summary(rs, metric, pooled=True).get(key, Cell()) for a, rs in text_agents.items()}
            for label, metric in (("Execution rate", "execution_rate"), ("Unique-config rate", "unique_config_rate"))
        }
        rates_table = _table(columns, sort_by="Execution rate", higher_is_better=True)
    sections.append(Section("Text agents: execution and unique-config rates", rates_table, RATES_NOTE, missing=NA))
    return sections, figures


def _paper_sections(rows: Sequence[LeaderboardRow], budgets: Sequence[int], styles: Mapping[str, Style],
                    figures: dict[str, bytes]) -> list[Section]:
    """The §5 regret (with its figure) and the footnote-2 aggregate, overall (see :mod:`.views`)."""
    paper = comparison_regret_rows(rows)
    shifted = shifted_tasks({r.task for r in rows})
    views = [("Paper regret (§5)", paper, PAPER_NOTE, "regret_vs_budget_paper.png"),
             ("Paper aggregate (footnote 2)", footnote2_rows(paper, shifted),
              FOOTNOTE2_NOTE.format(tasks=", ".join(sorted(shifted)) or "none here"), None)]
    sections = []
    for heading, view_rows, note, figure in views:
        table = None
        if view_rows:
            by_agent: dict[str, list[LeaderboardRow]] = {}
            for row in view_rows:
                by_agent.setdefault(row.agent, []).append(row)
            per_budget = {a: _summary(rs, "normalized_regret") for a, rs in by_agent.items()}
            pooled = {a: _summary(rs, "normalized_regret", pooled=True) for a, rs in by_agent.items()}
            table = _budget_table(per_budget, pooled, ("overall", "overall"), budgets, ranked=True)
            if figure:
                figures[figure] = _figure(table, budgets, f"{heading}: overall", styles)
        sections.append(Section(heading, table, note, figure=figure if table else None, missing=NA))
    return sections


def _summary(rows: Sequence[LeaderboardRow], metric: str, *, pooled: bool = False) -> Summary:
    """``summarize`` of one agent's rows, keyed for lookup; ``pooled`` puts every budget under :data:`ALL`."""
    slim = [
        {"env_id": r.env_id, "task": r.task, "seed": r.seed, "budget": ALL if pooled else r.budget,
         metric: float(getattr(r, metric))}
        for r in rows if _finite(getattr(r, metric))
    ]
    frame = summarize(slim, metric)
    return {
        (level, str(name), int(budget)): Cell(float(mean), float(std), int(n))
        for level, name, budget, mean, std, n in frame.itertuples(index=False)
    }


def _budget_table(
    per_budget: Mapping[str, Summary],
    pooled: Mapping[str, Summary],
    scope: tuple[str, str],
    budgets: Sequence[int],
    *,
    higher_is_better: bool = False,
    ranked: bool = False,
) -> Table:
    """Columns ``T=b`` per budget plus the pooled mean, for one scope (overall or a task)."""
    columns = {f"T={b}": _column(per_budget, (*scope, b)) for b in budgets}
    columns[MEAN_COLUMN] = _column(pooled, (*scope, ALL))
    return _table(columns, sort_by=MEAN_COLUMN, higher_is_better=higher_is_better, ranked=ranked)


def _column(summaries: Mapping[str, Summary], key: tuple[str, str, int]) -> dict[str, Cell]:
    return {agent: summary[key] for agent, summary in summaries.items() if key in summary}


def _table(
    columns: Mapping[str, Mapping[str, Cell]], *, sort_by: str, higher_is_better: bool = False, ranked: bool = False
) -> Table:
    """Sort agents best first by ``sort_by`` (missing last); competition ranks (1, 1, 3) when ``ranked``."""
    def score(agent: str) -> float:
        return columns[sort_by].get(agent, Cell()).mean

    def key(agent: str) -> tuple[bool, float, str]:
        value = score(agent)
        finite = math.isfinite(value)
        return (not finite, (-value if higher_is_better else value) if finite else 0.0, agent)

    agents = tuple(sorted({a for column in columns.values() for a in column}, key=key))
    cells = {(a, name): cell for name, column in columns.items() for a, cell in column.items()}
    ranks = None
    if ranked:
        scores = {a: score(a) for a in agents if math.isfinite(score(a))}
        sign = -1.0 if higher_is_better else 1.0
        ranks = {a: 1 + sum(sign * s < sign * v for s in scores.values()) for a, v in scores.items()}
    return Table(tuple(columns), agents, cells, higher_is_better, ranks)


def _figure(table: Table, budgets: Sequence[int], title: str, styles: Mapping[str, Style]) -> bytes:
    series = {
        agent: [(b, table.cell(agent, f"T={b}").mean, table.cell(agent, f"T={b}").std) for b in budgets]
        for agent in table.agents
    }
    return regret_vs_budget_png(series, title=title, styles=styles)


def _run_info(rows: Sequence[LeaderboardRow], run_info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Header lines: the suite first, then what the rows show, then the caller's keys (which win on a clash)."""
    agents = list(dict.fromkeys(r.agent for r in rows))
    derived: dict[str, Any] = {
        "agents": agents,
        "tasks": sorted({r.task for r in rows}),
        "envs": len({r.env_id for r in rows}),
        "budgets": sorted({r.budget for r in rows}),
        "seeds": sorted({r.seed for r in rows}, key=lambda s: (s is None, s if s is not None else 0)),
        "episodes": len(rows),
        "episode_time_s": math.fsum(r.wall_s for r in rows),
    }
    merged = {"suite": run_info["suite"]} if "suite" in run_info else {}
    merged.update(derived)
    merged.update(run_info)
    return [(_LABELS.get(key, key), _format_info(key, value)) for key, value in merged.items()]


def _format_info(key: str, value: Any) -> str:
    if key.endswith("_s") and isinstance(value, (int, float)) and math.isfinite(value):
        minutes, seconds = divmod(float(value), 60.0)
        hours, minutes = divmod(int(minutes), 60)
        return f"{hours}h {minutes:02d}m {seconds:04.1f}s" if hours else f"{minutes}m {seconds:04.1f}s"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(map(str, value)) + (f" ({len(value)})" if key == "agents" else "")
    return str(value)


def _format_cell(cell: Cell, n_max: int) -> str:
    if cell.n == 0 or not math.isfinite(cell.mean):
        return "-"
    text = f"{cell.mean:.3f}" + (f" ± {cell.std:.3f}" if math.isfinite(cell.std) else "")
    return text + (f" (n={cell.n})" if cell.n < n_max else "")


def _markdown(title: str, info: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    lines = [f"# {title}", "", *(f"- **{label}**: {value}" for label, value in info), "", REGRET_NOTE, "", CELL_NOTE]
    for section in sections:
        lines += ["", f"{'#' * section.level} {section.heading}", ""]
        if section.note:
            lines += [section.note, ""]
        if section.table is not None:
            lines += _md_table(section.table)
        elif section.missing:
            lines.append(section.missing)
        if section.figure:
            lines += ["", f"![{section.heading}: normalized regret vs budget]({section.figure})"]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


def _md_table(table: Table) -> list[str]:
    ranked = table.ranks is not None
    head = (["Rank"] if ranked else []) + ["Agent", *table.columns]
    align = (["---:"] if ranked else []) + [":---"] + ["---:"] * len(table.columns)
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for agent in table.agents:
        cells = []
        for column in table.columns:
            text = _format_cell(table.cell(agent, column), table.n_max)
            cells.append(f"**{text}**" if table.is_best(agent, column) else text)
        rank = [str(table.ranks.get(agent, "-"))] if table.ranks is not None else []
        lines.append("| " + " | ".join([*rank, agent.replace("|", "\\|"), *cells]) + " |")
    return lines


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin-top:0}h2{border-bottom:2px solid #d8dce3;padding-bottom:4px;margin-top:36px}
dl.info{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dl.info dt{font-weight:600}dl.info dd{margin:0}
p.note{color:#4a5263;font-size:.92em}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;font-size:.92em;box-shadow:0 1px 2px #0001}
th,td{padding:5px 10px;border-bottom:1px solid #e5e8ee;text-align:right;white-space:nowrap}
th{background:#eef0f4;cursor:pointer;user-select:none}th:hover{background:#e1e5ec}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.agent,th.agent{text-align:left}td.best{font-weight:700;background:#e7f5ea}
tbody tr:hover{background:#f3f6fb}
img{max-width:100%;height:auto;background:#fff;border:1px solid #e5e8ee}
"""

_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.dir !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? "asc" : "desc";
      var body = table.tBodies[0];
      var value = function (row) {
        var cell = row.cells[col];
        return cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = value(a), y = value(b), nx = parseFloat(x), ny = parseFloat(y);
        if (isNaN(nx) || isNaN(ny)) {
          if (x === "" || y === "") { return x === y ? 0 : (x === "" ? 1 : -1); }
          if (!isNaN(nx) || !isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
          return asc ? x.localeCompare(y) : y.localeCompare(x);
        }
        return asc ? nx - ny : ny - nx;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _html(
    title: str, info: Sequence[tuple[str, str]], sections: Sequence[Section], figures: Mapping[str, bytes]
) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>", '<dl class="info">',
        *(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in info),
        "</dl>", f'<p class="note">{esc(REGRET_NOTE)}</p>',
        f'<p class="note">{esc(CELL_NOTE)} Click a header to sort.</p>',
    ]
    for section in sections:
        parts.append(f"<h{section.level}>{esc(section.heading)}</h{section.level}>")
        if section.note:
            parts.append(f'<p class="note">{esc(section.note)}</p>')
        if section.table is not None:
            parts.append(_html_table(section.table))
        elif section.missing:
            parts.append(f"<p>{esc(section.missing)}</p>")
        if section.figure:
            data = base64.b64encode(figures[section.figure]).decode("ascii")
            alt = esc(f"{section.heading}: normalized regret vs budget")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"></figure>')
    parts += [f"<script>{_JS}</script>", "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _html_table(table: Table) -> str:
    esc = html.escape
    ranked = table.ranks is not None
    head = ("<th>Rank</th>" if ranked else "") + '<th class="agent">Agent</th>'
    head += "".join(f"<th>{esc(column)}</th>" for column in table.columns)
    body = []
    for agent in table.agents:
        cells = []
        if table.ranks is not None:
            rank = table.ranks.get(agent)
            cells.append(f'<td data-v="{"" if rank is None else rank}">{"-" if rank is None else rank}</td>')
        cells.append(f'<td class="agent">{esc(agent)}</td>')
        for column in table.columns:
            cell = table.cell(agent, column)
            value = repr(cell.mean) if cell.n and math.isfinite(cell.mean) else ""
            css = ' class="best"' if table.is_best(agent, column) else ""
            cells.append(f'<td{css} data-v="{value}">{esc(_format_cell(cell, table.n_max))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _write_atomic(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data), binary=True)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "task"


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(value)
