"""Row-level comparison of two warehouses for one week, ignoring what legitimately differs between runs."""

import re
from pathlib import Path

import duckdb
import pandas as pd

# run-specific by design: ids of the Dagster/MLflow run, timestamps, and paths under each SEG_HOME
VOLATILE = re.compile(r"(^|_)(run_id|model_version|serving_version|html_path|json_path)$|_at$")


def week_tables(path: Path, week: str) -> dict[str, pd.DataFrame]:
    """Every table's rows for ``week`` (whole table when it has no ``week_start``), sorted, volatile columns out."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
            keep = [c for c in cols if not VOLATILE.search(c)]
            where = " WHERE CAST(week_start AS VARCHAR) = ?" if "week_start" in cols else ""
            select = ", ".join(f'"{c}"' for c in keep)
            frame = con.execute(f"SELECT {select} FROM {name}{where}", [week] if where else []).fetchdf()  # noqa: S608
            text = frame.astype(str)  # list and map columns are not sortable as such; their text is
            out[f"{schema}.{table}"] = text.sort_values(keep).reset_index(drop=True) if keep else text
    return out


def differences(left: Path, right: Path, week: str) -> list[str]:
    """Tables whose rows for ``week`` differ between the two warehouses (empty = row-identical)."""
    a, b = week_tables(left, week), week_tables(right, week)
    diffs = [f"{t}: only in one warehouse" for t in sorted(set(a) ^ set(b))]
    for table in sorted(set(a) & set(b)):
        if len(a[table]) != len(b[table]):
            diffs.append(f"{table}: {len(a[table])} vs {len(b[table])} rows")
        elif not a[table].equals(b[table]):
            diffs.append(f"{table}: same row count, different rows")
    return diffs
