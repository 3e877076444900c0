import subprocess
import sys
import textwrap
from datetime import date

import duckdb
import pandas as pd
import pytest

from seg_pipeline.warehouse.duck import (
    SliceWrite,
    connect,
    ident,
    publish_snapshot,
    replace_partition,
    replace_slices,
)

W1, W2 = date(2026, 1, 5), date(2026, 1, 12)


def _frame(week: date, n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i + offset}" for i in range(n)], "week_start": [week] * n,
                         "value": [float(i) for i in range(n)]})


def test_replace_partition_is_idempotent_and_scoped(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_partition(con, "raw", "t", _frame(W1, 5), key=W1)
        replace_partition(con, "raw", "t", _frame(W2, 3), key=W2)
        replace_partition(con, "raw", "t", _frame(W1, 4, offset=10), key=W1)
        replace_partition(con, "raw", "t", _frame(W1, 4, offset=10), key=W1)
        counts = dict(con.execute("SELECT week_start, count(*) FROM raw.t GROUP BY 1").fetchall())
        rows = con.execute("SELECT account_id FROM raw.t WHERE week_start = ? ORDER BY 1", [W1]).fetchall()
        ids = [r[0] for r in rows]
    assert counts == {W1: 4, W2: 3}
    assert ids == ["a10", "a11", "a12", "a13"]


def test_failed_insert_rolls_back_the_delete(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_partition(con, "raw", "t", _frame(W1, 5), key=W1)
        bad = _frame(W1, 2).assign(value=["x", "y"])  # does not cast to DOUBLE
        with pytest.raises(duckdb.Error):
            replace_partition(con, "raw", "t", bad, key=W1)
        assert con.execute("SELECT count(*) FROM raw.t WHERE week_start = ?", [W1]).fetchall()[0][0] == 5


def test_multi_slice_write_is_atomic(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_slices(con, [SliceWrite("raw", "a", _frame(W1, 3), {"week_start": W1}),
                             SliceWrite("raw", "b", _frame(W1, 2), {"week_start": W1})])
        with pytest.raises(duckdb.Error):
            replace_slices(con, [SliceWrite("raw", "a", _frame(W1, 9), {"week_start": W1}),
                                 SliceWrite("raw", "b", _frame(W1, 1).assign(value=["bad"]), {"week_start": W1})])
        assert con.execute("SELECT count(*) FROM raw.a").fetchall()[0][0] == 3
        assert con.execute("SELECT count(*) FROM raw.b").fetchall()[0][0] == 2


def test_process_killed_between_delete_and_insert_keeps_the_old_week(tmp_path):
    """A real crash (os._exit inside the transaction, after DELETE) must not lose the committed week."""
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        replace_partition(con, "raw", "t", _frame(W1, 1000), key=W1)
    script = textwrap.dedent(f"""
        import os, duckdb
        con = duckdb.connect({str(db)!r})
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM raw.t WHERE week_start = DATE '2026-01-05'")
        os._exit(137)
    """)  # noqa: S608 - Python source for the child process; its SQL is literal
    proc = subprocess.run([sys.executable, "-c", script], check=False)  # noqa: S603 - our interpreter, our script
    assert proc.returncode == 137
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.t").fetchall()[0][0] == 1000


@pytest.mark.parametrize("bad", ["Robert'); DROP TABLE x;--", "a b", "A", "x.y", ""])
def test_identifiers_outside_the_allow_list_are_refused(bad):
    with pytest.raises(ValueError, match="refusing SQL identifier"):
        ident(bad)


def test_unknown_schema_refused(tmp_path):
    with connect(tmp_path / "w.duckdb") as con, pytest.raises(ValueError, match="unknown schema"):
        replace_partition(con, "public", "t", _frame(W1, 1), key=W1)


def test_snapshot_is_readable_while_the_writer_holds_the_live_file(tmp_path):
    db, snap = tmp_path / "w.duckdb", tmp_path / "snap.duckdb"
    with connect(db) as con:
        replace_partition(con, "raw", "t", _frame(W1, 7), key=W1)
        publish_snapshot(con, db, snap)
        with connect(snap, read_only=True) as reader:
            assert reader.execute("SELECT count(*) FROM raw.t").fetchall()[0][0] == 7
