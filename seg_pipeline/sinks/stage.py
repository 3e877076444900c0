"""The sinks stage's week: CRM write-back and account-manager digests, each a plan then a delivery.

Dagster-free: the wiring passes the week, the warehouse and the sink's config, and turns the
:class:`~seg_pipeline.outcomes.StageResult` into events. A :class:`~seg_pipeline.sinks.http.SinkStopError`
(credentials refused, endpoint gone) propagates with the week's rows still pending; the stats row is only
written for a week that was delivered (or deliberately left pending by a dry run or an outage).
"""

from datetime import date

import duckdb
import pandas as pd

from seg_pipeline.outcomes import CheckOutcome, EngineerAlert, StageResult
from seg_pipeline.sinks.alerts import send_am_alerts
from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline.sinks.crm import deliver_writeback, plan_writeback
from seg_pipeline.sinks.tables import (
    crm_snapshot,
    week_assignments,
    week_migrations,
    write_alert_stats,
    write_writeback_stats,
)
from seg_pipeline.warehouse.engine import Warehouse

NO_MODEL = "none"  # provenance of a week without assignments (nothing is enqueued then)
DELIVERY_CHECK = "delivery_complete"
REDRIVE_HINT = "once the receiver is fixed, `seg sinks redrive --week {week}` resends them under their original keys"
_COUNTS_SQL = {  # (pending up to the week, dead letters of the week, dead without a reason)
    "crm": """SELECT count(*) FILTER (WHERE status = 'pending' AND week_start <= $week),
                     count(*) FILTER (WHERE status = 'dead' AND week_start = $week),
                     count(*) FILTER (WHERE status = 'dead' AND week_start = $week AND last_error IS NULL)
              FROM sinks.crm_outbox""",
    "alerts": """SELECT count(*) FILTER (WHERE status = 'pending' AND week_start <= $week),
                        count(*) FILTER (WHERE status = 'dead' AND week_start = $week),
                        count(*) FILTER (WHERE status = 'dead' AND week_start = $week AND last_error IS NULL)
                 FROM sinks.alert_ledger""",
}


def delivery_check(con: duckdb.DuckDBPyConnection, sink: str, week: date, *, dry_run: bool) -> CheckOutcome:
    """Judge whether every planned row was delivered or dead-lettered with a reason (rule 5, no silent partials).

    Rows still pending after the retry budget fail the check as an ERROR (the run is not green); dead letters
    without pending rows fail it as a warning. Both carry one engineer alert per week.
    """
    row = con.execute(_COUNTS_SQL[sink], {"week": week}).fetchone() or (0, 0, 0)
    pending, dead, unexplained = (int(v) for v in row)
    meta: dict[str, object] = {"pending": pending, "dead_lettered": dead, "dead_without_reason": unexplained}
    what = "CRM rows" if sink == "crm" else "alert messages"
    if dry_run:
        return CheckOutcome(DELIVERY_CHECK, True, meta, f"dry run: {pending} {what} left pending on purpose",
                            error=False)
    if not pending and not unexplained and not dead:
        return CheckOutcome(DELIVERY_CHECK, True, meta, f"all planned {what} delivered", error=False)
    parts = [f"{pending} {what} still pending after the retry budget"] if pending else []
    if dead:
        parts.append(f"{dead} dead-lettered (reasons in sinks.dead_letters)")
    description = f"{sink} delivery for {week} incomplete: " + ", ".join(parts) + "; " + REDRIVE_HINT.format(week=week)
    alert = EngineerAlert(week, reason=f"{sink}_undelivered", subject=f"[seg_pipeline] {sink} delivery incomplete "
                          f"for {week}", body=description)
    return CheckOutcome(DELIVERY_CHECK, False, meta, description, error=bool(pending or unexplained), alert=alert)


def writeback_week(week: date, warehouse: Warehouse, config: CrmConfig, run_id: str) -> StageResult:
    """Diff the week's assignments against what the CRM acknowledged, deliver the changes, record the stats.

    ``run_id`` is the provenance written to the CRM with each value (the Dagster run that produced it).
    """
    with warehouse.connect() as con:
        assignments = week_assignments(con, week)
        model_version = str(assignments["model_version"].iloc[0]) if len(assignments) else NO_MODEL
        enqueued = plan_writeback(con, assignments, crm_snapshot(con, week), week_start=week,
                                  model_version=model_version, run_id=run_id, full_resync=config.full_resync)
        result = deliver_writeback(con, config, week_start=week, dry_run=config.dry_run)
        write_writeback_stats(con, week, mode=result.mode, enqueued=enqueued, sent=result.sent,
                              unchanged=result.unchanged, failed=result.failed,
                              dead_lettered=result.dead_lettered)
        check = delivery_check(con, "crm", week, dry_run=result.dry_run)
    metadata = result.as_metadata()
    metadata["enqueued"] = enqueued
    if result.file_path is not None:
        metadata["file_path"] = result.file_path  # a Path: the UI renders it as a file link
    return StageResult(metadata, [check])


def confirmed_moves(migrations: pd.DataFrame) -> int:
    """How many of the week's ledger rows are confirmed segment moves (what the digests report on)."""
    if not len(migrations):
        return 0
    return len(migrations[(migrations["kind"] == "segment") & migrations["confirmed"].astype(bool)])


def alerts_week(week: date, warehouse: Warehouse, config: AlertConfig) -> StageResult:
    """Plan the week's digests (one per account manager), deliver what is pending, record the stats."""
    with warehouse.connect() as con:
        migrations = week_migrations(con, week)
        result = send_am_alerts(con, config, migrations, crm_snapshot(con, week), week_start=week,
                                dry_run=config.dry_run)
        moves = confirmed_moves(migrations)
        write_alert_stats(con, week, channel=result.channel, digests_planned=result.planned,
                          digests_sent=result.sent, moves_alerted=moves, dead_lettered=result.dead_lettered,
                          blocked=False)
        check = delivery_check(con, "alerts", week, dry_run=result.dry_run)
    return StageResult({**result.as_metadata(), "confirmed_moves": moves}, [check])
