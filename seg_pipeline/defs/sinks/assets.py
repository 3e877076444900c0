"""Sinks: CRM write-back and account-manager alert digests, gated by the mass-migration check upstream."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd

from seg_pipeline.defs.resources import AlertChannelResource, CrmSinkResource, WarehouseResource
from seg_pipeline.defs.weekly import partition_week, weekly_asset
from seg_pipeline.sinks import SinkStopError, deliver_writeback, plan_writeback, send_am_alerts
from seg_pipeline.warehouse.duck import replace_partition

ASSIGNMENTS = dg.AssetKey(["assignments", "account_segments"])
MIGRATIONS = dg.AssetKey(["monitoring", "segment_migrations"])
CRM = dg.AssetKey(["staging", "stg_crm_accounts"])


def _crm_accounts(con, week: date) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return con.execute(
        "SELECT account_id, account_name, account_manager_id, account_manager_name, account_manager_email "
        "FROM staging.stg_crm_accounts WHERE week_start = ? ORDER BY account_id",
        [week],
    ).fetchdf()


@weekly_asset(
    "sinks", "crm_writeback",
    deps=[ASSIGNMENTS, MIGRATIONS, CRM],
    kinds={"duckdb", "crm"},
    owners=["team:revops"],
    description=(
        "Writes each account's current segment (with provenance: segment, name, week, model version, run id) "
        "back to the CRM. Diff-based through an outbox with deterministic idempotency keys, so a rerun or a "
        "crash never produces a second effect. Embedded default: a CSV export under SEG_HOME/outbox/crm; set "
        "SEG_CRM_MODE=rest to send batch upserts to a REST CRM. Does not run when the mass-migration gate fails."
    ),
)
def crm_writeback(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, crm: CrmSinkResource
) -> Iterator[dg.MaterializeResult]:
    config = crm.config()
    week = partition_week(context)
    with warehouse.engine().connect() as con:
        assignments = con.execute(
            "SELECT * FROM assignments.account_segments WHERE week_start = ? ORDER BY account_id", [week]
        ).fetchdf()
        model_version = str(assignments["model_version"].iloc[0]) if len(assignments) else "none"
        enqueued = plan_writeback(
            con, assignments, _crm_accounts(con, week), week_start=week, model_version=model_version,
            run_id=context.run.run_id, full_resync=config.full_resync,
        )
        try:
            result = deliver_writeback(con, config, week_start=week, dry_run=config.dry_run)
        except SinkStopError as exc:
            raise dg.Failure(description=f"CRM write-back stopped: {exc}") from exc
        stats = pd.DataFrame([{
            "week_start": week, "mode": result.mode, "enqueued": enqueued, "sent": result.sent,
            "unchanged": result.unchanged, "failed": result.failed, "dead_lettered": result.dead_lettered,
        }])
        replace_partition(con, "sinks", "writeback_stats", stats, key=week)
    meta = result.as_metadata()
    meta["enqueued"] = enqueued
    if result.file_path is not None:
        meta["file_path"] = dg.MetadataValue.path(str(result.file_path))
    yield dg.MaterializeResult(metadata=meta)


@weekly_asset(
    "sinks", "am_alerts",
    deps=[MIGRATIONS, CRM, dg.AssetKey(["sinks", "crm_writeback"])],
    kinds={"duckdb", "email", "slack"},
    owners=["team:customer-success"],
    description=(
        "One digest per account manager per week listing their accounts' confirmed segment moves (moves into "
        "at-risk segments first) with the reason for each. A ledger delivers each (manager, week) digest at most "
        "once. Embedded default: a JSONL outbox; SEG_ALERT_CHANNEL=webhook (signed, Slack-compatible) or email "
        "(SMTP, STARTTLS) for real delivery. Does not run when the mass-migration gate fails."
    ),
)
def am_alerts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, alerts: AlertChannelResource
) -> Iterator[dg.MaterializeResult]:
    config = alerts.config()
    week = partition_week(context)
    with warehouse.engine().connect() as con:
        migrations = con.execute(
            "SELECT * FROM monitoring.segment_migrations WHERE week_start = ? ORDER BY account_id", [week]
        ).fetchdf()
        try:
            result = send_am_alerts(con, config, migrations, _crm_accounts(con, week), week_start=week,
                                    dry_run=config.dry_run)
        except SinkStopError as exc:
            raise dg.Failure(description=f"alert delivery stopped: {exc}") from exc
        confirmed = (
            migrations[(migrations["kind"] == "segment") & migrations["confirmed"].astype(bool)]
            if len(migrations)
            else migrations
        )
        stats = pd.DataFrame([{
            "week_start": week, "channel": result.channel, "digests_planned": result.planned,
            "digests_sent": result.sent, "moves_alerted": len(confirmed), "dead_lettered": result.dead_lettered,
            "blocked": False,
        }])
        replace_partition(con, "sinks", "alert_stats", stats, key=week)
    yield dg.MaterializeResult(metadata={**result.as_metadata(), "confirmed_moves": len(confirmed)})
