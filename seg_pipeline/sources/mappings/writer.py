"""Mapped rows → contract-shaped landing files (and the rejects file), each written atomically and whole.

Files are named by the contract (``Contract.file_name``): events one Parquet file per UTC day, tickets one JSON
lines file per week of ``updated_at``, CRM one snapshot CSV for the given week.
"""

import csv
import io
import json
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seg_pipeline.atomic import atomic_write
from seg_pipeline.sources.contracts import Contract
from seg_pipeline.sources.mappings.rows import MappedRow
from seg_pipeline.sources.mappings.values import as_text
from seg_pipeline.weeks import week_start_of

REJECTS_DIR = "import_rejects"


def monday(ts: datetime) -> date:
    """Return the week (Monday, UTC) a timestamp falls in."""
    return week_start_of(ts.astimezone(UTC).date())


def _placed(row: MappedRow) -> datetime:
    if row.placed is None:
        raise ValueError("an event or ticket row without its placement timestamp")
    return row.placed


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _iso_ts(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def write_events(rows: list[MappedRow], contract: Contract, landing: Path) -> list[str]:
    """One Parquet file per UTC day of ``event_ts``, rows ordered by time then id; returns the written paths."""
    by_day: dict[date, list[MappedRow]] = {}
    for r in rows:
        by_day.setdefault(_placed(r).date(), []).append(r)
    written = []
    for day, group in sorted(by_day.items()):
        group.sort(key=lambda r: (r.placed, str(r.values["event_id"])))
        columns: dict[str, pa.Array] = {}
        for col in contract.columns:
            vals = [r.values[col.name] for r in group]
            if col.dtype == "TIMESTAMPTZ":
                columns[col.name] = pa.array(vals, type=pa.timestamp("us", tz="UTC"))
            else:
                columns[col.name] = pa.array([as_text(v) for v in vals], type=pa.string())
        rel = contract.file_name(day)
        table = pa.table(columns)
        atomic_write(landing / rel, partial(_write_parquet, table))
        written.append(rel)
    return written


_ARROW_TYPES = {"BIGINT": pa.int64(), "DOUBLE": pa.float64()}


def _usage_column(vals: list[Any], dtype: str) -> pa.Array:
    """Build a typed Parquet column; text when a value did not parse, so the loader quarantines its row."""
    if dtype == "DATE" and all(v is None or (isinstance(v, str) and len(v) == 10) for v in vals):
        return pa.array([None if v is None else date.fromisoformat(v) for v in vals], type=pa.date32())
    numeric = dtype in _ARROW_TYPES and all(v is None or isinstance(v, int | float) for v in vals)
    if numeric:
        return pa.array(vals, type=_ARROW_TYPES[dtype])
    return pa.array([as_text(v) for v in vals], type=pa.string())


def write_usage(rows: list[MappedRow], contract: Contract, landing: Path) -> list[str]:
    """One Parquet file per ``usage_date``, rows ordered by account, feature and type; returns the written paths."""
    by_day: dict[date, list[MappedRow]] = {}
    for r in rows:
        by_day.setdefault(_placed(r).date(), []).append(r)
    written = []
    for day, group in sorted(by_day.items()):
        group.sort(key=lambda r: tuple(str(r.values[c]) for c in contract.key))
        table = pa.table({col.name: _usage_column([r.values[col.name] for r in group], col.dtype)
                          for col in contract.columns})
        rel = contract.file_name(day)
        atomic_write(landing / rel, partial(_write_parquet, table))
        written.append(rel)
    return written


def write_tickets(rows: list[MappedRow], contract: Contract, landing: Path) -> list[str]:
    """One JSON lines file per week of ``updated_at``, rows ordered by time then id; returns the written paths."""
    by_week: dict[date, list[MappedRow]] = {}
    for r in rows:
        by_week.setdefault(monday(_placed(r)), []).append(r)
    written = []
    for week, group in sorted(by_week.items()):
        group.sort(key=lambda r: (r.placed, str(r.values["ticket_id"])))
        text = "".join(
            json.dumps({c: _iso_ts(r.values[c]) for c in contract.names}, ensure_ascii=False) + "\n" for r in group
        )
        rel = contract.file_name(week)
        atomic_write(landing / rel, partial(_write_text, text))
        written.append(rel)
    return written


def write_crm(rows: list[MappedRow], contract: Contract, landing: Path, week: date) -> list[str]:
    """Write the CRM snapshot CSV of ``week``, in export order; return its path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(contract.names)
    for r in rows:
        writer.writerow(["" if r.values[c] is None else as_text(r.values[c]) for c in contract.names])
    rel = contract.file_name(week)
    atomic_write(landing / rel, partial(_write_text, buf.getvalue()))
    return [rel]


def write_rejects(rejects: list[dict[str, Any]], source: str, landing: Path) -> str:
    """``import_rejects/<source>.jsonl``: every row that could not be placed, with its reason."""
    rel = f"{REJECTS_DIR}/{source}.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rejects)
    atomic_write(landing / rel, partial(_write_text, text))
    return rel
