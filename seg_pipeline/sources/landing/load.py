""":func:`load_week`: one staged week as pandas frames, for tools and tests that want to look at the rows.

The raw stage never calls it: it stages into the warehouse connection and moves the rows with SQL
(:func:`seg_pipeline.raw.tables.write_staged_week`). This façade stages into a private in-memory DuckDB and fetches
the result, so it applies exactly the same SQL rules.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from seg_pipeline.sources.contracts import QUARANTINE_COLUMNS, Contract, get_contract
from seg_pipeline.sources.landing.filedata import DATE, STR
from seg_pipeline.sources.landing.stage import StagedWeek, stage_week
from seg_pipeline.warehouse.duck import ident


@dataclass
class LoadResult:
    """One source × one week, ready for ``raw.<source>`` and ``raw.quarantine`` (see docs/contracts.md)."""

    source: str
    week_start: date
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    files: list[str]
    rows_in: int
    duplicates_dropped: int
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)  # one sentence per file that blocks the week

    @property
    def reconciled(self) -> bool:
        """``in = loaded + quarantined + deduplicated`` — the invariant the raw-layer check asserts."""
        return self.rows_in == len(self.rows) + len(self.quarantine) + self.duplicates_dropped

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons → counts, for asset metadata."""
        return {str(k): int(v) for k, v in self.quarantine["reason"].value_counts().sort_index().items()}


def load_week(
    source: str,
    landing_dir: Path,
    week_start: date | str,
    *,
    now: datetime | None = None,
    reject_rate: float = 0.2,
) -> LoadResult:
    """Read, validate and reconcile one week of ``source`` from the landing directory, as pandas frames.

    Returns typed rows (contract columns + ``week_start``, ``source_file``, ``source_row``) and quarantine rows
    with reasons; ``file_problems`` names each file that gave no rows (empty, header only, not its format) and
    must block the week. Raises :class:`ContractError` (naming the file) for a missing required column, a Parquet
    column of the wrong type, a duplicate key in a snapshot source, or a file whose quarantined share exceeds
    ``reject_rate``. ``now`` (default: current UTC time) bounds timestamps so future events are quarantined.
    """
    get_contract(source)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        staged = stage_week(con, source, landing_dir, week_start, now=now, reject_rate=reject_rate)
        rows = fetch_rows(con, staged)
        quarantine = fetch_quarantine(con, staged)
    return LoadResult(
        source=source,
        week_start=staged.week_start,
        rows=rows,
        quarantine=quarantine,
        files=staged.files,
        rows_in=staged.rows_in,
        duplicates_dropped=staged.duplicates_dropped,
        warnings=staged.warnings,
        file_problems=staged.file_problems,
    )


def fetch_rows(con: duckdb.DuckDBPyConnection, staged: StagedWeek) -> pd.DataFrame:
    """Fetch the staged week's loaded rows in the raw table's column order, ordered by file and line."""
    contract = get_contract(staged.source)
    names = ", ".join(ident(n) for n in contract.names)
    table = con.sql(
        f"SELECT {names}, $week AS week_start, source_file, source_row FROM {staged.table} "  # noqa: S608 - ident()
        "WHERE reason IS NULL ORDER BY source_file, source_row",
        params={"week": staged.week_start},
    ).to_arrow_table()
    return _frame(table, contract)


def _frame(table: pa.Table, contract: Contract) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            name: _series(table.column(name), dtype)
            for name, dtype in [
                *((c.name, c.dtype) for c in contract.columns),
                ("week_start", "DATE"),
                ("source_file", "VARCHAR"),
            ]
        }
    )
    frame["source_row"] = pd.Series(table.column("source_row").to_numpy(), dtype="int64")
    return frame


def _series(arr: pa.ChunkedArray, dtype: str) -> pd.Series:
    if dtype == "VARCHAR":
        return pd.Series(arr.cast(pa.string()), dtype=STR)
    if dtype == "DATE":
        return pd.Series(arr.cast(pa.date32()), dtype=DATE)
    if dtype == "TIMESTAMPTZ":
        return pd.Series(arr.cast(pa.timestamp("us", tz="UTC")).to_pandas()).astype("datetime64[ns, UTC]")
    values: pd.Series = arr.to_pandas()
    return values.astype("Int64") if dtype == "BIGINT" else values.astype("Float64")


def fetch_quarantine(con: duckdb.DuckDBPyConnection, staged: StagedWeek) -> pd.DataFrame:
    """Fetch the staged week's quarantine rows, shaped like ``raw.quarantine``, ordered by file and line."""
    q = con.execute(
        f"SELECT $source AS source, $week AS week_start, source_file, source_row, reason, record "  # noqa: S608
        f"FROM {staged.table} WHERE reason IS NOT NULL ORDER BY source_file, source_row",
        {"source": staged.source, "week": staged.week_start},
    ).df()
    q["week_start"] = pd.Series(pa.array(q["week_start"].dt.date if len(q) else [], pa.date32()), dtype=DATE)
    q["source_row"] = q["source_row"].astype("int64")
    return q[[name for name, _ in QUARANTINE_COLUMNS]]
