"""The monitoring assets through Dagster with the project's typed resources, on the tiny monitored warehouse."""

import json
from pathlib import Path

import dagster as dg
import pytest

from seg_pipeline.defs.monitoring.assets import drift_report, segment_migrations
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.segmentation.tracking import TAG_WEEK
from seg_pipeline.settings import Settings
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.monitoring.conftest import W1, Monitored

WEEK = W1.isoformat()


def _materialize(assets: list[dg.AssetsDefinition], settings: Settings) -> dg.ExecuteInProcessResult:
    with weekly_instance(WEEK) as instance:
        return dg.materialize(assets, partition_key=WEEK, instance=instance, raise_on_error=False,
                              resources=build_resources(settings))


def test_monitoring_assets_write_the_ledger_block_the_week_and_report_drift(monitored: Monitored) -> None:
    settings = monitored.settings
    result = _materialize([segment_migrations, drift_report], settings)
    # a failed blocking check fails its asset's step (so nothing downstream runs); the drift report is independent
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "monitoring__segment_migrations"
    assert "blocking asset check failed" in failure.step_failure_data.error.message
    assert result.is_node_success("monitoring__drift_report")

    # the ledger, and the gate that blocks the sinks: one engineer alert, the week recorded as blocked
    meta = {k: v.value for k, v in result.asset_materializations_for_node("monitoring__segment_migrations")[0]
            .metadata.items()}
    with monitored.warehouse.connect(read_only=True) as con:
        ledger_rows = con.execute(
            "SELECT count(*) FROM monitoring.segment_migrations WHERE week_start = ?", [WEEK]).fetchall()[0][0]
        blocked = con.execute("SELECT channel, blocked FROM sinks.alert_stats WHERE week_start = ?",
                              [WEEK]).fetchall()
        drift_rows = con.execute("SELECT reference, html_path FROM monitoring.drift_summary WHERE week_start = ?",
                                 [WEEK]).fetchall()
    assert ledger_rows == meta["dagster/row_count"] > 0
    assert meta["confirmed"] > 0
    (gate,) = result.get_asset_check_evaluations()
    assert gate.check_name == "mass_migration_gate"
    assert not gate.passed
    assert gate.severity == dg.AssetCheckSeverity.ERROR
    assert gate.metadata["rate"].value == pytest.approx(meta["rate"])
    assert gate.metadata["threshold"].value == 0.15
    alerts = [json.loads(line) for line in (settings.outbox_dir / "alerts.jsonl").read_text().splitlines()]
    assert [a["subject"] for a in alerts if a["kind"] == "engineer"] == [f"[seg_pipeline] mass migration in {WEEK}"]
    assert blocked == [("file", True)]

    # drift: the reports on disk, their summary rows, the sensor's share, and the week's MLflow run links them
    drift = result.asset_materializations_for_node("monitoring__drift_report")[0].metadata
    references = {ref for ref, _ in drift_rows}
    assert drift["reports"].value == len(drift_rows)
    assert {"previous_week", "training"} <= references
    assert all(Path(path).exists() for _, path in drift_rows)
    assert isinstance(drift["report_previous_week"], dg.PathMetadataValue)
    assert drift["share_drifted"].value == drift["share_drifted_previous_week"].value > 0
    (run,) = monitored.tracker.client.search_runs([monitored.tracker.experiment_id],
                                                  filter_string=f"tags.`{TAG_WEEK}` = '{WEEK}'")
    # stored once: MLflow has the path and the drifted shares, not a copy of the files
    assert monitored.tracker.client.list_artifacts(run.info.run_id, "drift") == []
    paths = dict(drift_rows)
    assert run.data.tags["seg.drift_report.previous_week"] == paths["previous_week"]
    assert run.data.tags["seg.drift_report.training"] == paths["training"]
    assert run.data.metrics["drift_share_previous_week"] == pytest.approx(drift["share_drifted"].value)


def test_segment_migrations_without_a_model_fail_with_a_clear_message(tmp_path: Path) -> None:
    result = _materialize([segment_migrations], Settings().with_home(tmp_path / "home"))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no @champion model in MLflow yet" in failure.step_failure_data.error.message
