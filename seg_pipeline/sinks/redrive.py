"""Re-drive: resend what a sink left pending or dead-lettered, under the rows' original idempotency keys.

After an outage (rows pending past the retry budget) or a fixed receiver (a batch-level 4xx dead-lettered every
row), ``seg sinks redrive`` delivers them without re-planning: the outbox rows and ledger messages keep their keys,
so a row the receiver did apply is deduplicated by it and nothing takes effect twice. A dead row whose account
already has a newer value pending or sent is superseded instead (a redrive never moves the CRM back in time).
A revived CRM batch gets a new batch key derived from its old one: a receiver that cached the 4xx answer under
the old key must see a new request, while the derivation keeps a crash during the redrive safe to repeat.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from seg_pipeline.sinks.alerts import AlertResult, deliver_alerts
from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline.sinks.crm import WritebackResult, deliver_writeback
from seg_pipeline.warehouse.duck import transaction
from seg_pipeline.warehouse.schema import ensure_tables

# A dead CRM row of the week (or of any week, $week NULL) whose account already has a newer value pending or sent
# is superseded; the other dead rows go back to pending.
_CRM_SUPERSEDE = """UPDATE sinks.crm_outbox SET status = 'superseded' WHERE status = 'dead'
    AND ($week IS NULL OR week_start = $week) AND EXISTS (
    SELECT 1 FROM sinks.crm_outbox n WHERE n.account_id = crm_outbox.account_id
      AND n.week_start > crm_outbox.week_start AND n.status IN ('pending', 'sent'))"""
_CRM_REVIVE = """UPDATE sinks.crm_outbox SET status = 'pending',
    batch_key = CASE WHEN batch_key IS NULL THEN NULL ELSE left(sha256('redrive|' || batch_key), 32) END
    WHERE status = 'dead' AND ($week IS NULL OR week_start = $week)"""
_ALERTS_REVIVE = """UPDATE sinks.alert_ledger SET status = 'pending'
    WHERE status = 'dead' AND ($week IS NULL OR week_start = $week)"""
_COUNT = {
    "crm_newer": """SELECT count(*) FROM sinks.crm_outbox WHERE status = 'dead'
    AND ($week IS NULL OR week_start = $week) AND EXISTS (
    SELECT 1 FROM sinks.crm_outbox n WHERE n.account_id = crm_outbox.account_id
      AND n.week_start > crm_outbox.week_start AND n.status IN ('pending', 'sent'))""",
    "crm_dead": """SELECT count(*) FROM sinks.crm_outbox
        WHERE status = 'dead' AND ($week IS NULL OR week_start = $week)""",
    "alerts_dead": """SELECT count(*) FROM sinks.alert_ledger
        WHERE status = 'dead' AND ($week IS NULL OR week_start = $week)""",
}
_LAST_PENDING = {
    "crm": "SELECT max(week_start) FROM sinks.crm_outbox WHERE status = 'pending'",
    "alerts": "SELECT max(week_start) FROM sinks.alert_ledger WHERE status = 'pending'",
}


@dataclass
class RedriveResult:
    """What one redrive revived and delivered, per sink."""

    revived_crm: int = 0
    superseded_crm: int = 0
    revived_alerts: int = 0
    crm: WritebackResult | None = None
    alerts: AlertResult | None = None

    def summary(self) -> str:
        """One line per sink for the console."""
        lines = [f"dead letters revived: {self.revived_crm} CRM row(s) ({self.superseded_crm} superseded by newer "
                 f"values), {self.revived_alerts} alert message(s)"]
        if self.crm is not None:
            c = self.crm
            lines.append(f"CRM: {c.pending_before} pending, {c.sent} sent, {c.dead_lettered} dead-lettered, "
                         f"{c.failed} still failing")
        if self.alerts is not None:
            a = self.alerts
            lines.append(f"alerts: {a.pending_before} pending, {a.sent} sent, {a.dead_lettered} dead-lettered, "
                         f"{a.failed} still failing")
        return "\n".join(lines)


def revive_dead_crm(con: duckdb.DuckDBPyConnection, week: date | None) -> tuple[int, int]:
    """Put dead CRM rows (of ``week``, or all) back to pending under their keys: (revived, superseded)."""
    params: dict[str, Any] = {"week": week}
    with transaction(con):
        superseded = _count(con, _COUNT["crm_newer"], params)
        con.execute(_CRM_SUPERSEDE, params)
        revived = _count(con, _COUNT["crm_dead"], params)
        con.execute(_CRM_REVIVE, params)
    return revived, superseded


def revive_dead_alerts(con: duckdb.DuckDBPyConnection, week: date | None) -> int:
    """Put dead alert messages (of ``week``, or all) back to pending under their message ids."""
    params: dict[str, Any] = {"week": week}
    with transaction(con):
        revived = _count(con, _COUNT["alerts_dead"], params)
        con.execute(_ALERTS_REVIVE, params)
    return revived


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def _last_week(con: duckdb.DuckDBPyConnection, sink: str, week: date | None) -> date | None:
    """Pick the week to deliver up to: ``week`` when given, else the newest week with pending rows of ``sink``."""
    if week is not None:
        return week
    row = con.execute(_LAST_PENDING[sink]).fetchone()
    return row[0] if row and row[0] is not None else None


def redrive(con: duckdb.DuckDBPyConnection, crm: CrmConfig, alerts: AlertConfig, *, week: date | None = None,
            dead_letters: bool = False, **delivery: Any) -> RedriveResult:
    """Resend pending rows (and, with ``dead_letters``, dead-lettered ones) of ``week`` or every week.

    ``delivery`` takes the injectables of the delivery functions (``sleep``, ``clock``, ``policy``).
    """
    ensure_tables(con)
    result = RedriveResult()
    if dead_letters:
        result.revived_crm, result.superseded_crm = revive_dead_crm(con, week)
        result.revived_alerts = revive_dead_alerts(con, week)
    crm_week = _last_week(con, "crm", week)
    if crm_week is not None:
        result.crm = deliver_writeback(con, crm, week_start=crm_week, **delivery)
    alert_week = _last_week(con, "alerts", week)
    if alert_week is not None:
        result.alerts = deliver_alerts(con, alerts, week_start=alert_week, **delivery)
    return result
