"""Sinks wiring: CRM write-back and account-manager digests, gated upstream by the blocking checks.

The logic lives in ``seg_pipeline.sinks``; the blocking checks are mass migration and event volume.
"""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import AlertChannelResource, CrmSinkResource, WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, fail_run_on, partition_week, weekly_asset
from seg_pipeline.sinks.http import SinkStopError
from seg_pipeline.sinks.stage import alerts_week, writeback_week

ASSIGNMENTS = dg.AssetKey(["assignments", "account_segments"])
MIGRATIONS = dg.AssetKey(["monitoring", "segment_migrations"])
CRM = dg.AssetKey(["staging", "stg_crm_accounts"])


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
) -> Iterator[Event]:
    """Write the week's segment changes back to the CRM; a stop (e.g. bad credentials) fails the run."""
    with fail_run_on(SinkStopError, prefix="CRM write-back stopped: "):
        result = writeback_week(partition_week(context), warehouse.engine(), crm.config(), context.run.run_id)
    yield from emit(result)


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
) -> Iterator[Event]:
    """Send the account managers their digests of the week's moves; a stop fails the run."""
    with fail_run_on(SinkStopError, prefix="alert delivery stopped: "):
        result = alerts_week(partition_week(context), warehouse.engine(), alerts.config())
    yield from emit(result)
