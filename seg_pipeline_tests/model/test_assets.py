"""The model and assignments assets through Dagster on a tiny warehouse and a temporary MLflow store."""

from datetime import date

import dagster as dg

from seg_pipeline.defs.assignments.assets import account_segments
from seg_pipeline.defs.model.assets import segmentation_model
from seg_pipeline.defs.resources import build_resources
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.model.conftest import ACCOUNTS, Env

WEEK = "2026-01-05"


def _materialize(env: Env, assets: list[dg.AssetsDefinition]) -> dg.ExecuteInProcessResult:
    with weekly_instance(WEEK) as instance:
        return dg.materialize(assets, partition_key=WEEK, instance=instance, raise_on_error=False,
                              resources=build_resources(env.settings))


def test_model_then_assignments_record_the_run_the_gate_and_every_account(env: Env) -> None:
    env.write_features(date.fromisoformat(WEEK))
    result = _materialize(env, [segmentation_model, account_segments])
    assert result.success

    (gate,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "quality_gate"]
    assert gate.check_name == "quality_gate"
    assert gate.passed
    assert gate.severity == dg.AssetCheckSeverity.WARN  # a model serves the week
    assert gate.description == "promoted to @champion"
    assert gate.metadata["candidate_version"].value == "1"

    meta = result.asset_materializations_for_node("model__segmentation_model")[0].metadata
    assert meta["promoted"].value is True
    assert meta["serving_version"].value == "1"
    assert isinstance(meta["k_selection"], dg.MarkdownMetadataValue)
    assert isinstance(meta["segments"], dg.JsonMetadataValue)
    assert meta["mlflow_tracking_uri"].value == env.settings.tracking_uri

    with env.warehouse.connect(read_only=True) as con:
        run = con.execute(
            "SELECT model_version, serving_version, promoted, accounts, k, n_segments FROM model.training_runs"
        ).fetchall()
        rows = con.execute(
            "SELECT count(*), count(DISTINCT account_id), min(model_version), max(model_version), "
            "count(DISTINCT segment_id) FROM assignments.account_segments WHERE week_start = ?", [WEEK]
        ).fetchall()[0]
        catalog = con.execute("SELECT count(*) FROM assignments.segment_catalog WHERE status = 'active'").fetchall()
    assert len(run) == 1
    model_version, serving, promoted, accounts, k, n_segments = run[0]
    assert (model_version, serving, promoted, accounts) == ("1", "1", True, ACCOUNTS)
    assert k == n_segments == catalog[0][0]
    assert rows == (ACCOUNTS, ACCOUNTS, "1", "1", n_segments)
    assigned = result.asset_materializations_for_node("assignments__account_segments")[0].metadata
    assert assigned["dagster/row_count"].value == ACCOUNTS
    assert assigned["catalog_segments"].value == n_segments
    assert env.tracker.champion_version() == "1"
    logged = env.tracker.find_week_run(date.fromisoformat(WEEK), result.run_id)  # tagged with the Dagster run
    assert logged is not None
    assert logged[1] == "1"


def test_assignments_without_any_model_fail_with_a_clear_message(env: Env) -> None:
    env.write_features(date.fromisoformat(WEEK))
    result = _materialize(env, [account_segments])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no @champion model in MLflow yet" in failure.step_failure_data.error.message


def test_a_constant_feature_is_dropped_and_reported_in_dagster_and_mlflow(env: Env) -> None:
    env.write_features(date.fromisoformat(WEEK), invites=0, open_backlog=None)
    result = _materialize(env, [segmentation_model, account_segments])
    assert result.success

    meta = result.asset_materializations_for_node("model__segmentation_model")[0].metadata
    assert meta["dropped_features"].value == {"invites": "constant (0.0)", "open_backlog": "all null"}
    assert "invites" not in meta["training_features"].value

    (run,) = env.tracker.client.search_runs([env.tracker.experiment_id])  # the real sqlite MLflow store
    assert run.data.params["dropped_features"] == "invites (constant (0.0)); open_backlog (all null)"
    assert run.data.tags["seg.dropped_features"] == run.data.params["dropped_features"]
    assert "invites" not in run.data.params["features"].split(",")
    assert env.tracker.load_version("1").features == meta["training_features"].value

    with env.warehouse.connect(read_only=True) as con:
        assigned = con.execute(
            "SELECT count(*) FROM assignments.account_segments WHERE week_start = ?", [WEEK]
        ).fetchall()[0][0]
    assert assigned == ACCOUNTS


def test_a_week_too_small_to_train_is_blocked_with_its_reason(env: Env) -> None:
    env.write_features(date.fromisoformat(WEEK), accounts=40)
    result = _materialize(env, [segmentation_model])
    (gate,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "quality_gate"]
    assert not gate.passed
    assert gate.severity == dg.AssetCheckSeverity.ERROR  # nothing can serve the week: blocked
    assert gate.description == (
        "no champion to fall back to: only 40 accounts this week; training needs at least 50"
    )
    meta = result.asset_materializations_for_node("model__segmentation_model")[0].metadata
    assert meta["blocked_reason"].value == "only 40 accounts this week; training needs at least 50"
    with env.warehouse.connect(read_only=True) as con:
        row = con.execute("SELECT model_version, serving_version, gate_reasons FROM model.training_runs").fetchall()
    assert row == [(None, None, "no model trained: only 40 accounts this week; training needs at least 50")]
