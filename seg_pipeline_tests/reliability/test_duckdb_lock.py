"""Another process holding warehouse.duckdb: retried with backoff, then one sentence naming the holder.

Break 7: "a DuckDB lock held by a reader fails after 1.4 s with no retry".
"""

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from seg_pipeline.warehouse.duck import WarehouseLockedError, connect

pytestmark = pytest.mark.reliability
HOLDER_TIMEOUT_S = 120


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process that opens ``path`` read-write, says so, holds it ``seconds`` and exits."""
    script = path.parent / "lock_holder_marker.py"  # the name shows up in the holder's command line
    script.write_text("import duckdb, sys, time\ncon = duckdb.connect(sys.argv[1])\nprint('held', flush=True)\n"
                      "time.sleep(float(sys.argv[2]))\n")
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(seconds)],  # noqa: S603
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    return path


def test_open_waits_for_a_holder_that_lets_go(warehouse: Path) -> None:
    holder = _hold(warehouse, 1.5)
    try:
        with connect(warehouse, lock_wait_s=60) as con:  # the holder exits after 1.5 s; the retry gets in
            assert con.execute("SELECT 42").fetchone() == (42,)
    finally:
        holder.kill()
        holder.wait(timeout=HOLDER_TIMEOUT_S)


def test_a_holder_that_stays_is_named_in_one_sentence(warehouse: Path) -> None:
    holder = _hold(warehouse, 300)
    try:
        with pytest.raises(WarehouseLockedError) as err, connect(warehouse, read_only=True, lock_wait_s=1.0):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=HOLDER_TIMEOUT_S)
    message = str(err.value)
    assert f"PID {holder.pid}" in message
    assert "lock_holder_marker.py" in message  # the holder's command line, so the user knows which process it is
    assert "tries" in message
    assert "fix:" in message
    assert "\n" not in message
    assert err.value.__cause__ is None


def test_other_io_errors_are_not_retried(tmp_path: Path) -> None:
    bad = tmp_path / "not_a_database.duckdb"
    bad.write_text("this is not a DuckDB file")
    with pytest.raises(duckdb.Error) as err, connect(bad, lock_wait_s=60):
        pass
    assert not isinstance(err.value, WarehouseLockedError)
