"""Delivery truth: a partial delivery is never green, dead letters can be re-driven, a crash never duplicates.

Real receivers on 127.0.0.1 (the fake CRM and SMTP server of the sink tests, with fault injection), a real DuckDB
file and, for the run status, real Dagster runs of the sink assets.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from seg_pipeline.defs.resources import AlertChannelResource, CrmSinkResource, build_resources
from seg_pipeline.defs.sinks.assets import am_alerts, crm_writeback
from seg_pipeline.settings import Settings
from seg_pipeline.sinks.alerts import send_am_alerts
from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline.sinks.crm import deliver_writeback, plan_writeback
from seg_pipeline.sinks.http import RetryPolicy
from seg_pipeline.sinks.redrive import redrive
from seg_pipeline.sinks.stage import delivery_check
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.sinks.conftest import (
    TOKEN,
    WEEK1,
    FakeClock,
    make_assignments,
    make_crm,
    make_crm_snapshot,
    move,
    seed_warehouse,
)
from seg_pipeline_tests.sinks.servers import CrmState, Scripted, crm_server, free_port, smtp_server

pytestmark = pytest.mark.reliability

WEEK = WEEK1.isoformat()
N = 12
FAST = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0, max_total=30.0, timeout=5.0)
BATCH_400 = Scripted(status=400, body={"status": "error", "message": "Invalid input JSON on line 1"})


@pytest.fixture
def crm() -> Iterator[tuple[str, CrmState]]:
    with crm_server(TOKEN) as served:
        yield served


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings().with_home(tmp_path / "home")
    with Warehouse(settings.warehouse_path, settings.snapshot_path).connect() as con:
        seed_warehouse(con, assignments=make_assignments(N), crm=make_crm_snapshot(N),
                       migrations=[move("acc_000000", 0, 1), move("acc_000001", 1, 2)])
    return settings


def _resources(settings: Settings, crm_url: str) -> dict[str, object]:
    resources: dict[str, object] = dict(build_resources(settings))
    resources["crm"] = CrmSinkResource(mode="rest", export_dir=str(settings.outbox_dir / "crm"), base_url=crm_url,
                                       token=TOKEN, batch_size=5)
    return resources


def _materialize(assets: list[dg.AssetsDefinition], resources: dict[str, object]) -> dg.ExecuteInProcessResult:
    with weekly_instance(WEEK) as instance:
        return dg.materialize(assets, partition_key=WEEK, instance=instance, resources=resources,
                              raise_on_error=False)


def _check(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations()
                if e.check_name == "delivery_complete" and e.asset_key.path[-1] == asset]
    return found


def _engineer_alerts(settings: Settings) -> list[dict[str, object]]:
    path = settings.outbox_dir / "alerts.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [a for a in lines if a["kind"] == "engineer"]


def _pending(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM sinks.crm_outbox WHERE status = 'pending'").fetchone()
    return int(row[0]) if row else -1


def test_crm_answering_503_forever_fails_the_run_and_alerts(settings: Settings, crm: tuple[str, CrmState]) -> None:
    url, state = crm
    state.outage = Scripted(status=503)
    result = _materialize([crm_writeback], _resources(settings, url))
    assert not result.success
    check = _check(result, "crm_writeback")
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["pending"].value == N
    assert _pending(settings) == N
    (alert,) = _engineer_alerts(settings)
    assert "crm delivery incomplete" in str(alert["subject"])
    assert not state.writes


def test_crm_refusing_connections_fails_the_run_and_alerts(settings: Settings) -> None:
    result = _materialize([crm_writeback], _resources(settings, f"http://127.0.0.1:{free_port()}"))
    assert not result.success
    assert not _check(result, "crm_writeback").passed
    assert _pending(settings) == N
    assert len(_engineer_alerts(settings)) == 1


def test_smtp_answering_451_forever_fails_the_run(settings: Settings) -> None:
    with smtp_server() as (host, port, sink):
        sink.outage = "451 4.3.0 mailbox busy, try later"
        resources: dict[str, object] = dict(build_resources(settings))
        resources["alerts"] = AlertChannelResource(channel="email", outbox_path=str(settings.outbox_dir / "a.jsonl"),
                                                   dashboard_url="https://dash.example", smtp_host=host,
                                                   smtp_port=port)
        result = _materialize([am_alerts], resources)
    assert not result.success
    check = _check(result, "am_alerts")
    assert not check.passed
    assert check.metadata["pending"].value == 2  # one digest per account manager, both still pending
    assert sink.messages == []
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        kinds = con.execute("SELECT kind, status FROM sinks.alert_ledger ORDER BY kind").fetchall()
    assert ("engineer", "pending") in kinds  # the engineer alert was attempted through the same channel


def _plan(con: duckdb.DuckDBPyConnection, run_id: str = "run-1", **kw: object) -> int:
    return plan_writeback(con, make_assignments(N), make_crm(N), week_start=WEEK1, model_version="m1", run_id=run_id,
                          **kw)  # type: ignore[arg-type]


def _configs(tmp_path: Path, url: str) -> tuple[CrmConfig, AlertConfig]:
    return (CrmConfig(mode="rest", base_url=url, token=TOKEN, batch_size=5, export_dir=tmp_path / "crm"),
            AlertConfig(outbox_path=tmp_path / "alerts.jsonl"))


def test_batch_400_dead_letters_all_rows_and_redrive_sends_them_once_fixed(
    tmp_path: Path, crm: tuple[str, CrmState]
) -> None:
    url, state = crm
    crm_cfg, alert_cfg = _configs(tmp_path, url)
    clock = FakeClock()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _plan(con)
        state.outage = BATCH_400
        first = deliver_writeback(con, crm_cfg, week_start=WEEK1, sleep=clock.sleep, clock=clock.monotonic,
                                  policy=FAST)
        assert first.dead_lettered == N
        keys = dict(con.execute("SELECT account_id, idempotency_key FROM sinks.crm_outbox").fetchall())
        state.outage = None  # the CRM is fixed
        _plan(con, run_id="run-2")  # a rerun alone re-plans the same keys ...
        again = deliver_writeback(con, crm_cfg, week_start=WEEK1, sleep=clock.sleep, clock=clock.monotonic,
                                  policy=FAST)
        assert again.sent == 0  # ... and sends nothing: the rows are dead
        out = redrive(con, crm_cfg, alert_cfg, week=WEEK1, dead_letters=True, sleep=clock.sleep,
                      clock=clock.monotonic, policy=FAST)
        assert out.revived_crm == N
        assert out.crm is not None
        assert out.crm.sent == N
        after = dict(con.execute("SELECT account_id, idempotency_key FROM sinks.crm_outbox "
                                 "WHERE status = 'sent'").fetchall())
        assert after == keys  # the original idempotency keys
        sync_keys = {c["seg_sync_key"] for c in state.companies.values()}
        assert sync_keys == set(keys.values())
        assert set(state.writes.values()) == {1}
        assert len(state.writes) == N
        repeat = redrive(con, crm_cfg, alert_cfg, week=WEEK1, dead_letters=True, sleep=clock.sleep,
                         clock=clock.monotonic, policy=FAST)
        assert repeat.revived_crm == 0
        assert repeat.crm is not None
        assert repeat.crm.sent == 0


def test_redrive_resends_pending_rows_under_the_same_keys(tmp_path: Path, crm: tuple[str, CrmState]) -> None:
    url, state = crm
    crm_cfg, alert_cfg = _configs(tmp_path, url)
    clock = FakeClock()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _plan(con)
        state.outage = Scripted(status=503)
        assert deliver_writeback(con, crm_cfg, week_start=WEEK1, sleep=clock.sleep, clock=clock.monotonic,
                                 policy=FAST).failed == N
        tried = {r["key"] for r in state.requests}
        state.outage = None
        out = redrive(con, crm_cfg, alert_cfg, sleep=clock.sleep, clock=clock.monotonic, policy=FAST)
    assert out.crm is not None
    assert out.crm.sent == N
    assert {r["key"] for r in state.requests} >= tried
    assert set(state.effects) <= {r["key"] for r in state.requests}
    assert set(state.writes.values()) == {1}
    assert len(state.writes) == N


_CRASHING_RUN = """
import sys
from pathlib import Path
import duckdb
from seg_pipeline.sinks.config import CrmConfig
from seg_pipeline.sinks.crm import deliver_writeback, plan_writeback
from seg_pipeline_tests.sinks.conftest import WEEK1, make_assignments, make_crm
db, url, token, run_id, n = sys.argv[1:]
con = duckdb.connect(db)
plan_writeback(con, make_assignments(int(n)), make_crm(int(n)), week_start=WEEK1, model_version="m1",
               run_id=run_id, full_resync=True)
deliver_writeback(con, CrmConfig(mode="rest", base_url=url, token=token, batch_size=5,
                                 export_dir=Path(db).parent / "crm"), week_start=WEEK1)
con.close()
"""


def _run(db: Path, url: str, run_id: str, crash_at: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "SEG_CRASH_AT"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    if crash_at:
        env["SEG_CRASH_AT"] = crash_at
    proc = subprocess.run([sys.executable, "-c", _CRASHING_RUN, str(db), url, TOKEN, run_id, str(N)],  # noqa: S603
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode in (0, -9), proc.stderr
    return proc.returncode


def test_full_resync_crash_after_2xx_then_rerun_applies_each_account_once(
    tmp_path: Path, crm: tuple[str, CrmState]
) -> None:
    url, state = crm
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:  # a normal sync first: the CRM already holds every account
        _plan(con)
        crm_cfg, _ = _configs(tmp_path, url)
        assert deliver_writeback(con, crm_cfg, week_start=WEEK1, policy=FAST).sent == N
    assert set(state.writes.values()) == {1}
    assert _run(db, url, "run-resync-1", crash_at="crm_after_response") == -9  # killed after the CRM's 2xx
    assert sum(state.writes.values()) == N + 5  # the first batch was applied before the kill
    assert _run(db, url, "run-resync-2", crash_at=None) == 0
    assert len(state.writes) == N
    assert set(state.writes.values()) == {2}  # the normal sync + exactly one resync per account
    assert sum(state.replays.values()) == 1  # the crashed batch was answered from the CRM's idempotency cache
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.execute("SELECT status, count(*) FROM sinks.crm_outbox GROUP BY ALL ORDER BY 1").fetchall()
    assert statuses == [("sent", 2 * N)]


def test_seg_sinks_redrive_command_resends_dead_letters(
    tmp_path: Path, crm: tuple[str, CrmState], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from seg_pipeline.cli import main

    url, state = crm
    settings = Settings().with_home(tmp_path / "home")
    crm_cfg, _ = _configs(tmp_path, url)
    with Warehouse(settings.warehouse_path, settings.snapshot_path).connect() as con:
        _plan(con)
        state.outage = BATCH_400
        dead = deliver_writeback(con, crm_cfg, week_start=WEEK1, sleep=FakeClock().sleep, policy=FAST)
    assert dead.dead_lettered == N
    state.outage = None
    for name, value in {"SEG_CRM_MODE": "rest", "SEG_CRM_BASE_URL": url, "SEG_CRM_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    out = CliRunner().invoke(main, ["--home", str(settings.home), "sinks", "redrive", "--week", WEEK,
                                    "--dead-letters"])
    assert out.exit_code == 0, out.output
    assert f"CRM: {N} pending, {N} sent" in out.output
    assert TOKEN not in out.output
    assert len(state.writes) == N


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """Serve TCP on 127.0.0.1: accept connections and never say a word (a hanging SMTP server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_hanging_smtp_server_leaves_digests_pending_and_fails_the_check(
    tmp_path: Path, silent_server: tuple[str, int]
) -> None:
    host, port = silent_server
    cfg = AlertConfig(channel="email", outbox_path=tmp_path / "a.jsonl", smtp_host=host, smtp_port=port)
    moves = move("acc_000000", 0, 1), move("acc_000001", 1, 2)
    policy = RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.1, max_total=5.0, timeout=0.5)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = send_am_alerts(con, cfg, pd.DataFrame(list(moves)), make_crm(4), week_start=WEEK1, policy=policy,
                                sleep=FakeClock().sleep)
        assert (result.sent, result.failed) == (0, 2)
        check = delivery_check(con, "alerts", WEEK1, dry_run=False)
    assert not check.passed
    assert check.error
    assert check.metadata["pending"] == 2
    assert check.alert is not None
