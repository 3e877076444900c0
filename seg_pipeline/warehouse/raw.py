"""Write one week of a landing source into ``raw.<source>`` with its quarantine rows, atomically."""

import duckdb

from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.sources.landing import LoadResult
from seg_pipeline.warehouse.duck import SliceWrite, ensure_schemas, ident, qualified, replace_slices


def write_raw_week(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    """Replace the week's rows and its quarantine rows in ONE transaction.

    The raw table is declared from the contract (not inferred from pandas), so timestamps are microsecond
    TIMESTAMPTZ and integer columns BIGINT whatever the landing files used.
    """
    ensure_schemas(con)
    contract = CONTRACTS[result.source]
    columns = ", ".join(f"{ident(name)} {dtype}" for name, dtype in contract.raw_columns())
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified('raw', result.source)} ({columns})")
    replace_slices(
        con,
        [
            SliceWrite("raw", result.source, result.rows, {"week_start": result.week_start}),
            SliceWrite("raw", "quarantine", result.quarantine,
                       {"source": result.source, "week_start": result.week_start}),
        ],
    )
