"""Engineer alerts driven by failed checks: one message per (week, reason); a mass migration blocks the week."""

import json
from pathlib import Path

from seg_pipeline.outcomes import EngineerAlert
from seg_pipeline.sinks.config import AlertConfig
from seg_pipeline.sinks.engineer import notify_engineers
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.sinks.conftest import WEEK1


def _warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb")


def test_mass_migration_alert_is_sent_once_and_blocks_the_week(tmp_path: Path, alert_config: AlertConfig) -> None:
    engine = _warehouse(tmp_path)
    alert = EngineerAlert(WEEK1, "mass_migration", "[seg_pipeline] mass migration in 2026-01-05", "40 % moved")
    notify_engineers(engine, alert_config, alert)
    notify_engineers(engine, alert_config, alert)
    lines = [json.loads(line) for line in alert_config.outbox_path.read_text().splitlines()]
    assert [(r["kind"], r["subject"]) for r in lines] == [("engineer", alert.subject)]
    assert lines[0]["text"] == f"{alert.subject}\n\n40 % moved\n\nDashboard: {alert_config.dashboard_url}"
    with engine.connect(read_only=True) as con:
        stats = con.execute("SELECT * FROM sinks.alert_stats").fetchall()
    assert stats == [(WEEK1, "file", 0, 0, 0, 0, True)]


def test_other_reasons_alert_without_blocking(tmp_path: Path, alert_config: AlertConfig) -> None:
    engine = _warehouse(tmp_path)
    notify_engineers(engine, alert_config, EngineerAlert(WEEK1, "data_volume", "volume", "-70 %"))
    assert len(alert_config.outbox_path.read_text().splitlines()) == 1
    with engine.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sinks.alert_stats").fetchall() == [(0,)]
