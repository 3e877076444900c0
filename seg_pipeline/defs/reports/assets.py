"""Reports: the segment-health dashboard, rebuilt every week from a read-only warehouse snapshot."""

from typing import Any

import dagster as dg

from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import weekly_asset
from seg_pipeline.reports.dashboard import build_dashboard_from_file
from seg_pipeline.warehouse.duck import connect, publish_snapshot


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
def segment_dashboard(context: dg.AssetExecutionContext, seg: SegResource) -> dg.MaterializeResult:
    settings = seg.settings()
    with connect(settings.warehouse_path) as con:
        publish_snapshot(con, settings.warehouse_path, settings.snapshot_path)
    result = build_dashboard_from_file(settings.snapshot_path, settings.reports_dir / "dashboard.html")
    meta: dict[str, Any] = dict(result.metadata())
    meta["path"] = dg.MetadataValue.path(str(result.path))
    meta["snapshot"] = dg.MetadataValue.path(str(settings.snapshot_path))
    return dg.MaterializeResult(metadata=meta)
