"""The sink assets through Dagster with the project's typed resources, on a tiny warehouse built here."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from seg_pipeline.defs.resources import CrmSinkResource, build_resources
from seg_pipeline.defs.sinks.assets import am_alerts, crm_writeback
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.sinks.conftest import WEEK1, make_assignments, make_crm_snapshot, move, seed_warehouse

WEEK = WEEK1.isoformat()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings().with_home(tmp_path / "home")
    engine = Warehouse(settings.warehouse_path, settings.snapshot_path)
    with engine.connect() as con:
        seed_warehouse(con, assignments=make_assignments(8), crm=make_crm_snapshot(8),
                       migrations=[move("acc_000000", 0, 1), move("acc_000001", 1, 2), move("acc_000005", 0, 3),
                                   move("acc_000007", 2, 1, confirmed=False)])
    return settings


def _materialize(resources: dict[str, object]) -> dg.ExecuteInProcessResult:
    with weekly_instance(WEEK) as instance:
        return dg.materialize([crm_writeback, am_alerts], partition_key=WEEK, instance=instance,
                              resources=resources, raise_on_error=False)


def _meta(result: dg.ExecuteInProcessResult, node: str) -> dict[str, object]:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def test_sink_assets_export_the_crm_file_and_send_digests(settings: Settings) -> None:
    result = _materialize(build_resources(settings))
    assert result.success
    export_path = settings.outbox_dir / "crm" / f"crm_writeback_{WEEK}.csv"
    export = pd.read_csv(export_path)
    assert export["account_id"].tolist() == [f"acc_{i:06d}" for i in range(8)]
    assert set(export["run_id"]) == {result.run_id}
    wb = _meta(result, "sinks__crm_writeback")
    assert (wb["enqueued"], wb["sent"], wb["mode"]) == (8, 8, "file")
    assert wb["file_path"] == str(export_path)  # rendered as path metadata

    lines = [json.loads(line) for line in (settings.outbox_dir / "alerts.jsonl").read_text().splitlines()]
    assert sorted(r["recipient_id"] for r in lines) == ["am_00", "am_01"]
    am00 = next(r["text"] for r in lines if r["recipient_id"] == "am_00")
    assert "acc_000000" in am00
    assert "acc_000007" not in am00
    assert _meta(result, "sinks__am_alerts")["confirmed_moves"] == 3
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT sent FROM sinks.writeback_stats").fetchall() == [(8,)]
        assert con.execute("SELECT digests_sent, blocked FROM sinks.alert_stats").fetchall() == [(2, False)]


def test_a_refused_crm_fails_the_asset_with_the_reason(settings: Settings) -> None:
    resources = build_resources(settings)
    resources["crm"] = CrmSinkResource(mode="rest", export_dir=str(settings.outbox_dir / "crm"),
                                       base_url="http://127.0.0.1:9", token=None)
    result = _materialize(resources)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data.user_failure_data.description == (
        "CRM write-back stopped: CRM token missing: set SEG_CRM_TOKEN; rows stay pending")
