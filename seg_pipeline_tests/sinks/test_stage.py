"""The sinks stage's week, called directly: inputs read from a tiny warehouse, stats tables, stop errors."""

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline.sinks.http import SinkAuthError
from seg_pipeline.sinks.stage import alerts_week, confirmed_moves, writeback_week
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.sinks.conftest import (
    WEEK1,
    make_assignments,
    make_crm_snapshot,
    move,
    rest,
    seed_warehouse,
    webhook,
)

MOVES = [
    move("acc_000000", 0, 1),  # am_00
    move("acc_000001", 1, 2, why="no logins for 3 weeks"),  # am_01, into an at-risk segment
    move("acc_000002", 1, 3),  # am_00
    move("acc_000003", 2, 1, confirmed=False),  # not confirmed: not alerted
    move("acc_000004", 1, 2, kind="outlier_enter"),  # not a segment move
]


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    engine = Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb")
    with engine.connect() as con:
        seed_warehouse(con, assignments=make_assignments(6), crm=make_crm_snapshot(6), migrations=MOVES)
    return engine


def _rows(warehouse: Warehouse, sql: str) -> list[tuple[object, ...]]:
    with warehouse.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def test_writeback_week_exports_the_assignments_and_records_stats(warehouse, crm_config: CrmConfig) -> None:
    result = writeback_week(WEEK1, warehouse, crm_config, "run-a")
    meta = result.metadata
    assert (meta["mode"], meta["enqueued"], meta["sent"], meta["unchanged"]) == ("file", 6, 6, 0)
    assert meta["file_path"] == crm_config.export_dir / "crm_writeback_2026-01-05.csv"
    export = pd.read_csv(meta["file_path"])
    expected = make_assignments(6)
    assert export["account_id"].tolist() == expected["account_id"].tolist()
    assert export["segment_name"].tolist() == expected["segment_name"].tolist()
    assert set(export["model_version"]) == {"m1"}
    assert set(export["run_id"]) == {"run-a"}
    assert [(c.name, c.passed) for c in result.checks] == [("delivery_complete", True)]
    assert _rows(warehouse, "SELECT * FROM sinks.writeback_stats") == [(WEEK1, "file", 6, 6, 0, 0, 0)]

    again = writeback_week(WEEK1, warehouse, crm_config, "run-b")
    assert (again.metadata["enqueued"], again.metadata["sent"], again.metadata["unchanged"]) == (0, 0, 6)
    assert _rows(warehouse, "SELECT * FROM sinks.writeback_stats") == [(WEEK1, "file", 0, 0, 6, 0, 0)]


def test_writeback_week_dry_run_sends_nothing(warehouse, crm_config: CrmConfig) -> None:
    result = writeback_week(WEEK1, warehouse, replace(crm_config, dry_run=True), "run-a")
    assert (result.metadata["would_send"], result.metadata["sent"], result.metadata["dry_run"]) == (6, 0, True)
    assert "file_path" not in result.metadata
    assert not crm_config.export_dir.exists()


def test_writeback_week_full_resync_enqueues_every_account(warehouse, crm_config: CrmConfig) -> None:
    writeback_week(WEEK1, warehouse, crm_config, "run-a")
    result = writeback_week(WEEK1, warehouse, replace(crm_config, full_resync=True), "run-b")
    assert (result.metadata["enqueued"], result.metadata["sent"]) == (6, 6)


def test_writeback_week_without_assignments_enqueues_nothing(tmp_path: Path, crm_config: CrmConfig) -> None:
    engine = Warehouse(tmp_path / "empty.duckdb", tmp_path / "empty_snapshot.duckdb")
    with engine.connect() as con:
        seed_warehouse(con, assignments=None, crm=make_crm_snapshot(3), migrations=[])
    result = writeback_week(WEEK1, engine, crm_config, "run-a")
    assert (result.metadata["enqueued"], result.metadata["sent"]) == (0, 0)
    assert _rows(engine, "SELECT model_version FROM sinks.crm_plans") == [("none",)]


def test_writeback_week_stop_error_keeps_rows_pending_and_writes_no_stats(warehouse, crm_config, crm) -> None:
    url, state = crm
    with pytest.raises(SinkAuthError):
        writeback_week(WEEK1, warehouse, rest(crm_config, url, token="wrong-token"), "run-a")  # noqa: S106 - fake token
    assert len(state.requests) == 1
    assert not state.companies
    assert _rows(warehouse, "SELECT DISTINCT status FROM sinks.crm_outbox") == [("pending",)]
    assert _rows(warehouse, "SELECT count(*) FROM sinks.writeback_stats") == [(0,)]


def test_alerts_week_sends_one_digest_per_manager_and_records_stats(warehouse, alert_config: AlertConfig) -> None:
    result = alerts_week(WEEK1, warehouse, alert_config)
    meta = result.metadata
    assert (meta["channel"], meta["planned"], meta["sent"], meta["confirmed_moves"]) == ("file", 2, 2, 3)
    lines = [json.loads(line) for line in alert_config.outbox_path.read_text().splitlines()]
    by_am = {r["recipient_id"]: r["text"] for r in lines}
    assert sorted(by_am) == ["am_00", "am_01"]
    assert "acc_000000" in by_am["am_00"]
    assert "acc_000002" in by_am["am_00"]
    assert "Steady Core → Declining / At-Risk ⚠ — no logins for 3 weeks" in by_am["am_01"]
    assert "acc_000003" not in "".join(by_am.values())
    assert "acc_000004" not in "".join(by_am.values())
    assert _rows(warehouse, "SELECT * FROM sinks.alert_stats") == [(WEEK1, "file", 2, 2, 3, 0, False)]

    again = alerts_week(WEEK1, warehouse, alert_config)
    assert (again.metadata["planned"], again.metadata["sent"]) == (0, 0)
    assert len(alert_config.outbox_path.read_text().splitlines()) == 2
    assert _rows(warehouse, "SELECT * FROM sinks.alert_stats") == [(WEEK1, "file", 0, 0, 3, 0, False)]


def test_alerts_week_dry_run_and_quiet_week(tmp_path: Path, warehouse, alert_config: AlertConfig) -> None:
    dry = alerts_week(WEEK1, warehouse, replace(alert_config, dry_run=True))
    assert (dry.metadata["would_send"], dry.metadata["sent"]) == (2, 0)
    assert not alert_config.outbox_path.exists()

    quiet = Warehouse(tmp_path / "quiet.duckdb", tmp_path / "quiet_snapshot.duckdb")
    with quiet.connect() as con:
        seed_warehouse(con, assignments=make_assignments(3), crm=make_crm_snapshot(3), migrations=[])
    result = alerts_week(WEEK1, quiet, alert_config)
    assert (result.metadata["planned"], result.metadata["confirmed_moves"]) == (0, 0)
    assert _rows(quiet, "SELECT * FROM sinks.alert_stats") == [(WEEK1, "file", 0, 0, 0, 0, False)]


def test_alerts_week_stop_error_keeps_digests_pending(warehouse, alert_config, hook) -> None:
    url, state = hook
    with pytest.raises(SinkAuthError):
        alerts_week(WEEK1, warehouse, webhook(alert_config, url, secret="whsec_" + "A" * 44))
    assert len(state.rejected) == 1
    assert not state.deliveries
    assert _rows(warehouse, "SELECT DISTINCT status FROM sinks.alert_ledger") == [("pending",)]
    assert _rows(warehouse, "SELECT count(*) FROM sinks.alert_stats") == [(0,)]


def test_confirmed_moves_counts_confirmed_segment_moves_only() -> None:
    assert confirmed_moves(pd.DataFrame(MOVES)) == 3
    assert confirmed_moves(pd.DataFrame(columns=["kind", "confirmed"])) == 0
