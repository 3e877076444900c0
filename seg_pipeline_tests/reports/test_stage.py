"""The reports stage on its own (``run_week``) and through Dagster (the dashboard asset with temporary resources)."""

from pathlib import Path

import dagster as dg
import duckdb

from seg_pipeline.defs.reports.assets import segment_dashboard
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.reports.stage import run_week
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.reports.conftest import build_warehouse

WEEK = "2026-01-26"  # the tiny warehouse's last week


def _segment_rows(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("select count(*) from assignments.account_segments").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def test_run_week_publishes_the_snapshot_and_builds_the_dashboard_from_it(tmp_path: Path) -> None:
    live = build_warehouse(tmp_path / "warehouse.duckdb")
    warehouse = Warehouse(live, tmp_path / "warehouse_snapshot.duckdb")
    reports = tmp_path / "reports"

    result = run_week(warehouse, reports)

    assert warehouse.snapshot_path.exists()
    assert _segment_rows(warehouse.snapshot_path) == _segment_rows(live) > 0
    page = reports / "dashboard.html"
    assert "<h1>Segment health</h1>" in page.read_text()
    assert result.checks == []
    assert result.metadata == {
        "path": page, "charts": 7, "sections": 6, "tables": 8, "notes": [], "latest_week": WEEK,
        "snapshot": warehouse.snapshot_path, "live_segments": 4, "latest_week_segment_moves": 3,
        "weeks_not_ok": [WEEK],  # the fixture's sinks held the latest week (mass migration)
    }

    # the next run republishes: what the live file lost since, the page loses too (never a stale snapshot)
    con = duckdb.connect(str(live))
    con.execute("drop table sinks.alert_stats")
    con.close()
    again = run_week(warehouse, reports)
    assert again.metadata["charts"] == 6
    assert again.metadata["notes"] == [
        "sinks.alert_stats not built yet — this section fills in once that stage has run."
    ]
    assert "sinks.alert_stats not built yet" in page.read_text()


def test_run_week_before_any_data_builds_the_all_notes_page(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "home" / "warehouse.duckdb", tmp_path / "home" / "warehouse_snapshot.duckdb")
    result = run_week(warehouse, tmp_path / "reports")
    assert warehouse.snapshot_path.exists()
    assert result.metadata["charts"] == 0
    assert result.metadata["latest_week"] is None
    assert len(result.metadata["notes"]) >= 8
    assert "No segment assignments yet" in (tmp_path / "reports" / "dashboard.html").read_text()


def test_dashboard_asset_materializes_with_temporary_resources(tmp_path: Path) -> None:
    settings = Settings().with_home(tmp_path / "home")
    settings.ensure_home()
    build_warehouse(settings.warehouse_path)

    with weekly_instance(WEEK) as instance:
        result = dg.materialize([segment_dashboard], partition_key=WEEK, instance=instance,
                                resources=build_resources(settings))
        assert result.success
        mats = result.asset_materializations_for_node(segment_dashboard.op.name)

    assert [m.partition for m in mats] == [WEEK]
    meta = mats[0].metadata
    page = settings.reports_dir / "dashboard.html"
    assert meta["path"] == dg.MetadataValue.path(str(page))
    assert meta["snapshot"] == dg.MetadataValue.path(str(settings.snapshot_path))
    assert (meta["charts"].value, meta["sections"].value, meta["tables"].value) == (7, 6, 8)
    # the count of moves the page shows is in the Dagster metadata too (the same as `seg status`)
    assert meta["latest_week_segment_moves"].value == 3
    assert meta["live_segments"].value == 4
    assert meta["latest_week"].value == WEEK
    assert page.exists()
    assert "<h1>Segment health</h1>" in page.read_text()
    assert _segment_rows(settings.snapshot_path) == _segment_rows(settings.warehouse_path) > 0
