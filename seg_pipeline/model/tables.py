"""``model.training_runs`` table I/O: one row per trained week, recording which model version serves it."""

from datetime import date

import duckdb
import pandas as pd

from seg_pipeline.warehouse.duck import replace_partition


def serving_version(con: duckdb.DuckDBPyConnection, week: date) -> str | None:
    """Return the model version recorded as serving ``week`` (None when the week has no run or no model served it)."""
    rows = con.execute(
        "SELECT serving_version FROM model.training_runs WHERE week_start = ? AND serving_version IS NOT NULL",
        [week],
    ).fetchall()
    return str(rows[0][0]) if rows else None


def latest_promoted_week(con: duckdb.DuckDBPyConnection, week: date) -> date | None:
    """Find the newest week, other than ``week`` itself, whose model was promoted to @champion (None if none was)."""
    row = con.execute(
        "SELECT max(week_start) FROM model.training_runs WHERE promoted AND week_start <> ?", [week]
    ).fetchall()[0]
    return row[0] if row else None


def write_training_run(con: duckdb.DuckDBPyConnection, week: date, row: dict[str, object]) -> None:
    """Replace the week's row of ``model.training_runs`` (a re-run of the week overwrites its record)."""
    replace_partition(con, "model", "training_runs", pd.DataFrame([row]), key=week)
