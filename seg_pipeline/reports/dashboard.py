"""Segment-health dashboard: one static HTML file that opens offline.

Data scientists and account managers open it from a laptop or a CI artifact, often without network, so plotly.js
is inlined once and nothing is fetched. It reads a read-only warehouse snapshot (never the live file, which would
block the single writer) and each section degrades to a note when its tables are not built yet.
"""

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from seg_pipeline.atomic import atomic_write_text
from seg_pipeline.reports import queries
from seg_pipeline.reports.queries import Unavailable
from seg_pipeline.reports.render import Charts, Section, colors_for
from seg_pipeline.reports.sections import (
    describe_persona,
    section_health,
    section_movers,
    section_profiles,
    section_sizes,
)
from seg_pipeline.settings import DASHBOARD_FILE


@dataclass(frozen=True)
class DashboardResult:
    """What was written, for Dagster metadata and the CLI."""

    path: Path
    n_charts: int
    n_sections: int
    n_tables: int
    notes: tuple[str, ...]
    weeks: tuple[str, ...]

    @property
    def n_notes(self) -> int:
        """Count the parts that could not be drawn."""
        return len(self.notes)

    def metadata(self) -> dict[str, object]:
        """Materialization metadata (``path`` stays a :class:`Path`, which the wiring shows as a path)."""
        return {
            "path": self.path, "charts": self.n_charts, "sections": self.n_sections, "tables": self.n_tables,
            "notes": list(self.notes), "latest_week": self.weeks[-1] if self.weeks else None,
        }


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#1f2933;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:1.6em}
header p{margin:0;color:#cbd2d9}nav{padding:8px 32px;background:#e4e7eb}nav a{margin-right:18px;color:#1f2933}
main{padding:8px 32px 40px}section{background:#fff;border-radius:8px;padding:12px 20px;margin:18px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{margin:6px 0}p.intro{color:#52606d;margin-top:0}
p.note{background:#fff8e1;border-left:4px solid #f0b429;padding:8px 12px;margin:10px 0}
table{border-collapse:collapse;font-size:.9em;margin:8px 0 16px}th,td{border-bottom:1px solid #e4e7eb;
padding:4px 10px;text-align:left;vertical-align:top}th{background:#f0f4f8}
label.picker{display:inline-block;margin:8px 0}select{font-size:1em;padding:2px 6px}
"""


def _page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2><p class="intro">{html.escape(s.intro)}</p>'
        + "".join(s.blocks) + "</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # else browsers request /favicon.ico (a 404 in the console)
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def _segments_and_weeks(con: duckdb.DuckDBPyConnection) -> tuple[list[str], tuple[str, ...]]:
    """Segment names in id order (their colours) and the weeks with assignments; empty before the first run."""
    try:
        sizes = queries.segment_sizes(con)
    except Unavailable:
        return [], ()
    names = sizes.drop_duplicates("segment_id").sort_values("segment_id")["segment_name"].astype(str).tolist()
    return names, tuple(sorted(sizes["week_start"].unique()))


def _subtitle(names: Sequence[str], weeks: Sequence[str]) -> str:
    if not weeks:
        return "No segment assignments yet — run the pipeline for at least one week."
    return f"{len(names)} segments · weeks {weeks[0]} to {weeks[-1]} · data through the week of {weeks[-1]}"


def build_dashboard(
    con: duckdb.DuckDBPyConnection, out_path: Path, *, title: str = "Segment health"
) -> DashboardResult:
    """Render the segment-health dashboard from a read-only warehouse connection into ``out_path`` (atomically).

    Never fails because a table is missing or empty: each affected part shows an explanatory note instead, and
    the notes are returned so the caller can surface them (e.g. as Dagster metadata).
    """
    out_path = Path(out_path)
    names, weeks = _segments_and_weeks(con)
    colors = colors_for(names)
    charts = Charts()
    sections = [
        section_sizes(con, charts, colors),
        section_profiles(con, charts),
        section_health(con, charts, colors),
        section_movers(con, charts),
    ]
    # written beside the target and renamed: a reader (or the server) never sees half a page
    atomic_write_text(out_path, _page(title, _subtitle(names, weeks), sections))
    return DashboardResult(
        path=out_path,
        n_charts=charts.count,
        n_sections=len(sections),
        n_tables=sum(s.tables for s in sections),
        notes=tuple(n for s in sections for n in s.notes),
        weeks=weeks,
    )


def build_dashboard_from_file(snapshot: Path, out_path: Path, *, title: str = "Segment health") -> DashboardResult:
    """Open a warehouse snapshot read-only, build the dashboard, close it (for the CLI and Dagster asset)."""
    # no snapshot yet: an empty in-memory database gives the all-notes page instead of an error
    con = duckdb.connect(str(snapshot), read_only=True) if Path(snapshot).exists() else duckdb.connect()
    try:
        return build_dashboard(con, out_path, title=title)
    finally:
        con.close()


__all__ = ["DASHBOARD_FILE", "DashboardResult", "build_dashboard", "build_dashboard_from_file", "describe_persona"]
