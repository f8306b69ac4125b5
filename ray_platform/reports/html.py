"""One small, self-contained HTML page per report: inline CSS, no scripts, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".ok{color:#1a7f37}.bad{color:#b42318;font-weight:600}.note{color:#555}"
)


@dataclass
class Section:
    """A heading followed by key/value pairs, a table, and notes (each optional)."""

    heading: str
    pairs: Sequence[tuple[str, Any]] = ()
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = ()
    notes: Sequence[str] = field(default_factory=tuple)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        cls = "ok" if value else "bad"
        return f'<td class="{cls}">{"yes" if value else "NO"}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:,.2f}</td>'
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{escape('' if value is None else str(value))}</td>"


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The HTML document: a title, a subtitle line, then each section."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">{escape(subtitle)}</p>',
    ]
    for s in sections:
        out.append(f"<h2>{escape(s.heading)}</h2>")
        if s.pairs:
            out.append("<table>")
            out += [f"<tr><th>{escape(k)}</th>{_cell(v)}</tr>" for k, v in s.pairs]
            out.append("</table>")
        if s.columns:
            out.append("<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in s.columns))
            out += ["<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in s.rows]
            out.append("</table>")
        out += [f'<p class="note">{escape(n)}</p>' for n in s.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"
