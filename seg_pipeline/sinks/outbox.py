"""Bookkeeping shared by every sink: deterministic keys and dead letters.

Sinks are at-least-once towards the outside world and exactly-once in their own bookkeeping: a row is
enqueued with a deterministic key, marked sent only after the receiver acknowledged it, and every state
change happens in one explicit transaction (DuckDB 2.0 autocommits each statement otherwise). The tables
(outbox, sync state and log, alert ledger, dead letters) are declared in :mod:`seg_pipeline.warehouse.schema`.
"""

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb


def stable_key(*parts: object, length: int = 32) -> str:
    """Deterministic key from parts: the same logical item always gets the same idempotency key."""
    raw = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:length]


def delivery_metadata(result: object, fields: Sequence[str], week_start: date) -> dict[str, Any]:
    """Pick a sink result's counts for its asset's metadata, with the week as an ISO date (last)."""
    meta: dict[str, Any] = {k: getattr(result, k) for k in fields}
    meta["week_start"] = week_start.isoformat()
    return meta


def dead_letter(
    con: duckdb.DuckDBPyConnection,
    *,
    sink: str,
    item_key: str,
    week_start: date | None,
    subject_id: str | None,
    status_code: int | None,
    reason: str,
) -> None:
    """Record one dead letter; callers run it inside their transaction."""
    con.execute(
        "INSERT INTO sinks.dead_letters (sink, item_key, week_start, subject_id, status_code, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [sink, item_key, week_start, subject_id, status_code, reason[:1000]],
    )
