"""``assignments.*`` table I/O: the catalog keeps every id ever issued and retires the ones a model dropped."""

from datetime import date
from types import SimpleNamespace
from typing import Any

import pandas as pd

from seg_pipeline.assignments.stage import assign_week
from seg_pipeline.assignments.tables import update_catalog, week_segments, write_week_assignments
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.engine import Warehouse

W1, W2 = date(2026, 1, 5), date(2026, 1, 12)


def _warehouse(tmp_path) -> Warehouse:
    s = Settings().with_home(tmp_path)
    return Warehouse(s.warehouse_path, s.snapshot_path)


def _model(ids: list[int]) -> Any:
    return SimpleNamespace(
        segment_ids=ids,
        segment_names={i: f"Seg {i}" for i in ids},
        profiles_z={i: {"mrr": 0.123456} for i in ids},
    )


def test_catalog_upserts_active_segments_and_retires_dropped_ones(tmp_path) -> None:
    warehouse = _warehouse(tmp_path)
    with warehouse.connect() as con:
        assert update_catalog(con, _model([0, 1, 2]), W1, "1") == 3
        assert update_catalog(con, _model([0, 2, 3]), W2, "2") == 4
        rows = con.execute(
            "SELECT segment_id, status, first_week, last_week, model_version, profile_json "
            "FROM assignments.segment_catalog ORDER BY segment_id"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(0, "active"), (1, "retired"), (2, "active"), (3, "active")]
    assert rows[0][2:5] == (W1, W2, "2")
    assert rows[1][2:5] == (W1, W1, "1")
    assert rows[0][5] == '{"mrr": 0.1235}'


def test_rerunning_an_older_week_does_not_retire_newer_segments(tmp_path) -> None:
    warehouse = _warehouse(tmp_path)
    with warehouse.connect() as con:
        update_catalog(con, _model([0, 3]), W2, "2")
        update_catalog(con, _model([0, 1]), W1, "1")
        status = dict(con.execute("SELECT segment_id, status FROM assignments.segment_catalog").fetchall())
    assert status == {0: "active", 1: "active", 3: "active"}


def test_assignments_replace_the_week_and_feed_next_weeks_training(tmp_path) -> None:
    warehouse = _warehouse(tmp_path)

    class Model(SimpleNamespace):
        def assign(self, features: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"account_id": features["account_id"], "segment_id": [1] * len(features)})

    model: Any = Model()
    assigned = assign_week(model, pd.DataFrame({"account_id": ["b", "a"]}), W1, "7", "run-1")
    assert list(assigned.columns) == ["account_id", "week_start", "segment_id", "model_version", "run_id"]
    assert list(assigned["account_id"]) == ["a", "b"]
    with warehouse.connect() as con:
        write_week_assignments(con, W1, assigned)
        write_week_assignments(con, W1, assigned)  # a re-run replaces, never appends
        segments = week_segments(con, W1)
        assert week_segments(con, W2).empty
    assert sorted(segments["account_id"]) == ["a", "b"]
    assert set(segments["segment_id"]) == {1}
