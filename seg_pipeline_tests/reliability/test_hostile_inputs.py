"""Hostile and broken landing input: every case is named, quarantined with a reason, or blocks the week saying why.

The loader cases run on `load_week` directly; the header-only CRM snapshot and the corrupt Parquet day also run
through `seg run` (a real Dagster instance under a tmp SEG_HOME) to prove the exit code, the week's reason and the
engineer alert. docs/reliability.md ("Hostile and broken input") lists the cases and the last run's result.
"""

import io
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import main
from seg_pipeline.sources.contracts import MRR_MAX_USD, SEATS_MAX
from seg_pipeline.sources.landing import LoadResult, load_week
from seg_pipeline_tests.sources.test_landing import (
    CRM_FILE,
    CRM_HEADER,
    NOW,
    TICKETS_FILE,
    crm_row,
    event,
    ticket,
    write_crm,
    write_events,
    write_tickets,
)

pytestmark = pytest.mark.reliability

WEEK = date(2026, 1, 5)
EVENTS_DAY = "product_events/events_2026-01-07.parquet"


def _reconciled(result: LoadResult) -> None:
    assert result.rows_in == len(result.rows) + len(result.quarantine) + result.duplicates_dropped


def _good_parquet_bytes() -> bytes:
    buf = io.BytesIO()
    table = pa.Table.from_pylist([event(i, 2) for i in range(50)])
    pq.write_table(table, buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ unusable files

FILE_CASES: list[tuple[str, str, bytes, str, str]] = [
    # (case, landing file, content, reason, the sentence after "<source> file landing/<file> ")
    ("header-only CRM CSV", CRM_FILE, ",".join(CRM_HEADER).encode() + b"\n", "empty_file",
     "has a header but no rows"),
    ("zero-byte CRM CSV", CRM_FILE, b"", "empty_file", "is empty (0 bytes)"),
    ("garbage bytes named .csv", CRM_FILE, bytes(range(256)) * 4, "unparseable_file",
     "is not valid CSV: the header line is not UTF-8 text"),
    ("text without a CRM column named .csv", CRM_FILE, b"hello world\nfoo bar\n", "unparseable_file",
     "is not valid CSV: no contract column in the header line"),
    ("garbage bytes named .parquet", EVENTS_DAY, b"\x00\x01GARBAGE" * 100, "unparseable_file",
     "is not valid Parquet: "),
    ("truncated Parquet", EVENTS_DAY, _good_parquet_bytes()[:700], "unparseable_file", "is not valid Parquet: "),
    ("zero-byte Parquet", EVENTS_DAY, b"", "unparseable_file", "is not valid Parquet: the file is empty (0 bytes)"),
    ("garbage bytes named .jsonl", TICKETS_FILE, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "unparseable_file",
     "is not valid JSON lines: no line is a JSON object"),
]


@pytest.mark.parametrize(("case", "rel", "content", "reason", "sentence"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_an_unusable_file_is_named_quarantined_whole_and_blocks(tmp_path: Path, case: str, rel: str, content: bytes,
                                                                reason: str, sentence: str):
    landing = tmp_path / "landing"
    path = landing / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    source = {"crm_accounts": "crm_accounts", "product_events": "product_events",
              "support_tickets": "support_tickets"}[rel.split("/")[0]]
    result = load_week(source, landing, WEEK, now=NOW)
    assert result.rows.empty, case
    assert result.quarantine[["source_file", "source_row", "reason"]].values.tolist() == [[rel, 0, reason]]
    assert json.loads(result.quarantine["record"].iloc[0])["file"] == rel
    assert result.file_problems == [result.file_problems[0]]
    assert result.file_problems[0].startswith(f"{source} file landing/{rel} {sentence}")
    _reconciled(result)


def test_the_raw_check_blocks_the_week_and_alerts_naming_the_file(tmp_path: Path):
    from seg_pipeline.raw.stage import FILES_CHECK, files_check

    landing = tmp_path / "landing"
    (landing / CRM_FILE).parent.mkdir(parents=True)
    (landing / CRM_FILE).write_text(",".join(CRM_HEADER) + "\n")
    problems = load_week("crm_accounts", landing, WEEK, now=NOW).file_problems
    outcome = files_check("crm_accounts", WEEK, problems)
    assert (outcome.name, outcome.passed, outcome.error) == (FILES_CHECK, False, True)
    assert outcome.description == f"crm_accounts file landing/{CRM_FILE} has a header but no rows"
    assert outcome.alert is not None
    assert outcome.alert.reason == "unreadable_file_crm_accounts"
    assert f"landing/{CRM_FILE} has a header but no rows" in outcome.alert.body
    assert files_check("crm_accounts", WEEK, []).passed


# ------------------------------------------------------------------------------------------ domain bounds


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"mrr": "1e308"}, "out_of_domain:mrr"),
        ({"mrr": MRR_MAX_USD * 1.01}, "out_of_domain:mrr"),
        ({"mrr": "-0.01"}, "out_of_domain:mrr"),
        ({"mrr": "1e309"}, "cast_error:mrr"),  # beyond DOUBLE: no number at all
        ({"seats": "-3"}, "out_of_domain:seats"),
        ({"seats": SEATS_MAX + 1}, "out_of_domain:seats"),
        ({"seats": "9223372036854775808"}, "cast_error:seats"),  # beyond BIGINT
    ],
)
def test_absurd_money_and_counts_are_quarantined(tmp_path: Path, override: dict[str, Any], reason: str):
    landing = tmp_path / "landing"
    write_crm(landing, [crm_row(i) for i in range(9)] + [crm_row(9, **override)])
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[11, reason]]
    assert len(result.rows) == 9
    assert result.rows["mrr"].max() <= MRR_MAX_USD
    _reconciled(result)


def test_values_at_the_ceiling_still_load(tmp_path: Path):
    landing = tmp_path / "landing"
    write_crm(landing, [crm_row(0, mrr=MRR_MAX_USD, seats=SEATS_MAX), crm_row(1, mrr=0, seats=0)])
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert result.quarantine.empty
    assert result.rows["mrr"].tolist() == [MRR_MAX_USD, 0.0]


def test_absurd_daily_usage_from_parquet_is_quarantined(tmp_path: Path):
    landing = tmp_path / "landing"
    path = landing / "product_usage/usage_2026-01-05.parquet"
    path.parent.mkdir(parents=True)
    rows = [{"account_id": f"acc_{i:06d}", "usage_date": WEEK, "feature_name": "dashboards",
             "event_type": "feature_use", "usage_count": 3, "duration_seconds": 60.0, "active_users": 2}
            for i in range(20)]
    rows[1]["duration_seconds"] = 1e308
    rows[2]["usage_count"] = 10**12
    rows[3]["active_users"] = -1
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = load_week("product_usage", landing, WEEK, now=NOW)
    got = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert got == {2: "out_of_domain:duration_seconds", 3: "out_of_domain:usage_count",
                   4: "out_of_domain:active_users"}
    _reconciled(result)


# ------------------------------------------------------------------------------------------ NUL bytes


def test_a_nul_in_an_id_gets_the_same_reason_from_csv_parquet_and_json(tmp_path: Path):
    landing = tmp_path / "landing"
    write_crm(landing, [crm_row(0, account_id="acc_\x00001"), crm_row(1), crm_row(2, account_name="A\x00B"),
                        *[crm_row(i) for i in range(3, 10)]])
    write_events(landing, date(2026, 1, 5), [event(0, account_id="acc_\x00001"), event(1, user_id="u\x00"),
                                              *[event(i) for i in range(2, 12)]])
    write_tickets(landing, [
        ticket(0, account_id="acc_\x00001"),  # JSON-escaped \u0000
        json.dumps(ticket(1)).replace("tkt_00001", "tkt_\x0000001").encode(),  # a raw NUL byte in the line
        *[ticket(i) for i in range(2, 10)],
    ])
    got = {source: dict(zip(r.quarantine["source_row"], r.quarantine["reason"], strict=True))
           for source in ("crm_accounts", "product_events", "support_tickets")
           for r in [load_week(source, landing, WEEK, now=NOW)]}
    assert got == {
        "crm_accounts": {2: "nul_byte:account_id", 4: "nul_byte:account_name"},
        "product_events": {1: "nul_byte:account_id", 2: "nul_byte:user_id"},
        "support_tickets": {1: "nul_byte:account_id", 2: "nul_byte:ticket_id"},
    }
    for source in ("crm_accounts", "product_events", "support_tickets"):
        result = load_week(source, landing, WEEK, now=NOW)
        _reconciled(result)
        for col in result.rows.columns:
            assert not result.rows[col].astype(str).str.contains("\x00").any(), (source, col)


# ------------------------------------------------------------------------------------------ through `seg run`


@pytest.fixture(scope="module")
def one_week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Landing files of a tiny one-week company, simulated once; each test copies them into its own SEG_HOME."""
    from seg_pipeline.settings import Settings
    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    home = tmp_path_factory.mktemp("hostile_template")
    settings = Settings().with_home(home)
    settings.ensure_home()
    simulate(SimulationConfig(accounts=60, weeks=1, seed=5), settings.landing_dir, settings.truth_dir)
    return settings.landing_dir


def _home_with(one_week: Path, tmp_path: Path) -> Path:
    home = tmp_path / "h"
    home.mkdir()
    shutil.copytree(one_week, home / "landing")
    return home


def _seg_run(home: Path) -> Any:
    return CliRunner().invoke(main, ["--home", str(home), "run", WEEK.isoformat()],
                              env={"SEG_MASS_MIGRATION_THRESHOLD": "0.9", "SEG_FIRST_WEEK": None})


def _engineer_alerts(home: Path) -> list[dict[str, Any]]:
    path = home / "outbox" / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [m for m in map(json.loads, lines) if m.get("kind") == "engineer"]


@pytest.mark.e2e
def test_seg_run_blocks_a_header_only_crm_snapshot_naming_the_file_and_alerts(one_week: Path, tmp_path: Path):
    home = _home_with(one_week, tmp_path)
    (home / "landing" / CRM_FILE).write_text(",".join(CRM_HEADER) + "\n")
    out = _seg_run(home)
    sentence = f"crm_accounts file landing/{CRM_FILE} has a header but no rows"
    assert out.exit_code == 3, out.output  # blocked, not a crash and not a success
    assert f"raw/crm_accounts:landing_files_readable ({sentence})" in out.output
    assert "keys_unique_not_null" not in out.output
    assert "orphan_ids" not in out.output  # no misleading downstream reason
    assert "Traceback" not in out.output
    alerts = _engineer_alerts(home)
    assert [a["subject"] for a in alerts] == [f"[seg_pipeline] unusable crm_accounts landing file for {WEEK}"]
    assert sentence in alerts[0]["text"]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT source_file, source_row, reason FROM raw.quarantine").fetchall()
    assert rows == [(CRM_FILE, 0, "empty_file")]


@pytest.mark.e2e
def test_seg_run_blocks_a_corrupt_parquet_day_naming_the_file_and_alerts(one_week: Path, tmp_path: Path):
    home = _home_with(one_week, tmp_path)
    day = home / "landing" / EVENTS_DAY
    day.write_bytes(day.read_bytes()[: day.stat().st_size // 2])  # a transfer cut in half
    out = _seg_run(home)
    assert out.exit_code == 3, out.output
    assert f"raw/product_events:landing_files_readable (product_events file landing/{EVENTS_DAY} is not valid " \
           "Parquet: " in out.output
    status = json.loads(CliRunner().invoke(main, ["--home", str(home), "status", "--json"]).output)
    assert EVENTS_DAY in status["weeks"][0]["reason"]
    alerts = _engineer_alerts(home)
    assert [a["subject"] for a in alerts] == [f"[seg_pipeline] unusable product_events landing file for {WEEK}"]
    assert EVENTS_DAY in alerts[0]["text"]


@pytest.mark.e2e
def test_seg_run_rejects_a_parquet_with_a_wrong_column_type_naming_the_file_and_alerts(one_week: Path,
                                                                                      tmp_path: Path):
    home = _home_with(one_week, tmp_path)
    day = home / "landing" / EVENTS_DAY
    table = pq.read_table(day)
    idx = table.schema.get_field_index("event_ts")
    pq.write_table(table.set_column(idx, "event_ts", pa.array([1] * table.num_rows, pa.int64())), day)
    out = _seg_run(home)
    assert out.exit_code == 4, out.output
    assert f"{EVENTS_DAY}: column 'event_ts' has Parquet type int64" in out.output
    alerts = _engineer_alerts(home)
    assert [a["subject"] for a in alerts] == [f"[seg_pipeline] product_events landing file rejected for {WEEK}"]
    assert EVENTS_DAY in alerts[0]["text"]


@pytest.mark.e2e
def test_seg_run_keeps_an_absurd_mrr_out_of_the_warehouse(one_week: Path, tmp_path: Path):
    home = _home_with(one_week, tmp_path)
    crm = home / "landing" / CRM_FILE
    frame = pd.read_csv(crm, dtype=str, keep_default_na=False)
    frame.loc[0, "mrr"] = "1e308"
    frame.to_csv(crm, index=False)
    out = _seg_run(home)
    assert out.exit_code in (0, 3), out.output  # tiny data may trip a gate; never a crash
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT max(mrr) FROM raw.crm_accounts").fetchall()[0][0] <= MRR_MAX_USD
        assert con.execute("SELECT reason FROM raw.quarantine WHERE source = 'crm_accounts'").fetchall() == [
            ("out_of_domain:mrr",)]


def test_seg_import_passes_a_nul_on_from_csv_and_json_lines_alike(tmp_path: Path):
    from seg_pipeline.sources.mappings.exports import read_rows

    csv_path, jsonl_path = tmp_path / "a.csv", tmp_path / "a.jsonl"
    csv_path.write_bytes(b"id,name\nacc_\x001,Acme\n")
    jsonl_path.write_bytes(b'{"id": "acc_\x001", "name": "Acme"}\n')
    rows = [r for path, fmt in ((csv_path, "csv"), (jsonl_path, "jsonl")) for r in read_rows(path, path.name, fmt)]
    # the importer keeps the value; the loader then quarantines it as nul_byte:<col> whatever the landing format
    assert [(r.reason, r.record) for r in rows] == [(None, {"id": "acc_\x001", "name": "Acme"})] * 2
