"""Real `seg run` processes killed, made to wait, and run side by side (breaks 1 and 7; slow: also e2e).

- SIGKILL inside the raw step's transaction, then a second `seg run` of the week: it recovers the dead run (no
  hang on the pool), completes, and the warehouse is row-identical to a clean run of that week;
- a run waiting on a pool held by a live run says so on the console and stops on SIGTERM, canceling its run;
- two `seg run`s of different weeks at once both complete, nothing lost or duplicated.
"""

import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from seg_pipeline.run_guard import DAGSTER_PREFIX, EXIT_INTERRUPTED, owner_tags
from seg_pipeline_tests.reliability.conftest import RUN_TIMEOUT_S, new_landed_home, run_seg, seg_cmd, seg_env
from seg_pipeline_tests.reliability.planted import plant_run, run_status, slot_holders
from seg_pipeline_tests.reliability.warehouse_diff import differences

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]
EXIT_BLOCKED = 3  # tiny data may trip the mass-migration gate on a later week: blocked is a correct outcome


def test_kill_inside_raw_transaction_then_rerun_recovers_and_matches_clean(
    tmp_path: Path, landed_home: tuple[Path, list[str]], landed_template: dict[str, Any]
) -> None:
    home, weeks = landed_home
    week = weeks[0]
    killed = run_seg(home, "run", week, SEG_CRASH_AT="warehouse.replace:raw.product_events")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stuck = slot_holders(home)
    assert len(stuck) == 1  # the dead run still holds the warehouse pool: what used to hang every later run

    rerun = run_seg(home, "run", week)
    assert rerun.returncode == 0, rerun.stderr
    assert "recovered run" in rerun.stderr
    assert run_status(home, stuck.pop()) == "FAILURE"

    clean_home = new_landed_home(tmp_path, landed_template, "clean")
    clean = run_seg(clean_home, "run", week)
    assert clean.returncode == 0, clean.stderr
    assert differences(home / "warehouse.duckdb", clean_home / "warehouse.duckdb", week) == []


def _lines(proc: subprocess.Popen[str]) -> "queue.Queue[str]":
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return out


def test_run_waiting_on_a_live_holder_says_so_and_stops_on_sigterm(landed_home: tuple[Path, list[str]]) -> None:
    home, weeks = landed_home
    holder = subprocess.Popen(["sleep", "900"])  # noqa: S607 - a live process owning the planted run
    try:
        tags = {**owner_tags(), f"{DAGSTER_PREFIX}pid": str(holder.pid)}
        tags[f"{DAGSTER_PREFIX}proc_started"] = _started(holder.pid)
        held_by = plant_run(home, tags, week=weeks[-1])
        proc = subprocess.Popen(seg_cmd("run", weeks[0]), env=seg_env(home), stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.STDOUT, text=True)
        lines = _lines(proc)
        seen = []
        while not any("waiting for the warehouse pool" in line for line in seen):
            seen.append(lines.get(timeout=RUN_TIMEOUT_S))  # queue.Empty (test fails) rather than a hang
        notice = seen[-1]
        assert held_by[:8] in notice
        assert f"pid {holder.pid}" in notice
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=RUN_TIMEOUT_S) == EXIT_INTERRUPTED
        assert run_status(home, held_by) == "STARTED"  # a live owner's run is never touched
        assert slot_holders(home) == {held_by}  # the interrupted run gave its place back
    finally:
        holder.kill()
        holder.wait()


def _started(pid: int) -> str:
    import psutil

    return f"{psutil.Process(pid).create_time():.3f}"


def test_two_concurrent_runs_of_different_weeks_both_complete(landed_home: tuple[Path, list[str]]) -> None:
    home, weeks = landed_home
    procs = [subprocess.Popen(seg_cmd("run", week), env=seg_env(home), stdout=subprocess.PIPE,  # noqa: S603
                              stderr=subprocess.STDOUT, text=True) for week in weeks[:2]]
    try:
        outputs = [proc.communicate(timeout=RUN_TIMEOUT_S)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode in (0, EXIT_BLOCKED), output
        assert "FAILED" not in output
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for week in weeks[:2]:
            raw, distinct = con.execute(
                "SELECT count(*), count(DISTINCT account_id) FROM raw.crm_accounts WHERE week_start = ?", [week]
            ).fetchone() or (0, 0)
            assert raw == distinct > 0
            features, assigned, unique = con.execute(
                "SELECT (SELECT count(*) FROM features.account_features WHERE week_start = $w), count(*), "
                "count(DISTINCT account_id) FROM assignments.account_segments WHERE week_start = $w", {"w": week}
            ).fetchone() or (0, 0, 0)
            assert features == assigned == unique > 0
    assert slot_holders(home) == set()
