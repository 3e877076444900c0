"""Warehouse tables behind every sink: outbox, sync state and log, alert ledger, dead letters.

Sinks are at-least-once towards the outside world and exactly-once in their own bookkeeping: a row is
enqueued with a deterministic key, marked sent only after the receiver acknowledged it, and every state
change happens in one explicit transaction (DuckDB 2.0 autocommits each statement otherwise).
"""

import hashlib
import re
from datetime import date, datetime

import duckdb

SCHEMA = "sinks"

_DDL: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS sinks",
    # Last value the CRM acknowledged per account: the base of the diff.
    """CREATE TABLE IF NOT EXISTS sinks.crm_sync_state (
        account_id VARCHAR PRIMARY KEY,
        segment_id INTEGER,
        segment_name VARCHAR,
        is_outlier BOOLEAN,
        micro_community INTEGER,
        week_start DATE,
        model_version VARCHAR,
        run_id VARCHAR,
        idempotency_key VARCHAR,
        synced_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.crm_outbox (
        idempotency_key VARCHAR PRIMARY KEY,
        account_id VARCHAR NOT NULL,
        crm_id VARCHAR NOT NULL,          -- the CRM's object id (account_id unless the snapshot maps it)
        week_start DATE NOT NULL,
        model_version VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        segment_id INTEGER,
        segment_name VARCHAR,
        is_outlier BOOLEAN,
        micro_community INTEGER,
        status VARCHAR NOT NULL,          -- pending | sent | dead | superseded
        batch_key VARCHAR,                -- fixed before the first send so a resend reuses it
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        http_status INTEGER,
        delivered_week DATE,
        delivered_via VARCHAR,            -- rest | file
        enqueued_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sent_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.crm_plans (
        week_start DATE PRIMARY KEY,
        model_version VARCHAR,
        run_id VARCHAR,
        full_resync BOOLEAN,
        n_assignments INTEGER,
        n_enqueued INTEGER,
        n_unchanged INTEGER,
        n_not_in_crm INTEGER,
        planned_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.crm_sync_log (
        logged_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        delivery_week DATE,
        idempotency_key VARCHAR,
        account_id VARCHAR,
        batch_key VARCHAR,
        outcome VARCHAR,                  -- sent | dead | retry_exhausted | stopped
        http_status INTEGER,
        attempts INTEGER,
        detail VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.alert_ledger (
        message_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,            -- am_digest | engineer
        recipient_id VARCHAR NOT NULL,
        recipient_name VARCHAR,
        recipient_address VARCHAR,        -- SMTP envelope only; never part of the payload
        week_start DATE NOT NULL,
        reason_key VARCHAR,
        subject VARCHAR,
        payload_json VARCHAR NOT NULL,
        n_items INTEGER,
        status VARCHAR NOT NULL,          -- pending | sent | dead
        channel VARCHAR,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sent_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.alert_items (
        message_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        week_start DATE NOT NULL,
        from_segment INTEGER,
        to_segment INTEGER,
        from_name VARCHAR,
        to_name VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.alert_log (
        logged_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        message_id VARCHAR,
        week_start DATE,
        channel VARCHAR,
        outcome VARCHAR,                  -- sent | dead | retry_exhausted | stopped | already_delivered
        status_code INTEGER,
        attempts INTEGER,
        detail VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS sinks.dead_letters (
        dead_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sink VARCHAR NOT NULL,            -- crm | alerts
        item_key VARCHAR NOT NULL,
        week_start DATE,
        subject_id VARCHAR,               -- account_id or recipient id
        status_code INTEGER,
        reason VARCHAR NOT NULL
    )""",
)

_WEEK_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``sinks`` tables when missing (idempotent; DDL needs no data transaction)."""
    for ddl in _DDL:
        con.execute(ddl)


def as_week(value: date | datetime | str) -> date:
    """Validate a partition key: a Monday given as date, datetime or ``YYYY-MM-DD`` (R11)."""
    if isinstance(value, datetime):
        week = value.date()
    elif isinstance(value, date):
        week = value
    elif isinstance(value, str) and _WEEK_RE.match(value):
        week = date.fromisoformat(value)
    else:
        raise ValueError(f"week_start must be a date or 'YYYY-MM-DD', got {value!r}")
    if week.weekday() != 0:
        raise ValueError(f"week_start {week.isoformat()} is not a Monday (weeks start Monday, UTC)")
    return week


def stable_key(*parts: object, length: int = 32) -> str:
    """Deterministic key from parts: the same logical item always gets the same idempotency key."""
    raw = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:length]


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
