"""Segment-health dashboard: one static HTML file that opens offline.

Data scientists and account managers open it from a laptop or a CI artifact, often without network, so plotly.js
is inlined once and nothing is fetched. It reads a read-only warehouse snapshot (never the live file, which would
block the single writer) and each section degrades to a note when its tables are not built yet.
"""

import html
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from seg_pipeline.reports import queries
from seg_pipeline.reports.queries import Unavailable

PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False}
SANKEY_DIV = "chart-migrations"
WEEK_SELECT = "sankey-week"

# (when high, when low) phrases for persona descriptions; unknown features fall back to "high/low <name>".
PHRASES: dict[str, tuple[str, str]] = {
    "weekly_active_users": ("high weekly active users", "low weekly active users"),
    "active_days": ("active most days", "few active days"),
    "feature_breadth": ("uses many features", "uses few features"),
    "key_feature_adoption": ("strong key-feature adoption", "weak key-feature adoption"),
    "api_share": ("API-heavy", "little API use"),
    "exports": ("many exports", "few exports"),
    "invites": ("many invites", "few invites"),
    "wau_trend": ("usage growing", "usage shrinking"),
    "tickets_opened": ("many tickets", "few tickets"),
    "p1_tickets": ("many P1 tickets", "few P1 tickets"),
    "median_resolution_hours": ("slow ticket resolution", "fast ticket resolution"),
    "csat_avg": ("high CSAT", "low CSAT"),
    "open_backlog": ("large ticket backlog", "small ticket backlog"),
    "seats": ("many seats", "few seats"),
    "seat_utilisation": ("high seat utilisation", "low seat utilisation"),
    "mrr": ("high MRR", "low MRR"),
    "tenure_weeks": ("long-tenured", "recently signed up"),
    "activation_score": ("highly activated", "poorly activated"),
    "support_load_score": ("heavy support load", "light support load"),
}


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
        return len(self.notes)

    def metadata(self) -> dict[str, object]:
        """Plain values for Dagster output metadata (the lead wraps ``path`` in ``MetadataValue.path``)."""
        return {
            "path": str(self.path), "charts": self.n_charts, "sections": self.n_sections, "tables": self.n_tables,
            "notes": list(self.notes), "latest_week": self.weeks[-1] if self.weeks else None,
        }


@dataclass
class _Section:
    key: str
    title: str
    intro: str
    blocks: list[str] = field(default_factory=list)  # HTML fragments in page order
    notes: list[str] = field(default_factory=list)
    charts: int = 0
    tables: int = 0


class _Charts:
    """Renders figures to HTML divs; plotly.js is inlined with the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def render(self, fig: go.Figure, div_id: str, *, height: int = 420) -> str:
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


def describe_persona(z: Mapping[str, float], *, threshold: float = 0.5, max_terms: int = 4) -> str:
    """Plain-language persona text from a segment's strongest standardized feature means.

    Strengths come first, then weaknesses after a semicolon, e.g. "high weekly active users, many exports;
    few tickets". Only |z| >= ``threshold`` counts, so an average segment is called average.
    """
    strong = sorted(
        ((name, float(v)) for name, v in z.items() if pd.notna(v) and abs(float(v)) >= threshold),
        key=lambda kv: (-abs(kv[1]), kv[0]),
    )[:max_terms]
    if not strong:
        return "close to the average account on every feature"

    def phrase(name: str, v: float) -> str:
        label = name.replace("_", " ")
        high, low = PHRASES.get(name, (f"high {label}", f"low {label}"))
        return high if v > 0 else low

    ups = [phrase(n, v) for n, v in strong if v > 0]
    downs = [phrase(n, v) for n, v in strong if v < 0]
    return "; ".join(part for part in (", ".join(ups), ", ".join(downs)) if part)


def _colors(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _weekly_axis(fig: go.Figure, weeks: Sequence[str]) -> None:
    """One tick per Monday: weekly data on plotly's default daily ticks reads as if days were missing."""
    if weeks:
        step = max(1, len(weeks) // 12)  # at most ~12 labels
        fig.update_xaxes(type="date", tick0=min(weeks), dtick=7 * 86_400_000 * step, tickformat="%Y-%m-%d")


def _table(df: pd.DataFrame, columns: Mapping[str, str], *, css: str = "") -> str:
    """A small escaped HTML table; ``columns`` maps frame column -> header."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    rows = []
    for rec in df.to_dict("records"):
        cells = []
        for col in columns:
            v = rec.get(col)
            if isinstance(v, float):
                text = "" if pd.isna(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
            elif v is None or (not isinstance(v, str | bool) and pd.isna(v)):
                text = ""
            else:
                text = str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _attempt(section: _Section, fn: Callable[[], None]) -> None:
    """Run one part of a section; a missing/unreadable table becomes a note, never a failed build."""
    try:
        fn()
    except Unavailable as exc:
        section.notes.append(str(exc))
        section.blocks.append(_note(str(exc)))


# ---------------------------------------------------------------- sections


def _section_sizes(con: duckdb.DuckDBPyConnection, charts: _Charts, colors: dict[str, str]) -> _Section:
    sec = _Section("sizes", "Segment sizes and migrations",
                   "How many accounts each segment holds every week, and who moved where.")

    def sizes() -> None:
        df = queries.segment_sizes(con)
        fig = go.Figure()
        for (_sid, name), g in df.groupby(["segment_id", "segment_name"], sort=True):
            fig.add_trace(go.Scatter(
                x=g["week_start"], y=g["accounts"], name=str(name), mode="lines", stackgroup="sizes",
                line={"color": colors.get(str(name))},
                hovertemplate="%{x}: %{y} accounts<extra>" + html.escape(str(name)) + "</extra>",
            ))
        fig.update_layout(title="Accounts per segment (stacked)", xaxis_title="week", yaxis_title="accounts")
        _weekly_axis(fig, df["week_start"].tolist())
        sec.blocks.append(charts.render(fig, "chart-sizes"))
        sec.charts += 1

    def sankey() -> None:
        df = queries.migration_flows(con)
        weeks = sorted(df["week_start"].unique())
        fig = go.Figure()
        titles = []
        for i, week in enumerate(weeks):
            g = df[df["week_start"] == week]
            left = sorted(g["from_name"].unique())
            right = sorted(g["to_name"].unique())
            labels = left + right  # separate left/right nodes so A->B and B->A never form a cycle
            src = [left.index(x) for x in g["from_name"]]
            dst = [len(left) + right.index(x) for x in g["to_name"]]
            fig.add_trace(go.Sankey(
                name=week,
                visible=i == len(weeks) - 1,
                arrangement="fixed",
                node={"label": labels, "color": [colors.get(n, "#999999") for n in labels], "pad": 14},
                link={"source": src, "target": dst, "value": g["moves"].tolist(),
                      "color": [_rgba(colors.get(n, "#999999"), 0.35) for n in g["to_name"]],
                      "customdata": g["confirmed"].tolist(),
                      "hovertemplate": "%{source.label} → %{target.label}: %{value} moves "
                                       "(%{customdata} confirmed)<extra></extra>"},
            ))
            titles.append(f"Migrations into the week of {week}: {int(g['moves'].sum())} moves "
                          f"({int(g['confirmed'].sum())} confirmed)")
        fig.update_layout(title=titles[-1])
        options = "".join(
            f'<option value="{i}"{" selected" if i == len(weeks) - 1 else ""}>{html.escape(w)}</option>'
            for i, w in enumerate(weeks)
        )
        picker = (f'<label class="picker">Week: <select id="{WEEK_SELECT}" data-target="{SANKEY_DIV}">'
                  f"{options}</select></label>")
        # titles go in as JSON; "</" is escaped so a segment name cannot close the script element
        script = (
            "<script>(function(){var titles=" + json.dumps(titles).replace("</", "<\\/") + ";"
            f"var sel=document.getElementById('{WEEK_SELECT}');"
            "sel.addEventListener('change',function(){"
            f"var gd=document.getElementById('{SANKEY_DIV}');var k=parseInt(sel.value,10);"
            "var vis=gd.data.map(function(_,j){return j===k;});"
            "Plotly.update(gd,{visible:vis},{'title.text':titles[k]});"
            "});})();</script>"
        )
        sec.blocks.append(picker + charts.render(fig, SANKEY_DIV, height=460) + script)
        sec.charts += 1

    _attempt(sec, sizes)
    _attempt(sec, sankey)
    return sec


def _section_profiles(con: duckdb.DuckDBPyConnection, charts: _Charts) -> _Section:
    sec = _Section("profiles", "Segment profiles",
                   "Standardized feature means (z-scores against all accounts that week): red = above average, "
                   "blue = below. Heavy-tailed counts are compared on a log scale.")

    def heatmap() -> None:
        week, df = queries.segment_profiles(con)
        feats = [c for c in df.columns if c not in ("segment_id", "segment_name", "accounts")]
        labels = [f"{n} ({a})" for n, a in zip(df["segment_name"], df["accounts"], strict=True)]
        z = df[feats].astype(float).round(3)
        fig = go.Figure(go.Heatmap(
            z=z.values.tolist(), x=feats, y=labels, zmid=0, colorscale="RdBu", reversescale=True,
            colorbar={"title": "z"}, hovertemplate="%{y}<br>%{x}: z = %{z}<extra></extra>",
        ))
        fig.update_layout(title=f"Feature profile per segment, week of {week}", xaxis={"tickangle": -40})
        sec.blocks.append(charts.render(fig, "chart-profiles", height=max(360, 60 + 40 * len(labels))))
        sec.charts += 1
        personas = pd.DataFrame({
            "segment": df["segment_name"],
            "accounts": df["accounts"].astype(int),
            "persona": [describe_persona(dict(zip(feats, row, strict=True))) for row in z.values.tolist()],
        })
        sec.blocks.append("<h3>Personas</h3>" + _table(
            personas, {"segment": "Segment", "accounts": "Accounts", "persona": "In plain words"}, css="personas"))
        sec.tables += 1

    def catalog() -> None:
        df = queries.segment_catalog(con)
        sec.blocks.append("<h3>Segment catalog</h3>" + _table(df, {
            "segment_id": "Id", "segment_name": "Name", "first_week": "First week", "last_week": "Last week",
            "status": "Status"}))
        sec.tables += 1

    _attempt(sec, heatmap)
    _attempt(sec, catalog)
    return sec


def _section_health(con: duckdb.DuckDBPyConnection, charts: _Charts, colors: dict[str, str]) -> _Section:
    sec = _Section("health", "Segment health over time",
                   "Model quality of each weekly retrain (silhouette, stability against the previous champion, "
                   "share of accounts that changed segment), feature drift, and churn per segment.")

    def quality() -> None:
        fig = go.Figure()
        missing: list[str] = []
        runs = None
        try:
            runs = queries.training_runs(con)
        except Unavailable as exc:
            missing.append(str(exc))
        if runs is not None:
            symbols = ["circle" if p is True else "x" for p in runs["promoted"].tolist()]
            for col, label in (("silhouette", "silhouette"), ("stability_ari", "stability (ARI)"),
                               ("changed_share", "changed share")):
                fig.add_trace(go.Scatter(
                    x=runs["week_start"], y=runs[col], name=label, mode="lines+markers",
                    marker={"symbol": symbols, "size": 9},
                    customdata=runs[["model_version", "gate_reasons"]].astype("string").fillna("").values.tolist(),
                    hovertemplate="%{x}: %{y:.3f}<br>model %{customdata[0]}<br>%{customdata[1]}<extra>"
                                  + label + "</extra>",
                ))
        try:
            drift = queries.drift_summary(con)
            for ref, g in drift.groupby("reference", sort=True):
                fig.add_trace(go.Scatter(
                    x=g["week_start"], y=g["share_drifted"], name=f"drift vs {str(ref).replace('_', ' ')}",
                    mode="lines+markers", line={"dash": "dot"},
                    customdata=g[["n_drifted", "n_features", "drifted_features"]].astype("string").fillna("")
                    .values.tolist(),
                    hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} features drifted"
                                  "<br>%{customdata[2]}<extra></extra>",
                ))
        except Unavailable as exc:
            missing.append(str(exc))
        for text in missing:
            sec.notes.append(text)
            sec.blocks.append(_note(text))
        if not fig.data:
            return
        fig.update_layout(title="Model quality and drift (x = retrain not promoted)", xaxis_title="week",
                          yaxis={"title": "score / share", "range": [-0.05, 1.05]})
        _weekly_axis(fig, [x for t in fig.data for x in t.x])
        sec.blocks.append(charts.render(fig, "chart-quality"))
        sec.charts += 1
        if runs is not None:
            recent = runs.tail(8).iloc[::-1].assign(promoted=lambda d: d["promoted"].map({True: "yes", False: "no"}))
            sec.blocks.append("<h3>Recent retrains</h3>" + _table(recent, {
                "week_start": "Week", "model_version": "Model", "silhouette": "Silhouette",
                "stability_ari": "Stability", "changed_share": "Changed", "promoted": "Promoted",
                "gate_reasons": "Gate reasons"}))
            sec.tables += 1

    def churn() -> None:
        df = queries.churn_by_segment(con)
        fig = go.Figure()
        for (_sid, name), g in df.groupby(["segment_id", "segment_name"], sort=True):
            fig.add_trace(go.Scatter(
                x=g["week_start"], y=g["churn_rate"], name=str(name), mode="lines+markers",
                line={"color": colors.get(str(name))},
                customdata=g[["churned", "accounts"]].values.tolist(),
                hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} churned<extra>"
                              + html.escape(str(name)) + "</extra>",
            ))
        fig.update_layout(title="Churn rate by the segment held the week before churn", xaxis_title="churn week",
                          yaxis={"title": "churn rate", "tickformat": ".0%"})
        _weekly_axis(fig, df["week_start"].tolist())
        sec.blocks.append(charts.render(fig, "chart-churn"))
        sec.charts += 1

    _attempt(sec, quality)
    _attempt(sec, churn)
    return sec


def _section_movers(con: duckdb.DuckDBPyConnection, charts: _Charts) -> _Section:
    sec = _Section("movers", "Movers and sinks",
                   "Accounts that moved into an at-risk segment in the latest week, and what the CRM write-back "
                   "and account-manager alerts did each week.")

    def movers() -> None:
        week, df = queries.top_movers(con)
        df = df.assign(confirmed=df["confirmed"].map({True: "yes", False: "no"}))
        cols = {"account_id": "Account"}
        if df["account_name"].notna().any():
            cols["account_name"] = "Name"
        cols |= {"from_name": "From", "to_name": "To", "margin": "Margin", "confirmed": "Confirmed",
                 "explanation": "Why"}
        sec.blocks.append(f"<h3>Top movers into at-risk segments, week of {html.escape(week)}</h3>"
                          + _table(df, cols, css="movers"))
        sec.tables += 1

    def writeback() -> None:
        df = queries.writeback_stats(con)
        fig = go.Figure()
        for col, color in (("sent", "#54a24b"), ("unchanged", "#bab0ac"), ("failed", "#f58518"),
                           ("dead_lettered", "#e45756")):
            fig.add_trace(go.Bar(x=df["week_start"], y=df[col], name=col.replace("_", " "),
                                 marker={"color": color}))
        fig.update_layout(barmode="stack", title="CRM write-back per week", xaxis_title="week",
                          yaxis_title="accounts")
        _weekly_axis(fig, df["week_start"].tolist())
        sec.blocks.append(charts.render(fig, "chart-writeback", height=360))
        sec.charts += 1

    def alerts() -> None:
        df = queries.alert_stats(con)
        blocked = pd.Series([b is True for b in df["blocked"].tolist()], index=df.index)
        fig = go.Figure([
            go.Bar(x=df["week_start"], y=df["digests_sent"], name="digests sent", marker={"color": "#4c78a8"}),
            go.Bar(x=df["week_start"], y=df["moves_alerted"], name="moves alerted", marker={"color": "#72b7b2"}),
        ])
        if blocked.any():
            fig.add_trace(go.Scatter(
                x=df.loc[blocked, "week_start"], y=[0] * int(blocked.sum()), name="blocked (mass migration)",
                mode="markers", marker={"symbol": "triangle-up", "size": 14, "color": "#e45756"},
            ))
        fig.update_layout(barmode="group", title="Account-manager alerts per week", xaxis_title="week",
                          yaxis_title="count")
        _weekly_axis(fig, df["week_start"].tolist())
        sec.blocks.append(charts.render(fig, "chart-alerts", height=360))
        sec.charts += 1

    _attempt(sec, movers)
    _attempt(sec, writeback)
    _attempt(sec, alerts)
    return sec


# ---------------------------------------------------------------- page

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


def _page(title: str, subtitle: str, sections: Sequence[_Section]) -> str:
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


def _write_atomic(path: Path, text: str) -> None:
    """Write next to the target, then rename: a reader (or the server) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_dashboard(
    con: duckdb.DuckDBPyConnection, out_path: Path, *, title: str = "Segment health"
) -> DashboardResult:
    """Render the segment-health dashboard from a read-only warehouse connection into ``out_path`` (atomically).

    Never fails because a table is missing or empty: each affected part shows an explanatory note instead, and
    the notes are returned so the caller can surface them (e.g. as Dagster metadata).
    """
    out_path = Path(out_path)
    try:
        sizes = queries.segment_sizes(con)
        names = sizes.drop_duplicates("segment_id").sort_values("segment_id")["segment_name"].astype(str).tolist()
        weeks = tuple(sorted(sizes["week_start"].unique()))
    except Unavailable:
        names, weeks = [], ()
    colors = _colors(names)
    charts = _Charts()
    sections = [
        _section_sizes(con, charts, colors),
        _section_profiles(con, charts),
        _section_health(con, charts, colors),
        _section_movers(con, charts),
    ]
    if weeks:
        subtitle = f"{len(names)} segments · weeks {weeks[0]} to {weeks[-1]} · data through the week of {weeks[-1]}"
    else:
        subtitle = "No segment assignments yet — run the pipeline for at least one week."
    _write_atomic(out_path, _page(title, subtitle, sections))
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


__all__ = ["DashboardResult", "build_dashboard", "build_dashboard_from_file", "describe_persona"]
