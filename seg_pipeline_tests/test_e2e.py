"""End to end on a tiny simulated company: 3 weeks through a real Dagster instance, DuckDB file and MLflow store."""

import hashlib
import json
from dataclasses import replace

import dagster as dg
import duckdb
import pytest

from seg_pipeline.orchestration import run_weeks
from seg_pipeline.segmentation.tracking import tracker_for

pytestmark = pytest.mark.e2e


def _con(home):
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)


def _table_digest(con, table: str, week: str) -> str:
    rows = con.execute(f"SELECT * FROM {table} WHERE week_start = ? ORDER BY ALL", [week]).fetchall()  # noqa: S608 - literal names
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_every_week_materializes_every_layer(demo_home):
    runs = demo_home["runs"]
    assert [r.week for r in runs] == demo_home["weeks"]
    assert all(r.success for r in runs), [(r.week, r.error) for r in runs]
    with _con(demo_home["home"]) as con:
        for table in ("raw.product_events", "raw.crm_accounts", "raw.support_tickets", "staging.stg_product_events",
                      "intermediate.int_account_weekly_usage", "features.account_features",
                      "assignments.account_segments"):
            weeks = {str(r[0]) for r in con.execute(f"SELECT DISTINCT week_start FROM {table}").fetchall()}  # noqa: S608 - literal
            assert weeks == set(demo_home["weeks"]), table
        # one segment row per active account per week, never a NULL segment
        row = con.execute("""
            SELECT count(*), count(DISTINCT (account_id, week_start)), count(*) FILTER (WHERE segment_id IS NULL)
            FROM assignments.account_segments""").fetchall()[0]
        feats = con.execute("SELECT count(*) FROM features.account_features").fetchall()[0][0]
        assert row[0] == row[1] == feats
        assert row[2] == 0
        # raw reconciles with the simulator: nothing lost, nothing invented
        loaded = con.execute("SELECT count(*) FROM raw.product_events").fetchall()[0][0]
        quarantined = con.execute(
            "SELECT count(*) FROM raw.quarantine WHERE source = 'product_events'").fetchall()[0][0]
    assert loaded + quarantined == demo_home["sim"].counts["product_events"]


def test_runs_are_recorded_in_the_dagster_instance(demo_home):
    with dg.DagsterInstance.from_config(str(demo_home["home"])) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name="weekly_segmentation"))
        assert len(records) >= len(demo_home["weeks"])
        mat = instance.get_latest_materialization_event(dg.AssetKey(["features", "account_features"]))
        assert mat is not None
        meta = mat.asset_materialization.metadata
        assert meta["dagster/row_count"].value > 0
        assert "dagster/column_schema" in meta


def test_mlflow_has_a_run_per_week_and_a_champion(demo_home):
    tracker = tracker_for(demo_home["settings"].tracking_uri, str(demo_home["settings"].mlflow_artifact_root))
    runs = tracker.client.search_runs([tracker.experiment_id], max_results=50)
    weeks = {r.data.tags.get("seg.week_start") for r in runs}
    assert set(demo_home["weeks"]) <= weeks
    assert tracker.champion_version() is not None
    artifacts = {a.path for a in tracker.client.list_artifacts(runs[0].info.run_id)}
    assert artifacts, "the weekly run logged no artifacts"


def test_sinks_and_reports_exist_after_the_first_week(demo_home):
    settings = demo_home["settings"]
    with _con(demo_home["home"]) as con:
        mig_weeks = {str(r[0]) for r in con.execute(
            "SELECT DISTINCT week_start FROM monitoring.segment_migrations").fetchall()}
        stats = con.execute("SELECT week_start, sent FROM sinks.writeback_stats ORDER BY 1").fetchall()
        drift = con.execute("SELECT DISTINCT week_start FROM monitoring.drift_summary").fetchall()
    assert set(demo_home["weeks"][1:]) <= mig_weeks  # moves exist once there is a previous week
    assert len(stats) == len(demo_home["weeks"])
    assert stats[0][1] > 0  # first week writes every account back
    assert {str(r[0]) for r in drift} >= set(demo_home["weeks"][1:])
    assert list((settings.outbox_dir / "crm").glob("*")), "no CRM export written"
    html = (settings.reports_dir / "dashboard.html").read_text()
    assert "<h1" in html
    assert "plotly" in html.lower()
    drift_html = list((settings.reports_dir / "drift").glob("*.html"))
    assert drift_html


def test_rerunning_the_last_week_is_idempotent_and_sends_nothing_new(demo_home):
    home, last = demo_home["home"], demo_home["weeks"][-1]
    tables = ("raw.product_events", "raw.crm_accounts", "staging.stg_support_tickets", "features.account_features")
    with _con(home) as con:
        before = {t: _table_digest(con, t, last) for t in tables}
    alerts = demo_home["settings"].outbox_dir / "alerts.jsonl"
    alert_lines = alerts.read_text().count("\n") if alerts.exists() else 0
    (run,) = run_weeks(demo_home["settings"], [last])
    assert run.success, run.error
    with _con(home) as con:
        after = {t: _table_digest(con, t, last) for t in tables}
        wb = con.execute("SELECT sent FROM sinks.writeback_stats WHERE week_start = ?", [last]).fetchall()[0][0]
    assert before == after
    assert wb == 0, "a rerun must not write anything back again"
    assert (alerts.read_text().count("\n") if alerts.exists() else 0) == alert_lines


def test_rerunning_an_older_week_keeps_the_champion_and_never_moves_the_crm_back(demo_home):
    """A backfill of week 1 retrains that week but must not hand @champion to it or re-send its old segments."""
    settings, first = demo_home["settings"], demo_home["weeks"][0]
    tracker = tracker_for(settings.tracking_uri, str(settings.mlflow_artifact_root))
    champion_before = tracker.champion_version()
    with _con(demo_home["home"]) as con:
        state_before = con.execute("SELECT * FROM sinks.crm_sync_state ORDER BY account_id").fetchall()
    (run,) = run_weeks(settings, [first])
    assert run.success, run.error
    assert tracker.champion_version() == champion_before
    with _con(demo_home["home"]) as con:
        state_after = con.execute("SELECT * FROM sinks.crm_sync_state ORDER BY account_id").fetchall()
        row = con.execute(
            "SELECT promoted, gate_reasons FROM model.training_runs WHERE week_start = ?", [first]).fetchall()[0]
    assert state_after == state_before
    assert row[0] is False
    assert "backfill" in row[1]


def test_mass_migration_blocks_sinks_and_sends_one_engineer_alert(demo_home):
    """Rerun the last week with a 0 % threshold: write-back and AM alerts must not run; one engineer alert."""
    home, last, settings = demo_home["home"], demo_home["weeks"][-1], demo_home["settings"]
    with _con(home) as con:
        confirmed = con.execute(
            "SELECT count(*) FROM monitoring.segment_migrations WHERE week_start = ? AND confirmed", [last]
        ).fetchall()[0][0]
        log_before = con.execute("SELECT count(*) FROM sinks.crm_sync_log").fetchall()[0][0]
    assert confirmed > 0, "the tiny demo needs at least one confirmed move in its last week"
    strict = replace(settings, mass_migration_threshold=0.0)
    alerts = settings.outbox_dir / "alerts.jsonl"
    lines_before = alerts.read_text().splitlines() if alerts.exists() else []
    for _ in range(2):  # a second rerun must not alert the engineers again
        (run,) = run_weeks(strict, [last])
        assert run.blocked
        assert "monitoring/segment_migrations:mass_migration_gate" in run.failed_checks
    new = [json.loads(x) for x in alerts.read_text().splitlines()[len(lines_before):]]
    assert len(new) == 1
    assert "mass migration" in json.dumps(new[0]).lower()
    with _con(home) as con:
        blocked = con.execute("SELECT blocked FROM sinks.alert_stats WHERE week_start = ?", [last]).fetchall()
        log_after = con.execute("SELECT count(*) FROM sinks.crm_sync_log").fetchall()[0][0]
    assert blocked == [(True,)]
    assert log_after == log_before, "write-back ran although the gate failed"
    # the dashboard was still refreshed for the blocked week, from a fresh snapshot
    snapshot = settings.snapshot_path
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT blocked FROM sinks.alert_stats WHERE week_start = ?", [last]).fetchall() == [
            (True,)]
