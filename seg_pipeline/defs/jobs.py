"""The weekly job (every stage of one week, in order) and its Monday 06:00 UTC schedule."""

import dagster as dg

WEEKLY_JOB_NAME = "weekly_segmentation"

weekly_job = dg.define_asset_job(
    WEEKLY_JOB_NAME,
    selection=dg.AssetSelection.all(),
    # every step writes the one DuckDB file, so steps run one after another in a single process
    executor_def=dg.in_process_executor,
    description="Ingest, transform, segment, monitor and deliver one week end to end.",
)

weekly_schedule = dg.build_schedule_from_partitioned_job(
    weekly_job,
    hour_of_day=6,
    minute_of_hour=0,
    description="Every Monday 06:00 UTC: materialize the week that just closed.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

DASHBOARD_JOB_NAME = "refresh_dashboard"

# A week stopped by a blocking check (mass migration, volume drop) skips everything downstream, the dashboard
# included; that is exactly the week stakeholders most need to look at, so it is refreshed on its own too.
dashboard_job = dg.define_asset_job(
    DASHBOARD_JOB_NAME,
    selection=dg.AssetSelection.assets(["reports", "segment_dashboard"]),
    executor_def=dg.in_process_executor,
    description="Rebuild the segment-health dashboard from what the warehouse holds, even after a blocked week.",
)

dashboard_schedule = dg.build_schedule_from_partitioned_job(
    dashboard_job,
    hour_of_day=7,
    minute_of_hour=0,
    description="Every Monday 07:00 UTC, after the weekly run: refresh the dashboard (also after blocked weeks).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
