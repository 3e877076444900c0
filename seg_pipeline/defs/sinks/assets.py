"""Sinks wiring: CRM write-back and account-manager digests, gated upstream by the blocking checks.

The logic lives in ``seg_pipeline.sinks``; the blocking checks are mass migration and event volume.
"""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import AlertChannelResource, CrmSinkResource, WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, fail_run_on, partition_week, weekly_asset, weekly_check
from seg_pipeline.sinks.engineer import notify_engineers
from seg_pipeline.sinks.http import SinkStopError
from seg_pipeline.sinks.stage import DELIVERY_CHECK, alerts_week, writeback_week

ASSIGNMENTS = dg.AssetKey(["assignments", "account_segments"])
MIGRATIONS = dg.AssetKey(["monitoring", "segment_migrations"])
CRM = dg.AssetKey(["staging", "stg_crm_accounts"])
WRITEBACK = dg.AssetKey(["sinks", "crm_writeback"])
AM_ALERTS = dg.AssetKey(["sinks", "am_alerts"])


def _delivery_check(asset: dg.AssetKey, what: str) -> dg.AssetCheckSpec:
    return weekly_check(
        DELIVERY_CHECK, asset=asset, blocking=True,
        description=f"Every planned {what} was delivered or dead-lettered with a reason. Rows still pending after "
        "the retry budget (receiver down, refusing connections, answering 5xx/4xx-SMTP) fail the run and alert the "
        "engineers; dead letters alone warn. `seg sinks redrive` resends them under their original keys.",
    )


@weekly_asset(
    "sinks", "crm_writeback",
    deps=[ASSIGNMENTS, MIGRATIONS, CRM],
    kinds={"duckdb", "crm"},
    owners=["team:revops"],
    check_specs=[_delivery_check(WRITEBACK, "CRM row")],
    description=(
        "Writes each account's current segment (with provenance: segment, name, week, model version, run id) "
        "back to the CRM. Diff-based through an outbox with deterministic idempotency keys, so a rerun or a "
        "crash never produces a second effect. Embedded default: a CSV export under SEG_HOME/outbox/crm; set "
        "SEG_CRM_MODE=rest to send batch upserts to a REST CRM. Does not run when the mass-migration gate fails."
    ),
)
def crm_writeback(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, crm: CrmSinkResource,
    alerts: AlertChannelResource,
) -> Iterator[Event]:
    """Write the week's segment changes back to the CRM; a stop (e.g. bad credentials) fails the run."""
    engine = warehouse.engine()
    with fail_run_on(SinkStopError, prefix="CRM write-back stopped: "):
        result = writeback_week(partition_week(context), engine, crm.config(), context.run.run_id)
    yield from emit(result, notify=lambda alert: notify_engineers(engine, alerts.config(), alert))


@weekly_asset(
    "sinks", "am_alerts",
    deps=[MIGRATIONS, CRM, WRITEBACK],
    kinds={"duckdb", "email", "slack"},
    owners=["team:customer-success"],
    check_specs=[_delivery_check(AM_ALERTS, "digest")],
    description=(
        "One digest per account manager per week listing their accounts' confirmed segment moves (moves into "
        "at-risk segments first) with the reason for each. A ledger delivers each (manager, week) digest at most "
        "once. Embedded default: a JSONL outbox; SEG_ALERT_CHANNEL=webhook (signed, Slack-compatible) or email "
        "(SMTP, STARTTLS) for real delivery. Does not run when the mass-migration gate fails."
    ),
)
def am_alerts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, alerts: AlertChannelResource
) -> Iterator[Event]:
    """Send the account managers their digests of the week's moves; a stop fails the run."""
    engine = warehouse.engine()
    with fail_run_on(SinkStopError, prefix="alert delivery stopped: "):
        result = alerts_week(partition_week(context), engine, alerts.config())
    yield from emit(result, notify=lambda alert: notify_engineers(engine, alerts.config(), alert))
