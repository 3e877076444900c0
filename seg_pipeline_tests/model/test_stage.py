"""The model and assignments stages' ``run_week`` on a tiny warehouse and a temporary MLflow store."""

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from seg_pipeline.assignments import stage as assignments
from seg_pipeline.model import stage as model
from seg_pipeline.model.serving import NoChampionError, serving_model
from seg_pipeline.segmentation.featureset import parse_features
from seg_pipeline.segmentation.train import TrainConfig
from seg_pipeline.warehouse.duck import replace_partition
from seg_pipeline_tests.model.conftest import ACCOUNTS, Env
from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

OLD, NEW = date(2026, 1, 5), date(2026, 1, 12)
TAGS = {"dagster.run_id": "test-run", "dagster.partition": "x"}


def _training_run(env: Env, week: date) -> dict[str, object]:
    with env.warehouse.connect(read_only=True) as con:
        frame = con.execute("SELECT * FROM model.training_runs WHERE week_start = ?", [week]).fetchdf()
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_backfill_keeps_champion_and_the_week_is_served_by_its_own_model(env: Env) -> None:
    env.write_features(NEW, seed=1)
    env.write_features(OLD, seed=2)
    newest = model.run_week(NEW, env.warehouse, env.tracker, TrainConfig(), {**TAGS, "dagster.run_id": "r-new"})
    assert newest.metadata["promoted"] is True
    assert newest.check("quality_gate").passed
    assert env.tracker.champion_version() == "1"

    backfill = model.run_week(OLD, env.warehouse, env.tracker, TrainConfig(), {**TAGS, "dagster.run_id": "r-old"})
    gate = backfill.check("quality_gate")
    assert gate.passed
    assert gate.description == "passed; backfill week, @champion unchanged"
    assert env.tracker.champion_version() == "1"  # a model of older data never takes @champion
    row = _training_run(env, OLD)
    assert row["model_version"] == "2"
    assert row["serving_version"] == "2"
    assert not row["promoted"]
    assert "backfill of 2026-01-05" in str(row["gate_reasons"])
    assert row["accounts"] == ACCOUNTS

    result = assignments.run_week(OLD, env.warehouse, env.tracker, run_id="r-assign")
    with env.warehouse.connect(read_only=True) as con:
        versions = con.execute(
            "SELECT DISTINCT model_version, run_id FROM assignments.account_segments WHERE week_start = ?", [OLD]
        ).fetchall()
    assert versions == [("2", "r-assign")]
    assert result.metadata["dagster/row_count"] == ACCOUNTS
    assert result.metadata["model_version"] == "2"


def test_failed_first_gate_blocks_the_week_and_assignment_has_no_model(env: Env) -> None:
    env.write_features(OLD)
    strict = replace(TrainConfig(), silhouette_floor=0.99)
    result = model.run_week(OLD, env.warehouse, env.tracker, strict, TAGS)
    gate = result.check("quality_gate")
    assert not gate.passed
    assert gate.error
    assert gate.description is not None
    assert gate.description.startswith("no champion to fall back to: silhouette")
    assert result.metadata["serving_version"] == "None"
    assert result.metadata["promoted"] is False
    row = _training_run(env, OLD)
    assert row["serving_version"] is None
    assert not row["promoted"]
    assert env.tracker.champion_version() is None
    with pytest.raises(NoChampionError, match="no @champion"):
        serving_model(env.warehouse, env.tracker, OLD)
    with pytest.raises(NoChampionError):
        assignments.run_week(OLD, env.warehouse, env.tracker, run_id="r")


def test_a_week_without_an_admissible_k_keeps_the_champion_serving(env: Env) -> None:
    env.write_features(OLD, seed=1)
    env.write_features(NEW, seed=2)
    first = model.run_week(OLD, env.warehouse, env.tracker, TrainConfig(), TAGS)
    assert first.metadata["promoted"] is True
    impossible = replace(TrainConfig(), min_segment_share=0.4)  # 3 segments cannot each hold 40 %
    result = model.run_week(NEW, env.warehouse, env.tracker, impossible, {**TAGS, "dagster.run_id": "r2"})
    gate = result.check("quality_gate")
    assert not gate.passed
    assert not gate.error  # the champion serves the week: a warning, not a blocked week
    assert gate.description is not None
    assert gate.description.startswith("kept champion v1: 300 accounts allow at most k=2 segments")
    row = _training_run(env, NEW)
    assert row["model_version"] is None
    assert row["serving_version"] == "1"
    assert env.tracker.champion_version() == "1"
    assigned = assignments.run_week(NEW, env.warehouse, env.tracker, run_id="r-assign")
    assert assigned.metadata["model_version"] == "1"
    assert assigned.metadata["dagster/row_count"] == ACCOUNTS


def test_assignments_read_the_columns_of_the_model_that_serves_the_week(env: Env) -> None:
    frame, _ = make_accounts(ACCOUNTS, seed=1)
    plans = np.random.default_rng(0).choice(["starter", "growth", "business", "enterprise"], ACCOUNTS)
    frame = frame.drop(columns="exports").assign(plan=plans)  # a company without an export feature
    frame.insert(1, "week_start", OLD)
    with env.warehouse.connect() as con:
        replace_partition(con, "features", "account_features", frame, key=OLD)
    chosen = parse_features("-exports,+plan")
    cfg = replace(TrainConfig(), features=chosen.numeric, ordinal=chosen.ordinal, categorical=chosen.onehot)
    trained = model.run_week(OLD, env.warehouse, env.tracker, cfg, TAGS)
    assert trained.metadata["promoted"] is True
    served = serving_model(env.warehouse, env.tracker, OLD)[0]
    assert "exports" not in served.features
    assert served.categorical == ["plan"]
    # the registry's default set names `exports`, which this table lacks: assignment reads the model's own list
    result = assignments.run_week(OLD, env.warehouse, env.tracker, run_id="r-assign")
    assert result.metadata["dagster/row_count"] == ACCOUNTS


def test_a_champion_from_the_first_weeks_of_history_is_provisional():
    import pandas as pd

    from seg_pipeline.model.stage import WARMUP_WEEKS, _Inputs

    first = date(2023, 1, 2)
    empty = pd.DataFrame()

    def inputs(promoted: date | None, start: date | None = first) -> _Inputs:
        return _Inputs(empty, None, promoted, start)

    assert inputs(date.fromordinal(first.toordinal() + 7 * WARMUP_WEEKS - 7)).provisional()
    assert not inputs(date.fromordinal(first.toordinal() + 7 * WARMUP_WEEKS)).provisional()
    assert not inputs(None).provisional()  # no champion yet
    assert not inputs(first, None).provisional()  # no feature history to measure against
