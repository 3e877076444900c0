"""The feature table's weekly data-quality checks, as plain SQL over one week of ``features.account_features``.

Each check returns a :class:`CheckOutcome` (Dagster-free), so tests call it on a hand-made table. The bounds
and the columns checked come from the feature registry, never from input, so they are safe to put in SQL.
"""

from datetime import date
from typing import Any

import duckdb

from seg_pipeline.features.registry import FEATURE_RANGES, FEATURE_TABLE, FEATURES, Bound
from seg_pipeline.outcomes import CheckOutcome, Json
from seg_pipeline.warehouse.duck import ident, qualified

_TABLE = qualified(*FEATURE_TABLE)


def _week_row(con: duckdb.DuckDBPyConnection, select: str, week: date) -> tuple[Any, ...]:
    """Return the one row of aggregates ``select`` over the week's rows (SQL NULL where the week is empty)."""
    # _TABLE is qualified(); ``select`` is built by this module from registry names passed through ident()
    rows = con.execute(f"SELECT {select} FROM {_TABLE} WHERE week_start = ?", [week]).fetchall()  # noqa: S608
    if len(rows) != 1:  # an aggregate without GROUP BY always returns one row
        raise RuntimeError(f"expected one aggregate row from {_TABLE}, got {len(rows)}")
    return tuple(rows[0])


def keys_unique_not_null(con: duckdb.DuckDBPyConnection, week: date) -> CheckOutcome:
    """One row per ``(account_id, week_start)``, no NULL id, and the week is not empty."""
    row = _week_row(
        con, "count(*), count(DISTINCT account_id), count(*) FILTER (WHERE account_id IS NULL)", week
    )
    rows, distinct, null_ids = (int(v) for v in row)
    return CheckOutcome(
        "keys_unique_not_null",
        passed=rows == distinct and null_ids == 0 and rows > 0,
        metadata={"rows": rows, "distinct_accounts": distinct, "null_account_ids": null_ids},
    )


def _outside(name: str, lo: Bound, hi: Bound) -> str:
    """Build SQL that counts the rows whose ``name`` is NULL or outside ``[lo, hi]``."""
    column = ident(name)
    conditions = [f"{column} IS NULL"]
    if lo is not None:
        conditions.append(f"{column} < {lo}")
    if hi is not None:
        conditions.append(f"{column} > {hi}")
    return f"count(*) FILTER (WHERE {' OR '.join(conditions)}) AS {column}"


def feature_ranges(con: duckdb.DuckDBPyConnection, week: date) -> CheckOutcome:
    """Every range-checked feature inside its registry range (NULL counts as outside); one scan of the week."""
    counts = ", ".join(_outside(name, lo, hi) for name, (lo, hi) in FEATURE_RANGES.items())
    row = _week_row(con, counts, week)
    violations = {name: int(n) for name, n in zip(FEATURE_RANGES, row, strict=True) if n}
    return CheckOutcome("feature_ranges", passed=not violations, metadata={"violations": Json(violations)})


def feature_null_rates(con: duckdb.DuckDBPyConnection, week: date) -> CheckOutcome:
    """No numeric or flag feature is NULL (inactive accounts get explicit zeros and ``has_activity``).

    Features the registry marks ``nullable`` are left out: their NULL says the source has no such value.
    """
    columns = [f.name for f in FEATURES if f.kind != "categorical" and not f.nullable]
    rates = ", ".join(f"avg(({ident(c)} IS NULL)::int) AS {ident(c)}" for c in columns)
    row = _week_row(con, rates, week)
    worst = {name: float(rate) for name, rate in zip(columns, row, strict=True) if rate}
    return CheckOutcome(
        "feature_null_rates",
        passed=not worst,
        metadata={"null_rates": Json(worst)},
        description="Features are explicit values (zeros + has_activity flag), never NULL.",
    )


def feature_checks(con: duckdb.DuckDBPyConnection, week: date) -> list[CheckOutcome]:
    """Run the three checks of the week, in the order the asset declares them."""
    return [keys_unique_not_null(con, week), feature_ranges(con, week), feature_null_rates(con, week)]
