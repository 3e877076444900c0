"""Reports wiring: the segment-health dashboard asset (logic in ``seg_pipeline.reports``)."""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import ReportStoreResource, WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, weekly_asset
from seg_pipeline.reports.stage import run_week
from seg_pipeline.week_runs import week_outcomes


@weekly_asset(
    "reports", "segment_dashboard",
    deps=[
        dg.AssetKey(["sinks", "am_alerts"]),
        dg.AssetKey(["sinks", "crm_writeback"]),
        dg.AssetKey(["monitoring", "drift_report"]),
    ],
    kinds={"plotly", "html"},
    owners=["team:data-science"],
    description=(
        "Segment-health dashboard: one self-contained HTML file (opens offline) with segment sizes over time, "
        "the week's migrations as a Sankey, segment profiles and personas, silhouette / stability / drift / churn "
        "per segment, top movers into at-risk segments and delivery statistics. Built from a read-only snapshot "
        "of the warehouse (published here), never the live file. `seg dashboard --open` serves it."
    ),
)
def segment_dashboard(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportStoreResource
) -> Iterator[Event]:
    """Rebuild the static dashboard from the warehouse into the report store, with every week's run outcome."""
    outcomes = week_outcomes(context.instance, current_run_id=context.run.run_id)
    yield from emit(run_week(warehouse.engine(), reports.directory(), outcomes))
