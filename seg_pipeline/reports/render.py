"""HTML and plotly building blocks shared by every dashboard section.

A section is a list of HTML fragments plus the notes that replaced parts whose tables were missing; charts are
rendered with fixed div ids so identical data gives a byte-identical page.
"""

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from seg_pipeline.reports.queries import Unavailable

PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False}


@dataclass
class Section:
    """One titled part of the page: its fragments in page order and what it counted."""

    key: str
    title: str
    intro: str
    blocks: list[str] = field(default_factory=list)  # HTML fragments in page order
    notes: list[str] = field(default_factory=list)
    charts: int = 0
    tables: int = 0

    def add_note(self, text: str) -> None:
        """Record a part that could not be drawn: the reason is shown on the page and returned to the caller."""
        self.notes.append(text)
        self.blocks.append(note(text))


class Charts:
    """Renders figures to HTML divs; plotly.js is inlined with the first one only (the page must open offline)."""

    def __init__(self) -> None:
        """Start with no chart rendered, so the first one inlines plotly.js."""
        self.count = 0

    def render(self, fig: go.Figure, div_id: str, *, height: int = 420) -> str:
        """Render ``fig`` as an HTML div in the page's style, inlining plotly.js on the first call only."""
        fig.update_layout(height=height, margin={"l": 60, "r": 30, "t": 60, "b": 50}, template="plotly_white")
        out = pio.to_html(
            fig,
            config=PLOT_CONFIG,
            include_plotlyjs=self.count == 0,
            full_html=False,
            div_id=div_id,  # fixed ids keep the file byte-identical for identical data
            default_height=f"{height}px",
        )
        self.count += 1
        return f'<div class="chart">{out}</div>'


def colors_for(names: Sequence[str]) -> dict[str, str]:
    """One palette colour per segment name, stable across every chart of the page."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def rgba(hex_color: str, alpha: float) -> str:
    """Turn ``#rrggbb`` into a CSS ``rgba()`` with ``alpha`` (plotly fills need transparency)."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def weekly_axis(fig: go.Figure, weeks: Sequence[str]) -> None:
    """One tick per Monday: weekly data on plotly's default daily ticks reads as if days were missing."""
    if weeks:
        step = max(1, len(weeks) // 12)  # at most ~12 labels
        fig.update_xaxes(type="date", tick0=min(weeks), dtick=7 * 86_400_000 * step, tickformat="%Y-%m-%d")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if v is None or (not isinstance(v, str | bool) and pd.isna(v)):
        return ""
    return str(v)


def table(df: pd.DataFrame, columns: Mapping[str, str], *, css: str = "") -> str:
    """Render a small escaped HTML table; ``columns`` maps frame column -> header."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    rows = []
    for rec in df.to_dict("records"):
        cells = "".join(f"<td>{html.escape(_cell(rec.get(col)))}</td>" for col in columns)
        rows.append(f"<tr>{cells}</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def note(text: str) -> str:
    """Render ``text`` as an escaped note paragraph."""
    return f'<p class="note">{html.escape(text)}</p>'


def attempt(section: Section, fn: Callable[[], None]) -> None:
    """Run one part of a section; a missing/unreadable table becomes a note, never a failed build."""
    try:
        fn()
    except Unavailable as exc:
        section.add_note(str(exc))


def filtered_table(
    df: pd.DataFrame, columns: Mapping[str, str], *, row_attrs: Mapping[str, str], css: str = "",
    row_class: str | None = None,
) -> str:
    """Like :func:`table`, with ``data-*`` attributes per row (``row_attrs`` maps frame column -> attribute name).

    The page's AM / segment filter hides rows by these attributes; an empty value leaves the attribute out, so
    the row stays visible under every filter. ``row_class`` names a column holding a CSS class per row.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    rows = []
    for rec in df.to_dict("records"):
        attrs = "".join(
            f' {attr}="{html.escape(_cell(rec.get(col)), quote=True)}"'
            for col, attr in row_attrs.items() if _cell(rec.get(col)) != ""
        )
        if row_class and _cell(rec.get(row_class)):
            attrs += f' class="{html.escape(_cell(rec.get(row_class)), quote=True)}"'
        cells = "".join(f"<td>{html.escape(_cell(rec.get(col)))}</td>" for col in columns)
        rows.append(f"<tr{attrs}>{cells}</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def money(value: object) -> str:
    """``$1,234`` (whole currency units; blank when unknown), for MRR columns."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return ""
    return f"${float(value):,.0f}"  # type: ignore[arg-type]
