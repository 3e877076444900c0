"""One small read function per dashboard section, against a read-only warehouse snapshot.

Each function names the tables it needs, raises :class:`Unavailable` with a human explanation when they are
missing or unreadable, and returns a small aggregated frame (heavy work stays in DuckDB). When a producing stage
renames a column, only the matching function here changes.
"""

from collections.abc import Callable, Sequence

import duckdb
import pandas as pd

from seg_pipeline.features import registry
from seg_pipeline.segmentation.personas import is_into_at_risk
from seg_pipeline.warehouse.duck import ident, table_columns, table_exists


class Unavailable(Exception):
    """A section's data is missing or unreadable; the message is shown on the page as a note."""


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """``table_exists`` for a ``schema.table`` name (the form the notes on the page use)."""
    schema, table = qualified.split(".", 1)
    return table_exists(con, schema, table)


def _column_names(con: duckdb.DuckDBPyConnection, qualified: str) -> set[str]:
    schema, table = qualified.split(".", 1)
    return {name for name, _type in table_columns(con, schema, table)}


def _require(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    missing = [t for t in tables if not _exists(con, t)]
    if missing:
        raise Unavailable(f"{', '.join(missing)} not built yet — this section fills in once that stage has run.")


def _read(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = (), *, what: str) -> pd.DataFrame:
    """Run a query; turn a DuckDB error (e.g. a renamed column) into a note instead of a crashed build."""
    try:
        df = con.execute(sql, list(params)).df()
    except duckdb.Error as exc:
        raise Unavailable(f"could not read {what}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if df.empty:
        raise Unavailable(f"{what} has no rows yet.")
    return df


def _read_table(
    con: duckdb.DuckDBPyConnection, table: str, sql: str, *, dates: Sequence[str] = ("week_start",)
) -> pd.DataFrame:
    """Read ``sql`` over one table that must be built and hold rows (else a note), ``dates`` as ISO strings."""
    _require(con, table)
    return _iso_weeks(_read(con, sql, what=table), *dates)


def _iso_weeks(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Dates as ISO strings: stable JSON in the HTML and no time-zone surprises in plotly."""
    for col in cols:
        df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d")
    return df


# The latest name of every segment id: a segment renamed from one week to the next stays one series, labelled
# with the name it has now (ids are the stable identity; names follow the profile).
LATEST_NAMES = """
    latest_names as (
        select segment_id,
               coalesce(arg_max(segment_name, week_start), 'segment ' || segment_id::varchar) as segment_name
        from assignments.account_segments where segment_id is not null group by segment_id
    )"""


def segment_sizes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Accounts per segment per week: ``week_start, segment_id, segment_name, accounts`` (the id's latest name)."""
    return _read_table(
        con,
        "assignments.account_segments",
        f"""
        with {LATEST_NAMES}
        select s.week_start, s.segment_id,
               coalesce(any_value(n.segment_name), 'segment ' || s.segment_id::varchar) as segment_name,
               count(*) as accounts
        from assignments.account_segments s left join latest_names n using (segment_id)
        group by s.week_start, s.segment_id
        order by s.week_start, s.segment_id
        """,  # noqa: S608 - a fixed SQL fragment
    )


def migration_flows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Count segment moves per (week, from, to): ``week_start, from_name, to_name, moves, confirmed``.

    Only ``kind = 'segment'`` rows are moves (the counts ``seg status`` and the ledger's Dagster metadata show):
    outliers entering or leaving and micro-community changes are not. Segments carry their latest name, so a
    rename never splits a flow.
    """
    _require(con, "monitoring.segment_migrations")
    names = ("left join latest_names nf on nf.segment_id = m.from_segment "
             "left join latest_names nt on nt.segment_id = m.to_segment")
    with_names = f"with {LATEST_NAMES}" if _exists(con, "assignments.account_segments") else (
        "with latest_names as (select null::integer as segment_id, null::varchar as segment_name)")
    sql = f"""
        {with_names}
        select m.week_start,
               coalesce(nf.segment_name, m.from_name, 'segment ' || m.from_segment::varchar, '(new)') as from_name,
               coalesce(nt.segment_name, m.to_name, 'segment ' || m.to_segment::varchar, '(gone)') as to_name,
               count(*) as moves,
               count(*) filter (where m.confirmed) as confirmed
        from monitoring.segment_migrations m {names}
        where m.kind = 'segment'
        group by all
        order by week_start, from_name, to_name
    """  # noqa: S608 - fixed SQL fragments only
    return _iso_weeks(_read(con, sql, what="segment moves in monitoring.segment_migrations"), "week_start")


def profile_features(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Numeric clustering features from the registry that the features table actually has (the allow-list)."""
    present = _column_names(con, "features.account_features")
    numeric = {"INTEGER", "BIGINT", "DOUBLE", "FLOAT"}
    return [
        f.name for f in registry.FEATURES
        if f.clustering and f.kind == "numeric" and f.dtype in numeric and f.name in present
    ]


def segment_profiles(con: duckdb.DuckDBPyConnection) -> tuple[str, pd.DataFrame]:
    """Standardized feature means per segment for the latest week with both features and assignments.

    Returns ``(week, frame)`` with one row per segment: ``segment_id, segment_name, accounts`` and one z-score
    column per feature. Heavy-tailed features are compared on ``ln(1 + x)``, the scale the clustering uses, so
    one huge account does not make a whole segment look "high".
    """
    _require(con, "assignments.account_segments", "features.account_features")
    feats = profile_features(con)
    if not feats:
        raise Unavailable("features.account_features has none of the registry's numeric clustering features.")
    week_df = _read(
        con,
        "select max(s.week_start) as w from assignments.account_segments s "
        "join features.account_features f using (account_id, week_start)",
        what="assignments joined to features",
    )
    week = week_df["w"].iloc[0]
    if pd.isna(week):
        raise Unavailable("no week has both features and segment assignments yet.")

    def expr(name: str) -> str:
        col = f"f.{ident(name)}"
        return f"ln(1 + greatest({col}, 0))" if registry.get(name).heavy_tailed else f"{col}::double"

    # identifiers come from the registry allow-list above and pass ident(); the week is a bound parameter
    cols = [(n, ident(n), ident(f"m_{n}"), ident(f"s_{n}")) for n in feats]  # (name, column, mean, std)
    values = ", ".join(f"{expr(n)} as {c}" for n, c, _, _ in cols)
    z_cols = ", ".join(
        f"coalesce((avg(j.{c}) - any_value(g.{m})) / nullif(any_value(g.{sd}), 0), 0) as {c}" for _, c, m, sd in cols
    )
    stats = ", ".join(f"avg({c}) as {m}, stddev_pop({c}) as {sd}" for _, c, m, sd in cols)
    sql = f"""
        with j as (
            select s.segment_id, s.segment_name, {values}
            from assignments.account_segments s
            join features.account_features f using (account_id, week_start)
            where s.week_start = ?
        ),
        g as (select {stats} from j)
        select j.segment_id,
               coalesce(any_value(j.segment_name), 'segment ' || j.segment_id::varchar) as segment_name,
               count(*) as accounts, {z_cols}
        from j cross join g
        group by j.segment_id
        order by j.segment_id
    """  # noqa: S608 - ident() names only
    df = _read(con, sql, [week], what="segment profiles")
    return pd.Timestamp(week).strftime("%Y-%m-%d"), df


def segment_catalog(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Read the catalog (ids, names, lifetime, status) for the profile table."""
    return _read_table(
        con,
        "assignments.segment_catalog",
        "select segment_id, segment_name, first_week, last_week, status from assignments.segment_catalog "
        "order by segment_id",
        dates=("first_week", "last_week"),
    )


def training_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One retrain per week (the promoted one when there were several) with its quality gates."""
    return _read_table(
        con,
        "model.training_runs",
        """
        select week_start, model_version, silhouette, stability_ari, changed_share, promoted,
               gate_reasons::varchar as gate_reasons
        from model.training_runs
        qualify row_number() over (
            partition by week_start order by promoted desc nulls last, model_version desc
        ) = 1
        order by week_start
        """,
    )


def drift_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Whole-population drift per week and reference (``previous_week``, ``training``).

    Per-segment rows (``reference = 'segment:<id>'``) are left out: they describe one segment's profile, not
    the population, and would make the line zigzag. Columns: ``week_start, reference, share_drifted, n_drifted,
    n_features, drifted_features``.
    """
    return _read_table(
        con,
        "monitoring.drift_summary",
        """
        select week_start, reference, share_drifted, n_drifted, n_features,
               drifted_features::varchar as drifted_features
        from monitoring.drift_summary
        where reference not like 'segment:%'
        order by reference, week_start
        """,
    )


def churn_by_segment(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Churn rate per segment: accounts whose CRM status became ``churned`` in week W, over the segment's size in W-1.

    Attributing to the week *before* avoids crediting churn to whatever segment a churning account drifts into
    during its last week. Weeks without a CRM snapshot are left out rather than shown as zero churn.
    """
    _require(con, "assignments.account_segments", "staging.stg_crm_accounts")
    df = _read(
        con,
        """
        with churn as (
            select account_id, min(week_start) as churn_week
            from staging.stg_crm_accounts where status = 'churned' group by account_id
        ),
        {latest},
        base as (
            select s.week_start, s.segment_id,
                   coalesce(any_value(n.segment_name), 'segment ' || s.segment_id::varchar) as segment_name,
                   count(*) as accounts
            from assignments.account_segments s left join latest_names n using (segment_id)
            group by s.week_start, s.segment_id
        ),
        hits as (
            select s.week_start, s.segment_id, count(*) as churned
            from assignments.account_segments s
            join churn c on c.account_id = s.account_id and s.week_start = c.churn_week - 7
            group by s.week_start, s.segment_id
        ),
        crm_weeks as (select distinct week_start from staging.stg_crm_accounts)
        select b.week_start + 7 as week_start, b.segment_id, b.segment_name, b.accounts,
               coalesce(h.churned, 0) as churned,
               coalesce(h.churned, 0) / b.accounts as churn_rate
        from base b
        left join hits h using (week_start, segment_id)
        where b.week_start + 7 in (select week_start from crm_weeks)
        order by week_start, segment_id
        """.replace("{latest}", LATEST_NAMES.strip()),
        what="churn per segment",
    )
    return _iso_weeks(df, "week_start")


def _crm_names(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """``(column, join)`` SQL fragments adding the CRM account name when the CRM snapshot has one."""
    if not (_exists(con, "staging.stg_crm_accounts")
            and "account_name" in _column_names(con, "staging.stg_crm_accounts")):
        return "null::varchar", ""
    return "a.account_name", (
        "left join (select account_id, week_start, any_value(account_name) as account_name "
        "from staging.stg_crm_accounts group by all) a using (account_id, week_start)"
    )


def top_movers(
    con: duckdb.DuckDBPyConnection, *, into_at_risk: Callable[[object, object], bool] = is_into_at_risk,
    limit: int = 25,
) -> tuple[str, pd.DataFrame]:
    """Latest week's segment moves into at-risk segments, confirmed and widest-margin first, with their explanations.

    "Into at-risk" is :func:`seg_pipeline.segmentation.personas.is_into_at_risk`, the definition the account-manager
    alerts and ``seg evaluate`` use, so the page and the alerts flag the same moves. Outlier and micro-community
    rows are not segment moves and never listed.
    """
    _require(con, "monitoring.segment_migrations")
    latest = _read(con, "select max(week_start) as w from monitoring.segment_migrations", what="migrations")
    if pd.isna(latest["w"].iloc[0]):
        raise Unavailable("monitoring.segment_migrations has no rows yet.")
    week = pd.Timestamp(latest["w"].iloc[0]).strftime("%Y-%m-%d")
    name_col, name_join = _crm_names(con)
    # only the fixed fragments of _crm_names() are interpolated; the week is a bound parameter
    sql = f"""
        select m.week_start, m.account_id, {name_col} as account_name,
               coalesce(m.from_name, '(new)') as from_name, m.to_name, m.kind, m.margin, m.confirmed,
               m.explanation, m.from_name as _from
        from monitoring.segment_migrations m
        {name_join}
        where m.week_start = ?::date and m.kind = 'segment'
        order by m.confirmed desc nulls last, m.margin desc nulls last, m.account_id
    """  # noqa: S608 - the fixed fragments of _crm_names() only
    try:
        df = con.execute(sql, [week]).df()
    except duckdb.Error as exc:
        raise Unavailable(f"could not read moves into at-risk segments: {str(exc).splitlines()[0]}") from exc
    keep = [bool(into_at_risk(f, t)) for f, t in zip(df["_from"], df["to_name"], strict=True)]
    df = df.loc[keep].drop(columns="_from").head(int(limit)).reset_index(drop=True)
    if df.empty:
        raise Unavailable(f"no account moved into an at-risk segment in the week of {week}.")
    return week, _iso_weeks(df, "week_start")


def writeback_stats(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """CRM write-back outcomes per week: ``week_start, sent, unchanged, failed, dead_lettered``."""
    return _read_table(
        con,
        "sinks.writeback_stats",
        "select week_start, sent, unchanged, failed, dead_lettered from sinks.writeback_stats order by week_start",
    )


def alert_stats(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Account-manager alerting per week: ``week_start, digests_sent, moves_alerted, blocked``."""
    return _read_table(
        con,
        "sinks.alert_stats",
        "select week_start, digests_sent, moves_alerted, blocked from sinks.alert_stats order by week_start",
    )


# ---------------------------------------------------------------- live segments, move counts, account value
# (added for issue 13: live segment count, one count of moves, MRR / revenue at risk, outliers, AM filter)

CRM_VALUE_COLUMNS = ("mrr", "seats", "renewal_date", "account_manager_id", "account_manager_name")


def _latest_assignment_week(con: duckdb.DuckDBPyConnection) -> str:
    _require(con, "assignments.account_segments")
    latest = _read(con, "select max(week_start) as w from assignments.account_segments", what="assignments")
    if pd.isna(latest["w"].iloc[0]):
        raise Unavailable("assignments.account_segments has no rows yet.")
    return pd.Timestamp(latest["w"].iloc[0]).strftime("%Y-%m-%d")


def live_segments(con: duckdb.DuckDBPyConnection) -> tuple[str, pd.DataFrame]:
    """Segments holding accounts in the latest week: ``segment_id, segment_name, accounts, outliers``.

    The header counts these, not every id ever seen (retired segments stay in the catalog and the history).
    """
    week = _latest_assignment_week(con)
    df = _read(
        con,
        f"""
        with {LATEST_NAMES}
        select s.segment_id,
               coalesce(any_value(n.segment_name), 'segment ' || s.segment_id::varchar) as segment_name,
               count(*) as accounts, count(*) filter (where s.is_outlier) as outliers
        from assignments.account_segments s left join latest_names n using (segment_id)
        where s.week_start = ?::date and s.segment_id is not null
        group by s.segment_id order by s.segment_id
        """,  # noqa: S608 - a fixed SQL fragment
        [week],
        what="the latest week's segments",
    )
    return week, df


def ever_seen_segments(con: duckdb.DuckDBPyConnection) -> int:
    """Count every segment id that ever held an account (for "3 live (14 ever seen)")."""
    _require(con, "assignments.account_segments")
    df = _read(con, "select count(distinct segment_id) as n from assignments.account_segments", what="assignments")
    return int(df["n"].iloc[0])


def move_counts_by_week(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Segment moves, confirmed moves, micro-community changes and outliers in/out per week.

    The same function `seg status` uses (:func:`seg_pipeline.monitoring.tables.move_counts`), so the page and
    the CLI cannot disagree.
    """
    from seg_pipeline.monitoring.tables import move_counts

    _require(con, "monitoring.segment_migrations")
    try:
        df = move_counts(con)
    except duckdb.Error as exc:
        raise Unavailable(f"could not count moves: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if df.empty:
        raise Unavailable("monitoring.segment_migrations has no rows yet.")
    return _iso_weeks(df, "week_start")


def _crm_value_columns(con: duckdb.DuckDBPyConnection) -> str:
    """``c.<col>`` for the CRM value columns the snapshot has, ``null`` for the others (custom mappings)."""
    present = _column_names(con, "staging.stg_crm_accounts") if _exists(con, "staging.stg_crm_accounts") else set()
    return ", ".join(
        f"c.{ident(col)} as {ident(col)}" if col in present else f"null as {ident(col)}"
        for col in ("account_name", *CRM_VALUE_COLUMNS)
    )


def account_values(con: duckdb.DuckDBPyConnection) -> tuple[str, pd.DataFrame]:
    """Read the latest week's accounts with segment (current name), outlier flags and the CRM's MRR, seats, renewal, AM.

    Columns: ``account_id, segment_id, segment_name, is_outlier, micro_community, account_name, mrr, seats,
    renewal_date, account_manager_id, account_manager_name`` (CRM columns null when the CRM lacks them).
    """
    week = _latest_assignment_week(con)
    crm = _exists(con, "staging.stg_crm_accounts")
    join = ("left join (select * from staging.stg_crm_accounts qualify row_number() over "
            "(partition by account_id, week_start order by account_id) = 1) c "
            "on c.account_id = s.account_id and c.week_start = s.week_start") if crm else ""
    no_crm = ", ".join(f"null as {c}" for c in ("account_name", *CRM_VALUE_COLUMNS))
    crm_cols = _crm_value_columns(con) if crm else no_crm
    sql = f"""
        with {LATEST_NAMES}
        select s.account_id, s.segment_id,
               coalesce(n.segment_name, 'segment ' || s.segment_id::varchar) as segment_name,
               coalesce(s.is_outlier, false) as is_outlier, s.micro_community,
               {crm_cols}
        from assignments.account_segments s left join latest_names n using (segment_id)
        {join}
        where s.week_start = ?::date
        order by s.account_id
    """  # noqa: S608 - allow-listed column names through ident() and fixed fragments only
    df = _read(con, sql, [week], what="the latest week's accounts")
    df["renewal_date"] = pd.to_datetime(df["renewal_date"]).dt.strftime("%Y-%m-%d")
    return week, df


def movers_with_value(con: duckdb.DuckDBPyConnection, *, limit: int = 1000) -> tuple[str, pd.DataFrame]:
    """:func:`top_movers` (every move into at-risk, up to ``limit``) with MRR, seats, renewal date and AM.

    The per-AM view filters this table in the browser, so it is not cut to the top 25 the way the page used to be.
    """
    week, movers = top_movers(con, limit=limit)
    try:
        value_week, values = account_values(con)
    except Unavailable:
        values, value_week = pd.DataFrame(columns=["account_id", "segment_id", *CRM_VALUE_COLUMNS]), week
    if value_week != week:  # migrations and assignments disagree on the latest week: no values rather than wrong ones
        values = values.iloc[0:0]
    keep = values[["account_id", "segment_id", *CRM_VALUE_COLUMNS]]
    return week, movers.merge(keep, on="account_id", how="left", validate="many_to_one")


def blocked_weeks_in_warehouse(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Weeks whose alerts were held back by the mass-migration gate, as the sinks recorded it: ``week_start``.

    The Dagster instance knows every blocked week and why (``week_runs.week_outcomes``); this is what the
    warehouse alone shows when the page is built without it.
    """
    if not _exists(con, "sinks.alert_stats"):
        return pd.DataFrame({"week_start": pd.Series(dtype=str)})
    try:
        df = con.execute("select distinct week_start from sinks.alert_stats where blocked order by week_start").df()
    except duckdb.Error:  # an older table without the column: nothing to add to the run outcomes
        return pd.DataFrame({"week_start": pd.Series(dtype=str)})
    return _iso_weeks(df, "week_start")
