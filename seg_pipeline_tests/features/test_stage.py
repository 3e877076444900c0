"""The features stage's ``run_week`` (and the generic SQL model week) on a tiny simulated week, without Dagster."""

from datetime import date
from pathlib import Path

import pytest

from seg_pipeline.features.registry import feature_names, registry_frame
from seg_pipeline.features.stage import run_week
from seg_pipeline.outcomes import Columns
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.stage import record_feature_rules
from seg_pipeline.raw.stage import run_week as run_raw_week
from seg_pipeline.sources.contracts import KEY_FEATURES
from seg_pipeline.sources.simulator import SimulationConfig, simulate
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.sql_models import layer_models, run_sql_model

WEEK = date(2026, 1, 5)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    """Raw, staging and intermediate built for one simulated week of 40 accounts."""
    landing = tmp_path / "landing"
    simulate(SimulationConfig(accounts=40, weeks=1, seed=3), landing, tmp_path / "truth")
    engine = Warehouse(tmp_path / "w.duckdb", tmp_path / "snapshot.duckdb")
    for source in ("product_events", "crm_accounts", "support_tickets"):
        run_raw_week(source, WEEK, engine, IngestConfig(landing))
    record_feature_rules(WEEK, engine, IngestConfig(landing))
    for model in layer_models("staging") + layer_models("intermediate"):
        result = run_sql_model(model, WEEK, engine)
        assert result.checks == []
        assert result.metadata["week_start"] == str(WEEK)
    return engine


def test_run_week_builds_checks_and_documents_the_feature_table(warehouse):
    (model,) = layer_models("features")
    result = run_week(model, WEEK, warehouse)
    with warehouse.connect(read_only=True) as con:
        (rows,) = con.execute("SELECT count(*) FROM features.account_features WHERE week_start = ?",
                              [WEEK]).fetchall()[0]
        published = con.execute("SELECT * FROM features.feature_registry").fetchdf()
    assert result.metadata["dagster/row_count"] == rows > 0
    columns = result.metadata["dagster/column_schema"]
    assert isinstance(columns, Columns)
    assert set(feature_names()) <= {name for name, _ in columns.columns}
    assert [(c.name, c.passed) for c in result.checks] == [
        ("keys_unique_not_null", True), ("feature_ranges", True), ("feature_null_rates", True)]
    assert published.equals(registry_frame())


def test_run_week_refuses_a_model_that_is_not_the_feature_table(warehouse):
    with pytest.raises(ValueError, match=r"features\.account_features"):
        run_week(layer_models("staging")[0], WEEK, warehouse)


def test_run_week_reports_the_feature_vocabulary_and_what_fell_into_no_category(warehouse):
    (model,) = layer_models("features")
    meta = run_week(model, WEEK, warehouse).metadata
    with warehouse.connect(read_only=True) as con:
        used, loose, loose_rows = con.execute("""
            SELECT count(DISTINCT feature_name),
                   count(DISTINCT feature_name) FILTER (WHERE event_type = 'feature_use' AND NOT key),
                   count(*) FILTER (WHERE event_type = 'feature_use' AND NOT key)
            FROM (SELECT *, coalesce(feature_name IN ?, false) AS key FROM staging.stg_product_events
                  WHERE week_start = ?)""", [list(KEY_FEATURES), WEEK]).fetchall()[0]
    assert meta["key_feature_rule"] == "configured"
    assert sorted(meta["key_features"].value) == sorted(KEY_FEATURES)
    assert meta["feature_names_used"] == used
    assert meta["uncategorised_feature_names"] == loose > 0
    assert meta["uncategorised_rows"] == loose_rows > 0
