"""The reports stage's week: publish the read-only warehouse snapshot, then rebuild the dashboard from it.

The dashboard never reads the live file (a reader would lock out the single writer); publishing the snapshot
here, as the last step of a weekly run, is what makes the page and notebooks see this week's data.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

from seg_pipeline.outcomes import StageResult
from seg_pipeline.reports.dashboard import DASHBOARD_FILE, build_dashboard_from_file
from seg_pipeline.warehouse.engine import Warehouse


def run_week(
    warehouse: Warehouse, reports_dir: Path, week_outcomes: Sequence[Mapping[str, str]] | None = None
) -> StageResult:
    """Publish ``warehouse``'s snapshot and write ``reports_dir/dashboard.html`` from it.

    The page covers every week the warehouse holds, so the run's week is not an input; a blocked week still
    refreshes it (stakeholders must see the blocked week): ``week_outcomes`` (from the Dagster instance) carries
    each week's state and reason onto the page. Missing tables become notes, never a failure.
    """
    snapshot = warehouse.publish_snapshot()
    result = build_dashboard_from_file(snapshot, reports_dir / DASHBOARD_FILE, week_outcomes=week_outcomes)
    return StageResult(metadata={**result.metadata(), "snapshot": snapshot})
