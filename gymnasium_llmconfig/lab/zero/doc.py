"""One report written twice: markdown (figures as PNG files beside it) and a self-contained HTML page.

Both LLMZero reports (a search's and a comparison's) are a sequence of headings, notes, tables and
figures; :class:`Doc` collects them once and renders each format, so the two files never disagree.
The HTML embeds every figure as base64 PNG and carries its own CSS: one file to mail or archive.
Every file goes through :func:`atomic_write`, so a reader polling a running job never sees half a report.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gymnasium_llmconfig.storage import atomic_write

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.9rem; }
img { max-width: 100%; }
"""


@dataclass
class _Block:
    kind: str  # heading | note | table | figure
    text: str = ""
    level: int = 2
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    name: str = ""
    png: bytes = b""


@dataclass
class Doc:
    """Blocks in reading order; :meth:`write` renders ``<stem>.md`` (+ PNGs) and ``<stem>.html``."""

    title: str
    blocks: list[_Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(_Block("heading", text, level))

    def note(self, text: str) -> None:
        self.blocks.append(_Block("note", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.blocks.append(_Block("table", header=list(header), rows=[list(r) for r in rows]))

    def figure(self, name: str, png: bytes, caption: str) -> None:
        """``name`` is the PNG's file name beside the markdown (``tree.png``)."""
        self.blocks.append(_Block("figure", caption, name=name, png=png))

    def write(self, out_dir: Path, stem: str = "report") -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        for block in self.blocks:
            if block.kind == "figure":
                atomic_write(out_dir / block.name, lambda h, b=block: h.write(b.png), binary=True)
        md = atomic_write(out_dir / f"{stem}.md", lambda h: h.write(self.markdown()))
        page = atomic_write(out_dir / f"{stem}.html", lambda h: h.write(self.html()))
        return md, page

    def markdown(self) -> str:
        parts = [f"# {self.title}"]
        for b in self.blocks:
            if b.kind == "heading":
                parts.append(f"{'#' * b.level} {b.text}")
            elif b.kind == "note":
                parts.append(b.text)
            elif b.kind == "table":
                cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
                lines = ["| " + " | ".join(cell(h) for h in b.header) + " |",
                         "|" + "---|" * len(b.header)]
                lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b.rows]
                parts.append("\n".join(lines))
            else:
                parts.append(f"![{b.text}]({b.name})")
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        esc = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                 f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body><main>",
                 f"<h1>{esc(self.title)}</h1>"]
        for b in self.blocks:
            if b.kind == "heading":
                parts.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
            elif b.kind == "note":
                parts.append(f'<p class="note">{esc(b.text)}</p>')
            elif b.kind == "table":
                head = "".join(f"<th>{esc(str(h))}</th>" for h in b.header)
                body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            else:
                data = base64.b64encode(b.png).decode("ascii")
                parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.text)}">'
                             f"<figcaption>{esc(b.text)}</figcaption></figure>")
        parts.append("</main></body></html>")
        return "\n".join(parts) + "\n"
