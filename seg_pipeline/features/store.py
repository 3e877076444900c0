"""Point-in-time reads of the feature store for notebooks, the CLI and downstream code.

Reads go to the published read-only snapshot by default (the live warehouse belongs to the single writer).
"""

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from seg_pipeline.features import registry
from seg_pipeline.warehouse.duck import connect, ident
from seg_pipeline.weeks import previous_week, week_start_of


def features_as_of(
    database: Path,
    as_of: date,
    account_ids: Sequence[str] | None = None,
    *,
    features: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Features of the latest *closed* week that ends on or before ``as_of`` (never a week still in progress).

    ``database`` is a DuckDB file (normally ``Settings.snapshot_path``); ``features`` must be registry names.
    """
    columns = list(features) if features is not None else registry.feature_names()
    unknown = [c for c in columns if c not in registry.feature_names()]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; see `seg features`")
    # the week containing as_of is still open unless as_of is the Monday after it
    last_closed = previous_week(week_start_of(as_of))
    select = ", ".join(ident(c) for c in ["account_id", "week_start", *columns])
    sql = (
        f"SELECT {select} FROM features.account_features "  # noqa: S608 - registry names checked above, via ident()
        "WHERE week_start = (SELECT max(week_start) FROM features.account_features WHERE week_start <= ?)"
    )
    params: list[object] = [last_closed]
    if account_ids is not None:
        sql += " AND account_id IN (SELECT unnest(?))"
        params.append(list(account_ids))
    with connect(database, read_only=True) as con:
        return con.execute(sql + " ORDER BY account_id", params).fetchdf()


def load_week_features(con: duckdb.DuckDBPyConnection, week: date, columns: Sequence[str]) -> pd.DataFrame:
    """``account_id`` plus ``columns`` of one week of ``features.account_features``, ordered by account.

    Column names come from the feature registry or a fitted model (never from user input) and are quoted.
    """
    select = ", ".join(ident(c) for c in ["account_id", *columns])
    return con.execute(
        f"SELECT {select} FROM features.account_features WHERE week_start = ? ORDER BY account_id", [week]  # noqa: S608 - ident()
    ).fetchdf()


def first_feature_week(con: duckdb.DuckDBPyConnection) -> date | None:
    """Return the first week the feature table holds (None before any build): where the company's history starts."""
    schema, table = registry.FEATURE_TABLE
    row = con.execute(f"SELECT min(week_start) FROM {ident(schema)}.{ident(table)}").fetchone()  # noqa: S608 - ident()
    return row[0] if row else None
