"""Raw ingest in DuckDB SQL: the contracts it must keep.

Every documented reason is still produced, counts reconcile with what was written, a kill between DELETE and
INSERT keeps the old week, and the week's memory follows DuckDB's cap.
"""

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seg_pipeline.crashpoints import CRASH_ENV
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.stage import run_week
from seg_pipeline.raw.tables import write_staged_week
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.sources.landing import drop_staged, stage_week
from seg_pipeline.warehouse.duck import connect, ensure_schemas, memory_limit
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.sources.test_landing import (
    CRM_FILE,
    crm_row,
    event,
    ticket,
    write_crm,
    write_events,
    write_tickets,
)

WEEK = date(2026, 1, 5)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
DOCS = Path(__file__).parents[2] / "docs" / "contracts.md"
ROOT = Path(__file__).parents[2]


def documented_reasons() -> set[str]:
    """Return the reason column of the quarantine table in docs/contracts.md, ``:<col>`` stripped."""
    text = DOCS.read_text()
    table = text[text.index("| reason | meaning |") :]
    table = table[: table.index("\n\n")]
    return {m.split(":")[0] for m in re.findall(r"^\| `([a-z_:<>]+)` \|", table, flags=re.MULTILINE)}


def hostile_week(landing: Path) -> None:
    """One week whose files, together, earn every documented reason."""
    rows = [crm_row(i) for i in range(30)]
    rows[1] = crm_row(1, seats="ten")  # cast_error
    rows[2] = crm_row(2, mrr="NaN")  # non_finite
    rows[3] = crm_row(3, plan="platinum")  # out_of_domain
    rows[4] = crm_row(4, account_id=None)  # null_key
    rows[5] = crm_row(5, account_manager_id=None)  # null_value
    rows[6] = crm_row(6, account_name="A\x00B")  # nul_byte
    write_crm(landing, rows, raw_lines={8: b"acc_x,too,few"})  # malformed_line
    day0 = [event(i) for i in range(40)]
    day0[1] = event(1, event_ts=datetime(2026, 1, 12, tzinfo=UTC))  # ts_out_of_range
    day0.append({**day0[4], "event_type": "export"})  # duplicate_key_conflict (both copies)
    day0.append(dict(day0[5]))  # an exact repeat: dropped, counted
    write_events(landing, WEEK, day0)
    (landing / "product_events/events_2026-01-06.parquet").write_bytes(b"PAR1 garbage")  # unparseable_file
    write_events(landing, WEEK + timedelta(days=2), [])  # a schema without rows: a warning, events may be quiet
    write_tickets(landing, [ticket(i) for i in range(10)])
    usage = landing / CONTRACTS["product_usage"].file_name(WEEK)
    usage.parent.mkdir(parents=True)
    usage.write_bytes(b"")  # zero bytes is never Parquet: unparseable_file


def test_every_documented_reason_is_still_produced_and_reconciles_with_the_written_tables(tmp_path: Path):
    landing = tmp_path / "landing"
    hostile_week(landing)
    (landing / "crm_empty").mkdir()
    empty_crm = tmp_path / "landing2"
    (empty_crm / "crm_accounts").mkdir(parents=True)
    (empty_crm / CRM_FILE).write_bytes(b"")  # empty_file (a CRM snapshot may never be empty)
    produced: set[str] = set()
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        for source, root in [*((s, landing) for s in CONTRACTS), ("crm_accounts", empty_crm)]:
            staged = stage_week(con, source, root, WEEK, now=NOW, reject_rate=1.0)
            write_staged_week(con, staged)
            drop_staged(con, staged)
            sql = f"SELECT count(*) FROM raw.{source} WHERE week_start = ?"  # noqa: S608 - contract names
            loaded = con.execute(sql, [WEEK]).fetchone()
            quarantined = con.execute(
                "SELECT reason, count(*) FROM raw.quarantine WHERE source = ? AND week_start = ? GROUP BY reason",
                [source, WEEK],
            ).fetchall()
            assert loaded is not None
            assert staged.rows_in == loaded[0] + sum(n for _, n in quarantined) + staged.duplicates_dropped, source
            assert dict(quarantined) == staged.reasons
            produced |= {reason.split(":")[0] for reason, _ in quarantined}
            for (record,) in con.execute("SELECT record FROM raw.quarantine WHERE source = ?", [source]).fetchall():
                assert isinstance(json.loads(record), dict)
        events = stage_week(con, "product_events", landing, WEEK, now=NOW, reject_rate=1.0)
        assert events.duplicates_dropped == 1
        assert any("schema but no rows" in w for w in events.warnings)
        drop_staged(con, events)
    assert produced == documented_reasons()


def test_a_rerun_replaces_the_week_and_other_weeks_stay(tmp_path: Path):
    landing = tmp_path / "landing"
    write_events(landing, WEEK, [event(i) for i in range(12)])
    write_events(landing, WEEK + timedelta(days=1), [event(i, 1) for i in range(8)])
    write_events(landing, WEEK + timedelta(days=7), [event(i, 7) for i in range(5)])
    warehouse = Warehouse(tmp_path / "w.duckdb", tmp_path / "s.duckdb")
    config = IngestConfig(landing)
    for week in (WEEK, WEEK + timedelta(days=7), WEEK):
        result, _ = run_week("product_events", week, warehouse, config)
        assert {c.name: c.passed for c in result.checks}["reconciles"]
    with warehouse.connect() as con:
        counts = dict(con.execute("SELECT week_start, count(*) FROM raw.product_events GROUP BY ALL").fetchall())
        temp = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()
        order = con.execute(
            "SELECT source_file, source_row FROM raw.product_events WHERE week_start = ? ORDER BY rowid", [WEEK]
        ).fetchall()
    assert counts == {WEEK: 20, WEEK + timedelta(days=7): 5}
    assert order == sorted(order)  # stored in file and line order without an ORDER BY
    assert temp == (0,)  # the staging table is gone once the week is written


def test_a_contract_error_writes_nothing_and_leaves_no_staging_table(tmp_path: Path):
    landing = tmp_path / "landing"
    write_crm(landing, [crm_row(i) for i in range(5)] + [crm_row(2)])
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        with pytest.raises(ValueError, match="duplicate key account_id='acc_000002' on lines 4, 7"):
            stage_week(con, "crm_accounts", landing, WEEK, now=NOW)
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)


_CRASH_CHILD = """
import sys
from datetime import date
from pathlib import Path
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.stage import run_week
from seg_pipeline.warehouse.engine import Warehouse
home, landing = Path(sys.argv[1]), Path(sys.argv[2])
run_week(sys.argv[3], date(2026, 1, 5), Warehouse(home / "w.duckdb", home / "s.duckdb"), IngestConfig(landing))
print("finished")
"""


@pytest.mark.parametrize("point", ["warehouse.replace:raw.product_events", "warehouse.replace:raw.quarantine"])
def test_a_kill_between_delete_and_insert_keeps_the_old_week(tmp_path: Path, point: str):
    landing = tmp_path / "landing"
    old = [event(i) for i in range(30)]
    old[0] = event(0, event_type="bogus")
    write_events(landing, WEEK, old)
    warehouse = Warehouse(tmp_path / "w.duckdb", tmp_path / "s.duckdb")
    run_week("product_events", WEEK, warehouse, IngestConfig(landing))
    with warehouse.connect() as con:
        before = con.execute("SELECT * FROM raw.product_events ORDER BY source_row").fetchall()
        before_q = con.execute("SELECT * FROM raw.quarantine ORDER BY source_row").fetchall()
    write_events(landing, WEEK, [event(i) for i in range(50)])  # the new delivery, never committed
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", _CRASH_CHILD, str(tmp_path), str(landing), "product_events"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # WAL replay: only committed transactions
        assert con.execute("SELECT * FROM raw.product_events ORDER BY source_row").fetchall() == before
        assert con.execute("SELECT * FROM raw.quarantine ORDER BY source_row").fetchall() == before_q
    assert len(before) == 29
    assert len(before_q) == 1


def test_the_memory_cap_holds_while_staging_and_is_reset_after(tmp_path: Path):
    landing = tmp_path / "landing"
    for d in range(7):
        write_events(
            landing,
            WEEK + timedelta(days=d),
            [
                event(i, d, event_ts=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=d, seconds=i))
                for i in range(2000)
            ],
        )
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        default = con.execute("SELECT current_setting('memory_limit')").fetchone()
        with memory_limit(con, "32MB"):
            assert con.execute("SELECT current_setting('memory_limit')").fetchone() != default
            staged = stage_week(con, "product_events", landing, WEEK, now=NOW)
            write_staged_week(con, staged)
            drop_staged(con, staged)
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == default
        assert con.execute("SELECT count(*) FROM raw.product_events").fetchone() == (14000,)
        with pytest.raises(ValueError, match="not like '128MB'"), memory_limit(con, "lots"):
            pass


def test_parquet_text_and_typed_columns_give_the_same_rows(tmp_path: Path):
    """A Parquet export with every column as text loads the same values as the typed one (all-VARCHAR path)."""
    typed, text = tmp_path / "typed", tmp_path / "text"
    rows = [event(i) for i in range(10)]
    write_events(typed, WEEK, rows)
    as_text = pa.schema([(n, pa.string()) for n in CONTRACTS["product_events"].names])
    path = text / "product_events/events_2026-01-05.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(
            [{**r, "event_ts": r["event_ts"].isoformat()} for r in rows],  # type: ignore[union-attr]
            schema=as_text,
        ),
        path,
    )
    out = []
    for landing in (typed, text):
        with duckdb.connect() as con:
            staged = stage_week(con, "product_events", landing, WEEK, now=NOW)
            sql = f"SELECT * EXCLUDE (record) FROM {staged.table} ORDER BY source_row"  # noqa: S608
            out.append(con.execute(sql).fetchall())
    assert out[0] == out[1]
    assert len(out[0]) == 10
