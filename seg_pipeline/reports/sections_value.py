"""The analyst's sections: how each week went (with the reason a week was blocked), moves counted once, and money.

Weeks come from the Dagster instance (``week_runs.week_outcomes``: the words `seg status` prints) plus what the
warehouse itself recorded (the sinks' mass-migration hold); move counts come from the function `seg status` uses.
Revenue at risk follows :mod:`seg_pipeline.reports.value`. Rows carry ``data-am`` / ``data-segment`` for the
page's filter.
"""

import html
from collections.abc import Mapping, Sequence

import duckdb
import pandas as pd

from seg_pipeline.reports import queries, value
from seg_pipeline.reports.filters import empty_note
from seg_pipeline.reports.queries import Unavailable
from seg_pipeline.reports.render import Section, attempt, filtered_table, money

WEEKS_TABLE = "weeks"
HOLD_REASON = (
    "sinks held back by the mass-migration gate (sinks.alert_stats.blocked): no per-account alerts or "
    "CRM write-back this week"
)
COUNT_COLUMNS = ("segment_moves", "confirmed_moves", "micro_changes", "outliers_entered", "outliers_left")
OUTLIER_ROWS = 200  # the page lists at most this many outliers (largest MRR first); the count is always complete


def week_rows(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Mapping[str, str]] | None) -> pd.DataFrame:
    """One row per known week: ``week_start, state, reason`` and the move counts (empty counts when not built)."""
    rows: dict[str, dict[str, object]] = {}
    for o in outcomes or ():
        rows[str(o["week"])] = {"week_start": str(o["week"]), "state": o["state"], "reason": o.get("reason", "")}
    for week in queries.blocked_weeks_in_warehouse(con)["week_start"]:
        row = rows.setdefault(week, {"week_start": week, "state": "blocked", "reason": ""})
        if row["state"] == "ok":  # `SEG_SINKS_OVERRIDE` reran it: the run is ok but this hold is history
            continue
        row["state"] = "blocked" if row["state"] in ("", "ok") else row["state"]
        if HOLD_REASON not in str(row["reason"]):
            row["reason"] = "; ".join(r for r in (str(row["reason"]), HOLD_REASON) if r)
    try:
        counts = queries.move_counts_by_week(con)
    except Unavailable:
        counts = pd.DataFrame(columns=["week_start"])
    try:
        sizes = queries.segment_sizes(con).groupby("week_start", as_index=False)["accounts"].sum()
    except Unavailable:
        sizes = pd.DataFrame(columns=["week_start", "accounts"])  # type: ignore[assignment]
    weeks = sorted(set(rows) | set(counts["week_start"]) | set(sizes["week_start"]))
    if not weeks:
        return pd.DataFrame(columns=["week_start", "state", "reason", "accounts", "css"])
    frame = pd.DataFrame({"week_start": pd.Series(weeks, dtype=object)})
    base = pd.DataFrame(list(rows.values()), columns=["week_start", "state", "reason"])
    frame = frame.merge(base, on="week_start", how="left").merge(sizes, on="week_start", how="left")
    frame = frame.merge(counts, on="week_start", how="left")
    for col in COUNT_COLUMNS:
        if col not in frame:
            frame[col] = pd.NA
    frame["state"] = frame["state"].fillna("ok" if outcomes is not None else "")
    frame["reason"] = frame["reason"].fillna("")
    frame["css"] = frame["state"].map(lambda s: f"state-{s}" if s and s != "ok" else "")
    return frame


def _weeks(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Mapping[str, str]] | None, sec: Section) -> None:
    frame = week_rows(con, outcomes)
    if frame.empty:
        raise Unavailable("no week has run yet.")
    if outcomes is None:
        sec.blocks.append(
            '<p class="intro">Run outcomes (ok / blocked / failed) come from the Dagster instance, '
            "which this build did not read: only the holds the warehouse recorded are shown; "
            "`seg status` lists every week's state.</p>"
        )
    shown = frame.iloc[::-1].copy()  # newest first
    for col in ("accounts", *COUNT_COLUMNS):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    sec.blocks.append(
        f'<div id="{WEEKS_TABLE}">'
        + filtered_table(
            shown,
            {
                "week_start": "Week",
                "state": "State",
                "reason": "Why",
                "accounts": "Accounts",
                "segment_moves": "Segment moves",
                "confirmed_moves": "Confirmed",
                "micro_changes": "Micro-community changes",
                "outliers_entered": "Became outliers",
                "outliers_left": "No longer outliers",
            },
            row_attrs={"week_start": "data-week", "state": "data-state"},
            row_class="css",
            css="weeks",
        )
        + "</div>"
    )
    sec.tables += 1


def section_weeks(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Mapping[str, str]] | None) -> Section:
    """Every week's outcome with its reason, and its moves counted the one way `seg status` counts them."""
    sec = Section(
        "weeks",
        "Weeks and moves",
        "How each week's run went (a blocked or failed week says why) and how many accounts moved. "
        "Segment moves are the count `seg status` and the Dagster ledger show; micro-community changes "
        "and outliers entering or leaving are counted apart, never as moves.",
    )
    attempt(sec, lambda: _weeks(con, outcomes, sec))
    return sec


# ---------------------------------------------------------------- revenue and value


def _accounts(con: duckdb.DuckDBPyConnection) -> tuple[str, pd.DataFrame]:
    week, df = queries.account_values(con)
    return week, value.flag_at_risk(df)


def _per_segment(accounts: pd.DataFrame, week: str, sec: Section) -> None:
    seg = value.by_segment(accounts)
    seg = seg.assign(
        mrr=seg["mrr"].map(money),
        mrr_at_risk=seg["mrr_at_risk"].map(money),
        at_risk=seg["at_risk"].map({True: "yes", False: "no"}),
    )
    sec.blocks.append(
        f"<h3>Per segment, week of {html.escape(week)}</h3>"
        + filtered_table(
            seg,
            {
                "segment_id": "Id",
                "segment_name": "Segment",
                "accounts": "Accounts",
                "outliers": "Outliers",
                "mrr": "MRR",
                "at_risk": "At-risk persona",
                "mrr_at_risk": "Revenue at risk",
            },
            row_attrs={"segment_id": "data-segment"},
            css="value-segments filterable",
        )
    )
    sec.tables += 1


def _per_am(accounts: pd.DataFrame, sec: Section) -> None:
    am = value.by_account_manager(accounts)
    am = am.assign(
        summary=[
            f"{a:,} accounts, MRR {money(m) or 'n/a'}, {r:,} at risk ({money(x)} MRR)"
            for a, m, r, x in zip(am["accounts"], am["mrr"], am["accounts_at_risk"], am["mrr_at_risk"], strict=True)
        ],
        mrr=am["mrr"].map(money),
        mrr_at_risk=am["mrr_at_risk"].map(money),
        css="am-row",
    )
    sec.blocks.append(
        "<h3>Per account manager</h3>"
        + filtered_table(
            am,
            {
                "am_name": "Account manager",
                "accounts": "Accounts",
                "mrr": "MRR",
                "accounts_at_risk": "Accounts at risk",
                "mrr_at_risk": "Revenue at risk",
            },
            row_attrs={"am_id": "data-am", "summary": "data-summary"},
            row_class="css",
            css="value-ams filterable",
        )
    )
    sec.tables += 1


def _outliers(accounts: pd.DataFrame, week: str, sec: Section) -> None:
    out = accounts[accounts["is_outlier"].astype(bool)].copy()
    micro = int(accounts["micro_community"].notna().sum())
    head = (
        f"<h3>Outliers, week of {html.escape(week)}: {len(out):,} accounts</h3>"
        f"<p>Accounts DBSCAN found in no dense group (noise), flagged as outliers. They keep their nearest "
        f"segment for alerts and the CRM. {micro:,} accounts sit in a micro-community.</p>"
    )
    if out.empty:
        sec.blocks.append(head)
        return
    out["_mrr"] = pd.to_numeric(out["mrr"], errors="coerce").fillna(-1)
    out = out.sort_values(["_mrr", "account_id"], ascending=[False, True], kind="mergesort").head(OUTLIER_ROWS)
    out = out.assign(mrr=out["mrr"].map(money))
    sec.blocks.append(
        head
        + filtered_table(
            out,
            {
                "account_id": "Account",
                "account_name": "Name",
                "segment_name": "Nearest segment",
                "mrr": "MRR",
                "seats": "Seats",
                "renewal_date": "Renewal",
                "account_manager_name": "Account manager",
            },
            row_attrs={"account_manager_id": "data-am", "segment_id": "data-segment"},
            css="outliers filterable",
        )
        + empty_note("No outlier among the accounts selected.")
    )
    sec.tables += 1


def _value(con: duckdb.DuckDBPyConnection, sec: Section) -> None:
    week, accounts = _accounts(con)
    if accounts["mrr"].isna().all():
        sec.add_note(
            "The CRM snapshot has no MRR for these accounts (staging.stg_crm_accounts.mrr): revenue at "
            "risk cannot be computed."
        )
    total = pd.to_numeric(accounts["mrr"], errors="coerce").sum()
    at_risk = accounts["mrr_at_risk"].sum()
    sec.blocks.append(
        f'<p class="headline">Revenue at risk, week of {html.escape(week)}: <b id="revenue-at-risk">'
        f"{money(at_risk)}</b> of {money(total)} MRR ({int(accounts['at_risk'].sum()):,} of {len(accounts):,} "
        "accounts in at-risk segments).</p>"
    )
    _per_segment(accounts, week, sec)
    _per_am(accounts, sec)
    _outliers(accounts, week, sec)


def section_value(con: duckdb.DuckDBPyConnection) -> Section:
    """MRR and revenue at risk per segment and per account manager, and the week's outliers."""
    sec = Section(
        "value",
        "Revenue and value",
        "Revenue at risk = the MRR (from the CRM snapshot) of accounts whose current segment is an at-risk "
        "persona (Dormant, Declining / At-Risk, Support-Heavy Strugglers: the personas whose moves get the "
        "⚠ in alerts). Filter by account manager or segment above; ?am=<id> in the URL opens one AM's view.",
    )
    attempt(sec, lambda: _value(con, sec))
    return sec


def filter_choices(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(value, label)`` choices for the AM and segment filters: the latest week's AMs and live segments."""
    try:
        _, accounts = queries.account_values(con)
    except Unavailable:
        return [], []
    managers = value.by_account_manager(accounts)
    managers = managers[managers["am_id"] != ""]  # "no account manager" is not a view of its own
    am_choices = sorted(
        zip(managers["am_id"].astype(str), managers["am_name"].astype(str), strict=True), key=lambda c: c[1]
    )
    segs = accounts[["segment_id", "segment_name"]].dropna(subset=["segment_id"]).drop_duplicates("segment_id")
    seg_choices = [(str(int(i)), str(n)) for i, n in segs.sort_values("segment_id").itertuples(index=False)]
    return am_choices, seg_choices


__all__ = ["filter_choices", "section_value", "section_weeks", "week_rows"]
