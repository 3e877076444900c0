"""``raw.<source>`` table I/O: the week's rows and its quarantine rows replace the old ones in one transaction."""

from datetime import date

import duckdb

from seg_pipeline.crashpoints import crash_point
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.sources.landing import LoadResult, StagedWeek
from seg_pipeline.warehouse.duck import SliceWrite, ident, qualified, replace_slices, table_exists, transaction


def create_raw_table(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Declare ``raw.<source>`` from the contract (never inferred), so its types do not depend on one week's file."""
    columns = ", ".join(f"{ident(name)} {dtype}" for name, dtype in CONTRACTS[source].raw_columns())
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified('raw', source)} ({columns})")


def write_staged_week(con: duckdb.DuckDBPyConnection, staged: StagedWeek) -> None:
    """Replace the week's rows and quarantine rows from the staging table in ONE transaction, all in SQL.

    A kill between a DELETE and its INSERT (crash points ``warehouse.replace:raw.<source>`` and
    ``warehouse.replace:raw.quarantine``, as for frame writes) leaves the old week: nothing commits before COMMIT.
    Rows keep the staging order, which is file and line order (files are staged one by one and DuckDB preserves
    insertion order), so the same landing files give identical tables without sorting the week (a sort cost 50 s
    of 75 s at 9 M events under a 128MB cap).
    """
    create_raw_table(con, staged.source)
    contract = CONTRACTS[staged.source]
    target = qualified("raw", staged.source)
    names = ", ".join(ident(n) for n in contract.names)
    week = {"week": staged.week_start}
    # names are ident()/qualified() of contract columns and the staging table; values are bound
    with transaction(con):
        con.execute(f"DELETE FROM {target} WHERE week_start = $week", week)  # noqa: S608
        crash_point(f"warehouse.replace:raw.{staged.source}")  # test-only: SIGKILL mid-transaction
        con.execute(f"INSERT INTO {target} ({names}, week_start, source_file, source_row) "  # noqa: S608
                    f"SELECT {names}, $week, source_file, source_row FROM {staged.table} "
                    "WHERE reason IS NULL", week)
        con.execute("DELETE FROM raw.quarantine WHERE source = $source AND week_start = $week",
                    {**week, "source": staged.source})
        crash_point("warehouse.replace:raw.quarantine")
        con.execute("INSERT INTO raw.quarantine (source, week_start, source_file, source_row, reason, record) "  # noqa: S608
                    f"SELECT $source, $week, source_file, source_row, reason, record FROM {staged.table} "
                    "WHERE reason IS NOT NULL ORDER BY source_file, source_row", {**week, "source": staged.source})


def write_raw_week(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    """Replace the week's rows and its quarantine rows from pandas frames in ONE transaction (tools and tests).

    The raw table is declared from the contract (not inferred from pandas), so timestamps are microsecond
    TIMESTAMPTZ and integer columns BIGINT whatever the landing files used.
    """
    create_raw_table(con, result.source)
    replace_slices(
        con,
        [
            SliceWrite("raw", result.source, result.rows, {"week_start": result.week_start}),
            SliceWrite("raw", "quarantine", result.quarantine,
                       {"source": result.source, "week_start": result.week_start}),
        ],
    )


def written_counts(con: duckdb.DuckDBPyConnection, source: str, week: date) -> tuple[int, int]:
    """(rows in ``raw.<source>``, rows in ``raw.quarantine``) for the week: reconciliation counts what landed."""
    loaded = con.execute(f"SELECT count(*) FROM {qualified('raw', source)} WHERE week_start = ?",  # noqa: S608
                         [week]).fetchall()[0][0]
    quarantined = con.execute("SELECT count(*) FROM raw.quarantine WHERE source = ? AND week_start = ?",
                              [source, week]).fetchall()[0][0]
    return int(loaded), int(quarantined)


def key_violations(con: duckdb.DuckDBPyConnection, source: str, week: date) -> tuple[int, int]:
    """(duplicate keys, NULL keys) among the week's loaded rows of ``raw.<source>``."""
    key = CONTRACTS[source].key
    keys = ", ".join(ident(k) for k in key)
    not_null = " OR ".join(f"{ident(k)} IS NULL" for k in key)
    row = con.execute(
        f"SELECT count(*) - count(DISTINCT ({keys})), count(*) FILTER (WHERE {not_null}) "  # noqa: S608 - ident()
        f"FROM {qualified('raw', source)} WHERE week_start = ?",
        [week],
    ).fetchall()[0]
    return (int(row[0]), int(row[1])) if row else (0, 0)


def activity(con: duckdb.DuckDBPyConnection, week: date) -> int:
    """Product activity loaded for ``week``: raw events plus the usage counts of daily aggregates (0 when none)."""
    total = 0
    for source, measure in (("product_events", "count(*)"), ("product_usage", "coalesce(sum(usage_count), 0)")):
        if table_exists(con, "raw", source):
            sql = f"SELECT {measure} FROM {qualified('raw', source)} WHERE week_start = ?"  # noqa: S608 - fixed
            total += int(con.execute(sql, [week]).fetchall()[0][0])
    return total


def latest_active_week(con: duckdb.DuckDBPyConnection, before: date) -> date | None:
    """Return the newest week before ``before`` with any product activity loaded (None when there is none).

    The volume check compares against it rather than the calendar's previous week, so a week that failed to load
    (or a quiet holiday week) does not leave the next week without a baseline.
    """
    found: list[date] = []
    for source in ("product_events", "product_usage"):
        if table_exists(con, "raw", source):
            sql = f"SELECT max(week_start) FROM {qualified('raw', source)} WHERE week_start < ?"  # noqa: S608 - fixed
            row = con.execute(sql, [before]).fetchall()[0][0]
            if row is not None:
                found.append(row)
    return max(found) if found else None


def write_feature_rules(con: duckdb.DuckDBPyConnection, week: date, key_features: tuple[str, ...], top_n: int) -> None:
    """Replace the week's row of ``raw.feature_rules`` (names lower-cased like the staging models do)."""
    names = [name.strip().lower() for name in key_features if name.strip()]
    with transaction(con):
        con.execute("DELETE FROM raw.feature_rules WHERE week_start = ?", [week])
        con.execute("INSERT INTO raw.feature_rules VALUES (?, ?, ?)", [week, names, top_n])
