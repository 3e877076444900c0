"""The weekly job (every stage of one week, in order) and its Monday 06:00 UTC schedule.

The partition set is dynamic (see ``defs/weekly.py``), so the schedule decides which week to run from the data:
the week that just closed, once its landing files exist; it registers that week, then requests its run.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from seg_pipeline.defs.resources import LandingZoneResource
from seg_pipeline.defs.weekly import register_weeks
from seg_pipeline.week_calendar import closed_week, landed_weeks

if TYPE_CHECKING:  # dagster does not export the type of unresolved asset jobs
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

WEEKLY_JOB_NAME = "weekly_segmentation"
DASHBOARD_JOB_NAME = "refresh_dashboard"

def landed_week_request(
    context: dg.ScheduleEvaluationContext, landing: LandingZoneResource
) -> dg.RunRequest | dg.SkipReason:
    """Request the week that closed before this tick when its files landed (registering it); else say why not."""
    week = closed_week(context.scheduled_execution_time)
    first = landing.first_week_date()
    landed = landed_weeks(Path(landing.path), first)
    if first is not None and week < first:
        return dg.SkipReason(f"week {week} is before SEG_FIRST_WEEK={first}: nothing to run")
    if week not in landed.weeks:
        return dg.SkipReason(
            f"week {week} has no landing files under {landing.path} yet: land its exports (or `seg import`), "
            f"then run it with `seg run {week}`"
        )
    register_weeks(context.instance, [week.isoformat()])
    return dg.RunRequest(run_key=week.isoformat(), partition_key=week.isoformat())


def _monday_job(
    name: str, selection: dg.AssetSelection, *, hour: int, description: str, schedule_description: str
) -> "tuple[UnresolvedAssetJobDefinition, dg.ScheduleDefinition]":
    """Define a job over ``selection`` and its schedule, Mondays at ``hour``:00 UTC for the week that closed."""
    job = dg.define_asset_job(
        name,
        selection=selection,
        # every step writes the one DuckDB file, so steps run one after another in a single process
        executor_def=dg.in_process_executor,
        description=description,
    )

    @dg.schedule(
        name=f"{name}_schedule",
        cron_schedule=f"0 {hour} * * 1",
        execution_timezone="UTC",
        job=job,
        description=schedule_description,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def monday(context: dg.ScheduleEvaluationContext, landing: LandingZoneResource) -> dg.RunRequest | dg.SkipReason:
        """Run the week that just closed, if it landed."""
        return landed_week_request(context, landing)

    return job, monday


weekly_job, weekly_schedule = _monday_job(
    WEEKLY_JOB_NAME,
    dg.AssetSelection.all(),
    hour=6,
    description="Ingest, transform, segment, monitor and deliver one week end to end.",
    schedule_description="Every Monday 06:00 UTC: materialize the week that just closed, once its files landed "
    "(skips with the reason otherwise).",
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
