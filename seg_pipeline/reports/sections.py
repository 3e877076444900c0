"""The dashboard's four sections, one function per part (chart or table) so each degrades to a note on its own.

Every part reads through :mod:`seg_pipeline.reports.queries`; a missing or unreadable table raises
:class:`~seg_pipeline.reports.queries.Unavailable`, which :func:`~seg_pipeline.reports.render.attempt` turns
into a note on the page.
"""

import html
import json
from collections.abc import Mapping, Sequence

import duckdb
import pandas as pd
import plotly.graph_objects as go

from seg_pipeline.reports import queries
from seg_pipeline.reports.filters import empty_note
from seg_pipeline.reports.queries import Unavailable
from seg_pipeline.reports.render import Charts, Section, attempt, filtered_table, money, rgba, table, weekly_axis

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
Colors = dict[str, str]


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


# ---------------------------------------------------------------- segment sizes and migrations


def _sizes(con: duckdb.DuckDBPyConnection, charts: Charts, colors: Colors, sec: Section) -> None:
    df = queries.segment_sizes(con)
    fig = go.Figure()
    for (_sid, name), g in df.groupby(["segment_id", "segment_name"], sort=True):
        fig.add_trace(go.Scatter(
            x=g["week_start"], y=g["accounts"], name=str(name), mode="lines", stackgroup="sizes",
            line={"color": colors.get(str(name))},
            hovertemplate="%{x}: %{y} accounts<extra>" + html.escape(str(name)) + "</extra>",
        ))
    fig.update_layout(title="Accounts per segment (stacked)", xaxis_title="week", yaxis_title="accounts")
    weekly_axis(fig, df["week_start"].tolist())
    sec.blocks.append(charts.render(fig, "chart-sizes"))
    sec.charts += 1


def _sankey_trace(g: pd.DataFrame, week: str, visible: bool, colors: Colors) -> go.Sankey:
    """One week's confirmed segment moves; separate left/right nodes so A->B and B->A never form a cycle."""
    g = g[g["confirmed"] > 0]
    left = sorted(g["from_name"].unique())
    right = sorted(g["to_name"].unique())
    labels = left + right
    return go.Sankey(
        name=week,
        visible=visible,
        arrangement="fixed",
        node={"label": labels, "color": [colors.get(n, "#999999") for n in labels], "pad": 14},
        link={"source": [left.index(x) for x in g["from_name"]],
              "target": [len(left) + right.index(x) for x in g["to_name"]],
              "value": g["confirmed"].tolist(),
              "color": [rgba(colors.get(n, "#999999"), 0.35) for n in g["to_name"]],
              "customdata": g["moves"].tolist(),
              "hovertemplate": "%{source.label} → %{target.label}: %{value} confirmed moves "
                               "(%{customdata} incl. pending)<extra></extra>"},
    )


def _week_picker(weeks: Sequence[str], titles: Sequence[str]) -> tuple[str, str]:
    """Render the week ``<select>`` (latest selected) and the script that swaps the visible Sankey trace and title."""
    options = "".join(
        f'<option value="{i}"{" selected" if i == len(weeks) - 1 else ""}>{html.escape(w)}</option>'
        for i, w in enumerate(weeks)
    )
    picker = (f'<label class="picker">Week: <select id="{WEEK_SELECT}" data-target="{SANKEY_DIV}">'
              f"{options}</select></label>")
    # titles go in as JSON; "</" is escaped so a segment name cannot close the script element
    script = (
        "<script>(function(){var titles=" + json.dumps(list(titles)).replace("</", "<\\/") + ";"
        f"var sel=document.getElementById('{WEEK_SELECT}');"
        "sel.addEventListener('change',function(){"
        f"var gd=document.getElementById('{SANKEY_DIV}');var k=parseInt(sel.value,10);"
        "var vis=gd.data.map(function(_,j){return j===k;});"
        "Plotly.update(gd,{visible:vis},{'title.text':titles[k]});"
        "});})();</script>"
    )
    return picker, script


def _sankey(con: duckdb.DuckDBPyConnection, charts: Charts, colors: Colors, sec: Section) -> None:
    df = queries.migration_flows(con)
    weeks = sorted(df["week_start"].unique())
    try:  # the one count of moves (`seg status`, the ledger's Dagster metadata, the weeks table)
        counts = queries.move_counts_by_week(con).set_index("week_start")
    except Unavailable:
        counts = None
    fig = go.Figure()
    titles = []
    for i, week in enumerate(weeks):
        g = df[df["week_start"] == week]
        fig.add_trace(_sankey_trace(g, week, i == len(weeks) - 1, colors))
        moves, confirmed = int(g["moves"].sum()), int(g["confirmed"].sum())
        micro = ""
        if counts is not None and week in counts.index:
            moves, confirmed = int(counts.at[week, "segment_moves"]), int(counts.at[week, "confirmed_moves"])  # type: ignore[arg-type]
            micro = f"; micro-community changes apart: {int(counts.at[week, 'micro_changes'])}"  # type: ignore[arg-type]
        titles.append(f"Segment moves into the week of {week}: {moves} moves, {confirmed} confirmed "
                      f"(bands: confirmed){micro}")
    fig.update_layout(title=titles[-1])
    picker, script = _week_picker(weeks, titles)
    sec.blocks.append(picker + charts.render(fig, SANKEY_DIV, height=460) + script)
    sec.charts += 1


def section_sizes(con: duckdb.DuckDBPyConnection, charts: Charts, colors: Colors) -> Section:
    """How many accounts each segment holds every week, and who moved where."""
    sec = Section("sizes", "Segment sizes and migrations",
                  "How many accounts each segment holds every week, and who moved where.")
    attempt(sec, lambda: _sizes(con, charts, colors, sec))
    attempt(sec, lambda: _sankey(con, charts, colors, sec))
    return sec


# ---------------------------------------------------------------- segment profiles


def _heatmap(con: duckdb.DuckDBPyConnection, charts: Charts, sec: Section) -> None:
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
    sec.blocks.append("<h3>Personas</h3>" + table(
        personas, {"segment": "Segment", "accounts": "Accounts", "persona": "In plain words"}, css="personas"))
    sec.tables += 1


def _catalog(con: duckdb.DuckDBPyConnection, sec: Section) -> None:
    df = queries.segment_catalog(con)
    sec.blocks.append("<h3>Segment catalog</h3>" + table(df, {
        "segment_id": "Id", "segment_name": "Name", "first_week": "First week", "last_week": "Last week",
        "status": "Status"}))
    sec.tables += 1


def section_profiles(con: duckdb.DuckDBPyConnection, charts: Charts) -> Section:
    """Show what each segment looks like: a z-score heatmap, plain-language personas and the catalog."""
    sec = Section("profiles", "Segment profiles",
                  "Standardized feature means (z-scores against all accounts that week): red = above average, "
                  "blue = below. Heavy-tailed counts are compared on a log scale.")
    attempt(sec, lambda: _heatmap(con, charts, sec))
    attempt(sec, lambda: _catalog(con, sec))
    return sec


# ---------------------------------------------------------------- segment health over time


def _training_traces(fig: go.Figure, runs: pd.DataFrame) -> None:
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


def _drift_traces(fig: go.Figure, drift: pd.DataFrame) -> None:
    for ref, g in drift.groupby("reference", sort=True):
        fig.add_trace(go.Scatter(
            x=g["week_start"], y=g["share_drifted"], name=f"drift vs {str(ref).replace('_', ' ')}",
            mode="lines+markers", line={"dash": "dot"},
            customdata=g[["n_drifted", "n_features", "drifted_features"]].astype("string").fillna("")
            .values.tolist(),
            hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} features drifted"
                          "<br>%{customdata[2]}<extra></extra>",
        ))


def _recent_retrains(runs: pd.DataFrame) -> str:
    recent = runs.tail(8).iloc[::-1].assign(promoted=lambda d: d["promoted"].map({True: "yes", False: "no"}))
    return "<h3>Recent retrains</h3>" + table(recent, {
        "week_start": "Week", "model_version": "Model", "silhouette": "Silhouette",
        "stability_ari": "Stability", "changed_share": "Changed", "promoted": "Promoted",
        "gate_reasons": "Gate reasons"})


def _quality(con: duckdb.DuckDBPyConnection, charts: Charts, sec: Section) -> None:
    """Retrain quality and drift share on one chart; either input alone still draws it."""
    fig = go.Figure()
    missing: list[str] = []
    runs = None
    try:
        runs = queries.training_runs(con)
        _training_traces(fig, runs)
    except Unavailable as exc:
        missing.append(str(exc))
    try:
        _drift_traces(fig, queries.drift_summary(con))
    except Unavailable as exc:
        missing.append(str(exc))
    for text in missing:
        sec.add_note(text)
    if not fig.data:
        return
    fig.update_layout(title="Model quality and drift (x = retrain not promoted)", xaxis_title="week",
                      yaxis={"title": "score / share", "range": [-0.05, 1.05]})
    weekly_axis(fig, [x for t in fig.data for x in t.x])
    sec.blocks.append(charts.render(fig, "chart-quality"))
    sec.charts += 1
    if runs is not None:
        sec.blocks.append(_recent_retrains(runs))
        sec.tables += 1


def _churn(con: duckdb.DuckDBPyConnection, charts: Charts, colors: Colors, sec: Section) -> None:
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
    weekly_axis(fig, df["week_start"].tolist())
    sec.blocks.append(charts.render(fig, "chart-churn"))
    sec.charts += 1


def section_health(con: duckdb.DuckDBPyConnection, charts: Charts, colors: Colors) -> Section:
    """Whether the segmentation is still trustworthy: retrain quality, drift and churn per segment."""
    sec = Section("health", "Segment health over time",
                  "Model quality of each weekly retrain (silhouette, stability against the previous champion, "
                  "share of accounts that changed segment), feature drift, and churn per segment.")
    attempt(sec, lambda: _quality(con, charts, sec))
    attempt(sec, lambda: _churn(con, charts, colors, sec))
    return sec


# ---------------------------------------------------------------- movers and sinks


def _movers(con: duckdb.DuckDBPyConnection, sec: Section) -> None:
    """Every move into at-risk of the latest week, with the money and the AM (the per-AM view filters these rows)."""
    week, df = queries.movers_with_value(con)
    df = df.assign(confirmed=df["confirmed"].map({True: "yes", False: "no"}), mrr=df["mrr"].map(money))
    cols = {"account_id": "Account"}
    if df["account_name"].notna().any():
        cols["account_name"] = "Name"
    cols |= {"from_name": "From", "to_name": "To", "margin": "Margin", "confirmed": "Confirmed",
             "mrr": "MRR", "seats": "Seats", "renewal_date": "Renewal", "account_manager_name": "Account manager",
             "explanation": "Why"}
    sec.blocks.append(f"<h3>Movers into at-risk segments, week of {html.escape(week)}: {len(df):,}</h3>"
                      + filtered_table(df, cols, row_attrs={"account_manager_id": "data-am",
                                                            "segment_id": "data-segment"},
                                       css="movers filterable")
                      + empty_note("None of the accounts selected moved into an at-risk segment this week."))
    sec.tables += 1


def _writeback(con: duckdb.DuckDBPyConnection, charts: Charts, sec: Section) -> None:
    df = queries.writeback_stats(con)
    fig = go.Figure()
    for col, color in (("sent", "#54a24b"), ("unchanged", "#bab0ac"), ("failed", "#f58518"),
                       ("dead_lettered", "#e45756")):
        fig.add_trace(go.Bar(x=df["week_start"], y=df[col], name=col.replace("_", " "),
                             marker={"color": color}))
    fig.update_layout(barmode="stack", title="CRM write-back per week", xaxis_title="week",
                      yaxis_title="accounts")
    weekly_axis(fig, df["week_start"].tolist())
    sec.blocks.append(charts.render(fig, "chart-writeback", height=360))
    sec.charts += 1


def _alerts(con: duckdb.DuckDBPyConnection, charts: Charts, sec: Section) -> None:
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
    weekly_axis(fig, df["week_start"].tolist())
    sec.blocks.append(charts.render(fig, "chart-alerts", height=360))
    sec.charts += 1


def section_movers(con: duckdb.DuckDBPyConnection, charts: Charts) -> Section:
    """Who needs attention this week, and what the CRM write-back and account-manager alerts did."""
    sec = Section("movers", "Movers and sinks",
                  "Accounts that moved into an at-risk segment in the latest week, with their MRR, seats, renewal "
                  "date and account manager, and what the CRM write-back and account-manager alerts did each week.")
    attempt(sec, lambda: _movers(con, sec))
    attempt(sec, lambda: _writeback(con, charts, sec))
    attempt(sec, lambda: _alerts(con, charts, sec))
    return sec
