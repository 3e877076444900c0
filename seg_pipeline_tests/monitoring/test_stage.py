"""The monitoring stage's pure functions: the mass-migration gate's outcome, the ledger week, drift metadata."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from seg_pipeline.model.serving import NoChampionError
from seg_pipeline.monitoring.config import MigrationConfig
from seg_pipeline.monitoring.ledger import LEDGER_COLUMNS
from seg_pipeline.monitoring.segment_moves import MigrationResult
from seg_pipeline.monitoring.stage import drift_metadata, mass_migration_check, migrations_week
from seg_pipeline.outcomes import Columns, EngineerAlert, Markdown
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.monitoring.conftest import W1, Monitored

WEEK = date(2026, 1, 12)


def moves(confirmed: int, accounts: int) -> MigrationResult:
    return MigrationResult(ledger=pd.DataFrame(columns=LEDGER_COLUMNS), transition_matrix=pd.DataFrame(),
                           moves=confirmed, confirmed=confirmed, accounts_both_weeks=accounts,
                           rate=confirmed / accounts)


def test_mass_migration_gate_passes_below_the_threshold() -> None:
    outcome = mass_migration_check(WEEK, moves(10, 100), MigrationConfig(mass_migration_threshold=0.15))
    assert outcome.name == "mass_migration_gate"
    assert outcome.passed
    assert outcome.error
    assert outcome.alert is None
    assert outcome.metadata == {"rate": 0.1, "threshold": 0.15, "confirmed": 10, "override": False}
    assert outcome.description == "10.0% of accounts confirmed a move (threshold 15%)"
    # the threshold itself is still plausible: only a rate above it blocks
    assert mass_migration_check(WEEK, moves(15, 100), MigrationConfig(mass_migration_threshold=0.15)).passed


def test_mass_migration_gate_fails_above_the_threshold_with_one_engineer_alert() -> None:
    outcome = mass_migration_check(WEEK, moves(40, 100), MigrationConfig(mass_migration_threshold=0.15))
    assert not outcome.passed
    assert outcome.error
    assert outcome.metadata == {"rate": 0.4, "threshold": 0.15, "confirmed": 40, "override": False}
    assert outcome.description == "40.0% of accounts confirmed a move (threshold 15%)"
    assert outcome.alert == EngineerAlert(
        WEEK, reason="mass_migration", subject="[seg_pipeline] mass migration in 2026-01-12",
        body="40 of 100 accounts (40%) changed segment in week 2026-01-12, above the 15% threshold. CRM "
        "write-back and account-manager alerts are blocked for this week. Check the model run in MLflow and the "
        "drift report; re-run the sinks deliberately with SEG_SINKS_OVERRIDE=1 seg run 2026-01-12.",
    )


def test_mass_migration_gate_override_passes_and_says_so() -> None:
    config = MigrationConfig(mass_migration_threshold=0.15, sinks_override=True)
    outcome = mass_migration_check(WEEK, moves(40, 100), config)
    assert outcome.passed
    assert outcome.alert is None
    assert outcome.metadata["override"] is True
    assert outcome.description == "40.0% of accounts confirmed a move (threshold 15%); overridden"


def test_migrations_week_writes_the_ledger_and_gates_it(monitored: Monitored) -> None:
    result = migrations_week(W1, monitored.warehouse, monitored.tracker, MigrationConfig())
    meta = result.metadata
    assert list(meta) == [
        "dagster/row_count", "dagster/column_schema", "moves", "confirmed", "accounts_both_weeks", "rate",
        "n_segment", "n_outlier_enter", "n_outlier_leave", "n_micro_change", "transition_matrix",
        "sample_explanations",
    ]
    assert meta["dagster/column_schema"] == Columns(tuple(
        (c, t) for c, t in zip(LEDGER_COLUMNS, ["VARCHAR", "DATE", "INTEGER", "INTEGER", "VARCHAR", "VARCHAR",
                                                "VARCHAR", "DOUBLE", "BOOLEAN", "VARCHAR"], strict=True)))
    assert isinstance(meta["transition_matrix"], Markdown)
    assert "from_segment" in meta["transition_matrix"]
    assert isinstance(meta["sample_explanations"], Markdown)
    assert "explanation" in meta["sample_explanations"]
    with monitored.warehouse.connect(read_only=True) as con:
        rows, confirmed = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE confirmed) FROM monitoring.segment_migrations "
            "WHERE week_start = ?", [W1]).fetchall()[0]
    assert (rows, confirmed) == (meta["dagster/row_count"], meta["confirmed"])
    assert meta["accounts_both_weeks"] == 120
    assert meta["rate"] == pytest.approx(confirmed / 120)
    gate = result.check("mass_migration_gate")
    assert meta["rate"] > 0.15  # every persona was re-drawn: implausibly many moves
    assert not gate.passed
    assert gate.alert is not None
    assert gate.alert.reason == "mass_migration"
    assert gate.alert.week_start == W1

    again = migrations_week(W1, monitored.warehouse, monitored.tracker, MigrationConfig(sinks_override=True))
    assert again.metadata["dagster/row_count"] == rows  # a rerun replaces the week's rows
    assert again.check("mass_migration_gate").passed


def test_migrations_week_without_a_model_raises_before_writing(tmp_path: Path) -> None:
    settings = Settings().with_home(tmp_path / "home")
    warehouse = Warehouse(settings.warehouse_path, settings.snapshot_path)
    tracker = MlflowTracker(settings.tracking_uri, settings.mlflow_artifact_root)
    with pytest.raises(NoChampionError, match="no @champion model"):
        migrations_week(W1, warehouse, tracker, MigrationConfig())
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM monitoring.segment_migrations").fetchall() == [(0,)]


def test_drift_metadata_names_each_reference_and_the_sensor_share(tmp_path: Path) -> None:
    rows = pd.DataFrame([
        {"reference": "previous_week", "share_drifted": 0.25, "drifted_features": "mrr,seats",
         "html_path": str(tmp_path / "prev.html")},
        {"reference": "training", "share_drifted": 0.5, "drifted_features": "", "html_path": str(tmp_path / "t.html")},
        {"reference": "segment:3", "share_drifted": 0.1, "drifted_features": "mrr", "html_path": "x"},
    ])
    meta = drift_metadata(rows, {"tvd": 0.2})
    assert meta == {
        "reports": 3,
        "share_drifted_previous_week": 0.25, "drifted_features_previous_week": "mrr,seats",
        "report_previous_week": tmp_path / "prev.html",
        "share_drifted_training": 0.5, "drifted_features_training": "(none)", "report_training": tmp_path / "t.html",
        "share_drifted_segment_3": 0.1,
        "segment_share_tvd": 0.2,
        "share_drifted": 0.25,
    }
    assert drift_metadata(rows.iloc[0:0], None) == {"reports": 0, "share_drifted": 0.0}
