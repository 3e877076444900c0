"""Segment-health dashboard: one static HTML file that opens offline.

Data scientists and account managers open it from a laptop or a CI artifact, often without network, so plotly.js
is inlined once and nothing is fetched. It reads a read-only warehouse snapshot (never the live file, which would
block the single writer) and each section degrades to a note when its tables are not built yet.
"""

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from seg_pipeline.atomic import atomic_write_text
from seg_pipeline.reports import queries
from seg_pipeline.reports.filters import filter_bar, filter_script
from seg_pipeline.reports.queries import Unavailable
from seg_pipeline.reports.render import Charts, Section, colors_for, money
from seg_pipeline.reports.sections import (
    describe_persona,
    section_health,
    section_movers,
    section_profiles,
    section_sizes,
)
from seg_pipeline.reports.sections_value import filter_choices, section_value, section_weeks, week_rows
from seg_pipeline.reports.value import flag_at_risk
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
    live_segments: int | None = None  # segments holding accounts in the latest week (the header's count)
    latest_moves: int | None = None  # the latest week's segment moves (the count `seg status` shows)
    weeks_not_ok: tuple[str, ...] = ()  # blocked / failed weeks, shown on the page with their reason

    @property
    def n_notes(self) -> int:
        """Count the parts that could not be drawn."""
        return len(self.notes)

    def metadata(self) -> dict[str, object]:
        """Materialization metadata (``path`` stays a :class:`Path`, which the wiring shows as a path)."""
        return {
            "path": self.path, "charts": self.n_charts, "sections": self.n_sections, "tables": self.n_tables,
            "notes": list(self.notes), "latest_week": self.weeks[-1] if self.weeks else None,
            "live_segments": self.live_segments, "latest_week_segment_moves": self.latest_moves,
            "weeks_not_ok": list(self.weeks_not_ok),
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
div.filters{padding:6px 32px;background:#f0f4f8;border-bottom:1px solid #e4e7eb}
p.banner{margin:4px 0;font-weight:600}tr.state-blocked td{background:#fff4e5}tr.state-failed td{background:#fde8e8}
p.headline{font-size:1.1em}
"""


def _page(title: str, subtitle: str, sections: Sequence[Section], filters: str = "") -> str:
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
        f"<nav>{nav}</nav>{filters}<main>{body}</main>{filter_script() if filters else ''}</body></html>\n"
    )


def _segments_and_weeks(con: duckdb.DuckDBPyConnection) -> tuple[list[str], tuple[str, ...]]:
    """Segment names in id order (their colours) and the weeks with assignments; empty before the first run."""
    try:
        sizes = queries.segment_sizes(con)
    except Unavailable:
        return [], ()
    names = sizes.drop_duplicates("segment_id").sort_values("segment_id")["segment_name"].astype(str).tolist()
    return names, tuple(sorted(sizes["week_start"].unique()))


@dataclass(frozen=True)
class Headline:
    """The header's numbers: live segments (not every id ever seen), accounts, money at risk, weeks not ok."""

    live: int | None = None
    ever: int | None = None
    accounts: int | None = None
    mrr: float | None = None
    mrr_at_risk: float | None = None
    not_ok: tuple[str, ...] = ()


def _headline(con: duckdb.DuckDBPyConnection, not_ok: tuple[str, ...]) -> Headline:
    try:
        _, live = queries.live_segments(con)
        ever = queries.ever_seen_segments(con)
    except Unavailable:
        return Headline(not_ok=not_ok)
    mrr = at_risk = None
    try:
        _, accounts = queries.account_values(con)
        flagged = flag_at_risk(accounts)
        if accounts["mrr"].notna().any():
            mrr, at_risk = float(accounts["mrr"].astype(float).sum()), float(flagged["mrr_at_risk"].sum())
    except Unavailable:
        pass
    return Headline(len(live), ever, int(live["accounts"].sum()), mrr, at_risk, not_ok)


def _subtitle(names: Sequence[str], weeks: Sequence[str], head: Headline | None = None) -> str:
    if not weeks:
        return "No segment assignments yet — run the pipeline for at least one week."
    if head is None or head.live is None:
        return f"{len(names)} segments · weeks {weeks[0]} to {weeks[-1]} · data through the week of {weeks[-1]}"
    parts = [f"{head.live} live segments ({head.ever} ever seen)", f"{head.accounts:,} accounts",
             f"weeks {weeks[0]} to {weeks[-1]}"]
    if head.mrr is not None:
        parts.append(f"revenue at risk {money(head.mrr_at_risk)} of {money(head.mrr)} MRR")
    if head.not_ok:
        parts.append(f"{len(head.not_ok)} week(s) blocked or failed: {', '.join(head.not_ok)} (see Weeks and moves)")
    return " · ".join(parts)


def build_dashboard(
    con: duckdb.DuckDBPyConnection, out_path: Path, *, title: str = "Segment health",
    week_outcomes: Sequence[Mapping[str, str]] | None = None,
) -> DashboardResult:
    """Render the segment-health dashboard from a read-only warehouse connection into ``out_path`` (atomically).

    ``week_outcomes`` (``week, state, reason`` per week, from ``week_runs.week_outcomes``) puts blocked and failed
    weeks on the page with their reason; without it only the holds the warehouse recorded are shown.
    Never fails because a table is missing or empty: each affected part shows an explanatory note instead, and
    the notes are returned so the caller can surface them (e.g. as Dagster metadata).
    """
    out_path = Path(out_path)
    names, weeks = _segments_and_weeks(con)
    colors = colors_for(names)
    charts = Charts()
    rows = week_rows(con, week_outcomes)
    not_ok = tuple(rows.loc[rows["state"].isin(["blocked", "failed"]), "week_start"].astype(str)) if len(rows) else ()
    latest_moves = None
    if len(rows) and "segment_moves" in rows and weeks and (rows["week_start"] == weeks[-1]).any():
        latest = rows.loc[rows["week_start"] == weeks[-1], "segment_moves"].iloc[0]
        latest_moves = None if pd.isna(latest) else int(latest)
    sections = [
        section_sizes(con, charts, colors),
        section_weeks(con, week_outcomes),
        section_value(con),
        section_profiles(con, charts),
        section_health(con, charts, colors),
        section_movers(con, charts),
    ]
    head = _headline(con, not_ok)
    ams, segments = filter_choices(con)
    filters = filter_bar(ams, segments) if (ams or segments) else ""
    # written beside the target and renamed: a reader (or the server) never sees half a page
    atomic_write_text(out_path, _page(title, _subtitle(names, weeks, head), sections, filters))
    return DashboardResult(
        path=out_path,
        n_charts=charts.count,
        n_sections=len(sections),
        n_tables=sum(s.tables for s in sections),
        notes=tuple(n for s in sections for n in s.notes),
        weeks=weeks,
        live_segments=head.live,
        latest_moves=latest_moves,
        weeks_not_ok=not_ok,
    )


def build_dashboard_from_file(
    snapshot: Path, out_path: Path, *, title: str = "Segment health",
    week_outcomes: Sequence[Mapping[str, str]] | None = None,
) -> DashboardResult:
    """Open a warehouse snapshot read-only, build the dashboard, close it (for the CLI and Dagster asset)."""
    # no snapshot yet: an empty in-memory database gives the all-notes page instead of an error
    con = duckdb.connect(str(snapshot), read_only=True) if Path(snapshot).exists() else duckdb.connect()
    try:
        return build_dashboard(con, out_path, title=title, week_outcomes=week_outcomes)
    finally:
        con.close()


__all__ = ["DASHBOARD_FILE", "DashboardResult", "build_dashboard", "build_dashboard_from_file", "describe_persona"]
