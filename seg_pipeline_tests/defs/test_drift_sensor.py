"""The drift sensor asks for one early retrain when a week's drifted-feature share passes the threshold."""

import dagster as dg

from seg_pipeline.definitions import defs as lazy_defs
from seg_pipeline.defs.monitoring.assets import DRIFT
from seg_pipeline.defs.monitoring.sensors import drift_retrain_sensor
from seg_pipeline.defs.resources import PolicyResource
from seg_pipeline_tests.helpers.partitions import weekly_instance


def _evaluate(instance: dg.DagsterInstance, cursor: str | None = None, threshold: float = 0.5):
    """One tick; the threshold comes from the ``policy`` resource, never from the environment."""
    with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                 definitions=lazy_defs(),
                                 resources={"policy": PolicyResource(drift_retrain_threshold=threshold)}) as ctx:
        return drift_retrain_sensor.evaluate_tick(ctx)


def _report(instance: dg.DagsterInstance, week: str, share: float) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=DRIFT, partition=week, metadata={"share_drifted": share})
    )


def test_high_drift_requests_a_retrain_of_that_week():
    with weekly_instance("2026-01-12") as instance:
        _report(instance, "2026-01-12", 0.8)
        result = _evaluate(instance)
        assert [r.partition_key for r in result.run_requests] == ["2026-01-12"]
        assert result.run_requests[0].tags["seg/reason"].startswith("drift 80%")
        # the same materialization is not acted on twice
        again = _evaluate(instance, result.cursor)
        assert not again.run_requests
        # the retrain re-creates that week's drift report: same run key, so Dagster will not launch a second one
        _report(instance, "2026-01-12", 0.8)
        third = _evaluate(instance, result.cursor)
        assert [r.run_key for r in third.run_requests] == [r.run_key for r in result.run_requests]


def test_low_drift_skips_with_a_reason():
    with weekly_instance("2026-01-12") as instance:
        _report(instance, "2026-01-12", 0.2)
        result = _evaluate(instance)
        assert not result.run_requests
        assert "20%" in (result.skip_message or "")


def test_threshold_comes_from_the_policy_resource(monkeypatch):
    monkeypatch.setenv("SEG_DRIFT_RETRAIN_THRESHOLD", "0.9")  # ignored: the sensor reads the bound resource
    with weekly_instance("2026-01-12") as instance:
        _report(instance, "2026-01-12", 0.6)
        assert [r.partition_key for r in _evaluate(instance).run_requests] == ["2026-01-12"]
        assert not _evaluate(instance, threshold=0.7).run_requests


def test_a_week_outside_the_partition_set_is_skipped_with_a_reason():
    """A drift report for a week that was never registered (e.g. reported by hand) cannot start a run."""
    with weekly_instance() as instance:
        _report(instance, "2026-01-12", 0.9)
        result = _evaluate(instance)
        assert not result.run_requests
        assert "seg run 2026-01-12" in (result.skip_message or "")
