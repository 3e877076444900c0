"""SQL of the sinks stage's inputs (the week's assignments, CRM snapshot and migrations) and its stats tables.

The stats tables (``sinks.writeback_stats``, ``sinks.alert_stats``) hold one row per week, replaced on a rerun;
the dashboard plots them. Their DDL is in :mod:`seg_pipeline.warehouse.schema`.
"""

from datetime import date

import duckdb
import pandas as pd

from seg_pipeline.sinks.config import AlertConfig
from seg_pipeline.warehouse.duck import replace_partition, table_exists


def week_assignments(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    """Read the week's segment assignments (what the CRM should hold)."""
    return con.execute(
        "SELECT * FROM assignments.account_segments WHERE week_start = ? ORDER BY account_id", [week]
    ).fetchdf()


def week_migrations(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    """Read the week's migration ledger (what the account managers hear about)."""
    return con.execute(
        "SELECT * FROM monitoring.segment_migrations WHERE week_start = ? ORDER BY account_id", [week]
    ).fetchdf()


def crm_snapshot(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    """Read the CRM's accounts as of the week, with their account managers (routing for digests, ids for write-back)."""
    return con.execute(
        "SELECT account_id, account_name, account_manager_id, account_manager_name, account_manager_email "
        "FROM staging.stg_crm_accounts WHERE week_start = ? ORDER BY account_id",
        [week],
    ).fetchdf()


def write_writeback_stats(con: duckdb.DuckDBPyConnection, week: date, *, mode: str, enqueued: int, sent: int,
                          unchanged: int, failed: int, dead_lettered: int) -> None:
    """Replace the week's row of ``sinks.writeback_stats``."""
    stats = pd.DataFrame([{
        "week_start": week, "mode": mode, "enqueued": enqueued, "sent": sent, "unchanged": unchanged,
        "failed": failed, "dead_lettered": dead_lettered,
    }])
    replace_partition(con, "sinks", "writeback_stats", stats, key=week)


def write_alert_stats(con: duckdb.DuckDBPyConnection, week: date, *, channel: str, digests_planned: int,
                      digests_sent: int, moves_alerted: int, dead_lettered: int, blocked: bool) -> None:
    """Replace the week's row of ``sinks.alert_stats``."""
    stats = pd.DataFrame([{
        "week_start": week, "channel": channel, "digests_planned": digests_planned, "digests_sent": digests_sent,
        "moves_alerted": moves_alerted, "dead_lettered": dead_lettered, "blocked": blocked,
    }])
    replace_partition(con, "sinks", "alert_stats", stats, key=week)


def record_blocked_week(con: duckdb.DuckDBPyConnection, config: AlertConfig, week: date) -> None:
    """Record that the week's digests were held back by a blocking check (the dashboard shows it)."""
    write_alert_stats(con, week, channel=config.channel, digests_planned=0, digests_sent=0, moves_alerted=0,
                      dead_lettered=0, blocked=True)


def planned_alert_items(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every move put into an AM digest (any delivery status), for `seg evaluate`'s alert precision and lead time.

    Columns ``account_id, week_start, from_segment, to_segment, from_name, to_name, status``; empty when the
    sinks never ran.
    """
    if not table_exists(con, "sinks", "alert_items") or not table_exists(con, "sinks", "alert_ledger"):
        return pd.DataFrame(columns=["account_id", "week_start", "from_segment", "to_segment", "from_name",
                                     "to_name", "status"])
    return con.execute(
        "SELECT i.account_id, i.week_start, i.from_segment, i.to_segment, i.from_name, i.to_name, l.status "
        "FROM sinks.alert_items i JOIN sinks.alert_ledger l USING (message_id) "
        "WHERE l.kind = 'am_digest' ORDER BY i.week_start, i.account_id"
    ).fetchdf()
