"""The weekly job (every stage of one week, in order) and its Monday 06:00 UTC schedule."""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # dagster does not export the types of unresolved asset jobs and their schedules
    from dagster._core.definitions.partitions.partitioned_schedule import (
        UnresolvedPartitionedAssetScheduleDefinition,
    )
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

WEEKLY_JOB_NAME = "weekly_segmentation"
DASHBOARD_JOB_NAME = "refresh_dashboard"


def _monday_job(
    name: str, selection: dg.AssetSelection, *, hour: int, description: str, schedule_description: str
) -> "tuple[UnresolvedAssetJobDefinition, UnresolvedPartitionedAssetScheduleDefinition | dg.ScheduleDefinition]":
    """Define a job over ``selection`` and its schedule, Mondays at ``hour``:00 UTC for the week that closed."""
    job = dg.define_asset_job(
        name,
        selection=selection,
        # every step writes the one DuckDB file, so steps run one after another in a single process
        executor_def=dg.in_process_executor,
        description=description,
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=hour,
        minute_of_hour=0,
        description=schedule_description,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return job, schedule


weekly_job, weekly_schedule = _monday_job(
    WEEKLY_JOB_NAME,
    dg.AssetSelection.all(),
    hour=6,
    description="Ingest, transform, segment, monitor and deliver one week end to end.",
    schedule_description="Every Monday 06:00 UTC: materialize the week that just closed.",
)

# A week stopped by a blocking check (mass migration, volume drop) skips everything downstream, the dashboard
# included; that is exactly the week stakeholders most need to look at, so it is refreshed on its own too.
dashboard_job, dashboard_schedule = _monday_job(
    DASHBOARD_JOB_NAME,
    dg.AssetSelection.assets(["reports", "segment_dashboard"]),
    hour=7,
    description="Rebuild the segment-health dashboard from what the warehouse holds, even after a blocked week.",
    schedule_description=(
        "Every Monday 07:00 UTC, after the weekly run: refresh the dashboard (also after blocked weeks)."
    ),
)
