"""The Dagster definitions load and describe themselves: groups, lineage, checks, pools, schedule, sensor."""

import dagster as dg
import yaml

from seg_pipeline.definitions import defs as lazy_defs
from seg_pipeline.settings import DAGSTER_YAML, PROJECT_ROOT

STAGES = ("raw", "staging", "intermediate", "features", "model", "assignments", "monitoring", "sinks", "reports")


def _defs() -> dg.Definitions:
    return lazy_defs()


def test_every_asset_is_documented_grouped_owned_and_in_the_warehouse_pool():
    graph = _defs().resolve_asset_graph()
    keys = list(graph.get_all_asset_keys())
    assert len(keys) >= 16
    for key in keys:
        node = graph.get(key)
        stage = key.path[0]
        assert stage in STAGES, key
        assert node.group_name == stage, f"{key} is in group {node.group_name}"
        assert node.description, f"{key} needs a description for the UI"
        assert len(node.description) > 60, f"{key} needs a description for the UI"
        assert node.owners, f"{key} has no owner"
        assert any(t.startswith("dagster/kind/") for t in node.tags), f"{key} has no kinds"
        assert node.partitions_def is not None
        assert node.pools == {"warehouse"}, f"{key} must be in the single-writer pool"


def test_lineage_runs_from_landing_to_the_dashboard():
    graph = _defs().resolve_asset_graph()

    def parents(*path: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(list(path))).parent_keys}

    assert parents("staging", "stg_product_events") == {"raw/product_events"}
    assert parents("features", "account_features") == {
        "staging/stg_crm_accounts", "intermediate/int_account_weekly_usage", "intermediate/int_account_weekly_support"}
    assert "features/account_features" in parents("model", "segmentation_model")
    assert "model/segmentation_model" in parents("assignments", "account_segments")
    assert "monitoring/segment_migrations" in parents("sinks", "crm_writeback")
    assert "sinks/am_alerts" in parents("reports", "segment_dashboard")


def test_blocking_checks_guard_training_and_sinks():
    graph = _defs().resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert checks[("raw/product_events", "volume_vs_previous_week")].blocking
    for source in ("product_events", "product_usage", "crm_accounts", "support_tickets"):
        assert checks[(f"raw/{source}", "landing_files_readable")].blocking
    assert checks[("monitoring/segment_migrations", "mass_migration_gate")].blocking
    assert checks[("model/segmentation_model", "quality_gate")].blocking
    assert ("features/account_features", "keys_unique_not_null") in checks


def test_weekly_schedule_and_drift_sensor():
    d = _defs()
    schedule = d.resolve_schedule_def("weekly_segmentation_schedule")
    assert schedule.cron_schedule == "0 6 * * 1"
    assert schedule.execution_timezone in (None, "UTC")
    sensor = d.resolve_sensor_def("drift_retrain_sensor")
    assert sensor.job_name == "early_retrain"
    assert d.resolve_schedule_def("refresh_dashboard_schedule").cron_schedule == "0 7 * * 1"
    job = d.resolve_job_def("weekly_segmentation")
    # the calendar comes from the data: no fixed start, no weeks up to today
    assert isinstance(job.partitions_def, dg.DynamicPartitionsDefinition)
    assert job.partitions_def.name == "weeks"


def test_instance_config_limits_the_warehouse_pool_to_one_writer():
    cfg = yaml.safe_load(DAGSTER_YAML)
    assert cfg["telemetry"]["enabled"] is False
    assert cfg["concurrency"]["pools"]["default_limit"] == 1
    committed = yaml.safe_load((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
    assert committed == cfg


def test_workspace_and_dg_config_agree():
    import tomllib

    ws = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    module = ws["load_from"][0]["python_module"]["module_name"]
    dg_cfg = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert module == dg_cfg["code_location_target_module"] == "seg_pipeline.definitions"
