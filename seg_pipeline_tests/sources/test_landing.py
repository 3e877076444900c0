"""Landing readers on hand-built files: every bad-input class gets its reason and nothing is lost."""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seg_pipeline.sources.contracts import CONTRACTS, QUARANTINE_COLUMNS
from seg_pipeline.sources.landing import ContractError, LoadResult, load_week, week_files

WEEK = date(2026, 1, 5)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CRM_FILE = "crm_accounts/accounts_2026-01-05.csv"
TICKETS_FILE = "support_tickets/tickets_2026-01-05.jsonl"
CRM_HEADER = list(CONTRACTS["crm_accounts"].names)


# ------------------------------------------------------------------------------------------ builders


def crm_row(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "account_id": f"acc_{i:06d}", "account_name": f"Account {i}", "industry": "saas",
        "employee_band": "11-50", "region": "emea", "plan": "growth", "seats": 10 + i, "mrr": 100.5 + i,
        "signup_date": "2024-03-01", "renewal_date": "2026-03-01", "account_manager_id": "am_01",
        "account_manager_name": "Ann Lee", "account_manager_email": "ann@example.com", "status": "active",
    }
    row.update(over)
    return row


def csv_line(values: list[object]) -> str:
    return ",".join("" if v is None else str(v) for v in values)


def write_crm(landing: Path, rows: list[dict[str, object]] | None = None, *, header: list[str] | None = None,
              raw_lines: dict[int, bytes] | None = None, bom: bool = False, eol: bytes = b"\n") -> Path:
    """CRM CSV with ``rows``; ``raw_lines`` inserts raw bytes before the given data-row index."""
    header = header or CRM_HEADER
    rows = [crm_row(i) for i in range(10)] if rows is None else rows
    out = [",".join(header).encode()]
    for idx, row in enumerate(rows):
        if raw_lines and idx in raw_lines:
            out.append(raw_lines[idx])
        out.append(csv_line([row.get(h) for h in header]).encode())
    if raw_lines and len(rows) in raw_lines:
        out.append(raw_lines[len(rows)])
    path = landing / CRM_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + eol.join(out) + eol)
    return path


def event(i: int, day: int = 0, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": f"evt_{day}_{i:05d}", "account_id": f"acc_{i % 3:06d}", "user_id": f"u_{i % 3:06d}_001",
        "event_type": "feature_use" if i % 2 else "login", "feature_name": "dashboards" if i % 2 else None,
        "event_ts": datetime(2026, 1, 5, 1, 0, tzinfo=UTC) + timedelta(days=day, minutes=i),
    }
    row.update(over)
    return row


def write_events(landing: Path, day: date, rows: list[dict[str, object]], *,
                 schema: pa.Schema | None = None) -> Path:
    path = landing / f"product_events/events_{day.isoformat()}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = schema or pa.schema([
        ("event_id", pa.string()), ("account_id", pa.string()), ("user_id", pa.string()),
        ("event_type", pa.string()), ("feature_name", pa.string()), ("event_ts", pa.timestamp("us", tz="UTC")),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def ticket(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ticket_id": f"tkt_{i:05d}", "account_id": f"acc_{i % 4:06d}", "created_at": "2026-01-02T09:00:00+00:00",
        "updated_at": "2026-01-06T10:00:00+00:00", "resolved_at": None, "priority": "P2", "category": "bug",
        "status": "open", "csat": None,
    }
    row.update(over)
    return row


def write_tickets(landing: Path, lines: list[object]) -> Path:
    path = landing / TICKETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def reasons(result: LoadResult) -> dict[int, str]:
    return dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))


def assert_reconciled(result: LoadResult) -> None:
    assert result.rows_in == len(result.rows) + len(result.quarantine) + result.duplicates_dropped
    assert result.reconciled
    assert list(result.quarantine.columns) == [name for name, _ in QUARANTINE_COLUMNS]
    keys = list(zip(result.rows["source_file"], result.rows["source_row"], strict=True))
    assert keys == sorted(keys)
    qkeys = list(zip(result.quarantine["source_file"], result.quarantine["source_row"], strict=True))
    assert qkeys == sorted(qkeys)
    for record in result.quarantine["record"]:
        json.loads(record)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


# ------------------------------------------------------------------------------------------ good files


def test_good_week_of_every_source_loads_fully_with_types_and_lineage(landing: Path):
    write_crm(landing)
    for d in range(7):
        write_events(landing, WEEK + timedelta(days=d), [event(i, d) for i in range(5)])
    write_tickets(landing, [ticket(i) for i in range(6)])

    crm = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert len(crm.rows) == crm.rows_in == 10
    assert crm.quarantine.empty
    assert crm.warnings == []
    assert crm.files == [CRM_FILE]
    assert crm.rows["seats"].tolist() == list(range(10, 20))
    assert str(crm.rows["seats"].dtype) == "Int64"
    assert str(crm.rows["mrr"].dtype) == "Float64"
    assert crm.rows["signup_date"].iloc[0] == date(2024, 3, 1)
    assert crm.rows["source_row"].tolist() == list(range(2, 12))  # physical lines, header is line 1
    assert (crm.rows["week_start"] == WEEK).all()
    assert list(crm.rows.columns) == [*CONTRACTS["crm_accounts"].names, "week_start", "source_file", "source_row"]

    events = load_week("product_events", landing, WEEK, now=NOW)
    assert len(events.rows) == 35
    assert events.files == [
        f"product_events/events_{(WEEK + timedelta(days=d)).isoformat()}.parquet" for d in range(7)
    ]
    assert str(events.rows["event_ts"].dtype) == "datetime64[ns, UTC]"
    assert events.rows["source_row"].tolist() == [1, 2, 3, 4, 5] * 7
    assert_reconciled(events)

    tickets = load_week("support_tickets", landing, WEEK, now=NOW)
    assert len(tickets.rows) == 6
    assert tickets.quarantine.empty
    assert tickets.rows["source_row"].tolist() == list(range(1, 7))
    assert tickets.rows["resolved_at"].isna().all()


def test_rows_insert_into_duckdb_with_contract_types(landing: Path, tmp_path: Path):
    """The shape the lead writes into raw.*: DuckDB must see the contract types, not strings."""
    write_crm(landing)
    write_events(landing, WEEK, [event(i) for i in range(3)])
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for source in ("crm_accounts", "product_events"):
        result = load_week(source, landing, WEEK, now=NOW)
        cols = ", ".join(f'"{n}" {t}' for n, t in CONTRACTS[source].raw_columns())
        con.execute(f"CREATE TABLE {source} ({cols})")
        rows = result.rows
        con.register("rows_df", rows)
        con.execute(f"INSERT INTO {source} SELECT * FROM rows_df")  # noqa: S608 - source from the literal tuple
        con.unregister("rows_df")
        assert con.execute(f"SELECT count(*) FROM {source}").fetchone()[0] == len(rows)  # noqa: S608 - literal
    assert con.execute("SELECT typeof(event_ts), typeof(week_start) FROM product_events LIMIT 1").fetchone() == (
        "TIMESTAMP WITH TIME ZONE", "DATE")
    assert con.execute("SELECT sum(seats) FROM crm_accounts").fetchone()[0] == sum(range(10, 20))
    con.close()


def test_load_is_deterministic(landing: Path):
    write_crm(landing, [crm_row(i) for i in range(10)] + [crm_row(99, seats="x")])
    a = load_week("crm_accounts", landing, WEEK, now=NOW, reject_rate=1.0)
    b = load_week("crm_accounts", landing, WEEK, now=NOW, reject_rate=1.0)
    pd.testing.assert_frame_equal(a.rows, b.rows)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)


def test_missing_files_give_an_empty_week_with_a_warning(landing: Path):
    write_events(landing, WEEK + timedelta(days=2), [event(i, 2) for i in range(3)])
    events = load_week("product_events", landing, WEEK, now=NOW)
    assert len(events.rows) == 3
    assert "6 day file(s) missing" in events.warnings[0]
    # a company may deliver product activity as events or as daily usage: a shape it never sends is no warning
    usage = load_week("product_usage", landing, WEEK, now=NOW)
    assert usage.rows.empty
    assert usage.warnings == []
    crm = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert crm.rows.empty
    assert crm.files == []
    assert crm.rows_in == 0
    assert "no file" in crm.warnings[0]
    assert list(crm.rows.columns)[-3:] == ["week_start", "source_file", "source_row"]


# ------------------------------------------------------------------------------------------ CRM CSV


def test_bom_and_crlf_are_accepted(landing: Path):
    write_crm(landing, bom=True, eol=b"\r\n")
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert len(result.rows) == 10
    assert result.quarantine.empty
    assert result.rows["account_id"].iloc[0] == "acc_000000"  # no BOM glued to the first value
    assert result.rows["status"].iloc[-1] == "active"  # no stray \r


def test_missing_required_column_names_column_and_file(landing: Path):
    write_crm(landing, header=[h for h in CRM_HEADER if h != "seats"])
    with pytest.raises(ContractError) as exc:
        load_week("crm_accounts", landing, WEEK, now=NOW)
    assert str(exc.value) == f"{CRM_FILE}: required column 'seats' is missing"


def test_renamed_column_is_rejected_and_extra_column_only_warns(landing: Path):
    renamed = ["seat_count" if h == "seats" else h for h in CRM_HEADER]
    write_crm(landing, header=renamed)
    with pytest.raises(ContractError, match="'seats' is missing"):
        load_week("crm_accounts", landing, WEEK, now=NOW)
    write_crm(landing, [crm_row(i, nps=9) for i in range(5)], header=[*CRM_HEADER, "nps"])
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert len(result.rows) == 5
    assert "nps" not in result.rows.columns
    assert any("'nps'" in w and CRM_FILE in w for w in result.warnings)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"seats": "ten"}, "cast_error:seats"),
        ({"seats": "2.5"}, "cast_error:seats"),
        ({"seats": -3}, "out_of_domain:seats"),
        ({"mrr": -1}, "out_of_domain:mrr"),
        ({"mrr": "NaN"}, "non_finite:mrr"),
        ({"mrr": "inf"}, "non_finite:mrr"),
        ({"mrr": "-Infinity"}, "non_finite:mrr"),
        ({"seats": "1e400"}, "cast_error:seats"),  # overflows
        ({"signup_date": "2024-02-30"}, "cast_error:signup_date"),
        ({"renewal_date": "03/01/2026"}, "cast_error:renewal_date"),
        ({"plan": "platinum"}, "out_of_domain:plan"),
        ({"status": "ACTIVE"}, "out_of_domain:status"),
        ({"account_id": None}, "null_key:account_id"),
        ({"account_manager_id": None}, "null_value:account_manager_id"),
    ],
)
def test_bad_crm_values_are_quarantined_with_reason(landing: Path, override: dict, reason: str):
    rows = [crm_row(i) for i in range(9)] + [crm_row(9, **override)]
    write_crm(landing, rows)
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert reasons(result) == {11: reason}
    assert len(result.rows) == 9
    record = json.loads(result.quarantine["record"].iloc[0])
    assert record["account_name"] == "Account 9"  # the original row, as text
    assert_reconciled(result)


def test_malformed_lines_are_quarantined_by_physical_line(landing: Path):
    raw = {
        2: b"acc_x,too,few,columns",
        4: b"acc_bad_utf8,Caf\xe9,saas,11-50,emea,growth,1,1,2024-01-01,,am_01,A,a@x,active",
        6: b"acc_nul,Nul\x00Corp,saas,11-50,emea,growth,1,1,2024-01-01,,am_01,A,a@x,active",
        8: b'acc_q,"unterminated,saas,11-50,emea,growth,1,1,2024-01-01,,am_01,A,a@x,active',
    }
    rows = [crm_row(i) for i in range(20)]
    write_crm(landing, rows, raw_lines=raw, eol=b"\r\n")
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    # header=1; data row k sits after the raw lines inserted before it
    # a NUL byte is no reading problem: the line parses, the field is quarantined as in every other format
    assert reasons(result) == {4: "malformed_line", 7: "malformed_line", 10: "nul_byte:account_name",
                               13: "malformed_line"}
    assert len(result.rows) == 20
    assert result.rows_in == 24
    assert "Caf\\\\xe9" in result.quarantine["record"].iloc[1]
    assert_reconciled(result)


def test_quoted_field_with_comma_and_newline_is_one_record(landing: Path):
    rows = [crm_row(i) for i in range(5)] + [crm_row(5, account_name='"Smith, Jones\nand ""Co"""')]
    write_crm(landing, [*rows, crm_row(6)])
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert result.quarantine.empty
    assert result.rows["account_name"].iloc[5] == 'Smith, Jones\nand "Co"'
    assert result.rows["source_row"].tolist()[-2:] == [7, 9]  # the quoted record spans lines 7-8


def test_duplicate_account_id_rejects_the_snapshot(landing: Path):
    write_crm(landing, [crm_row(i) for i in range(5)] + [crm_row(2, seats=99)])
    with pytest.raises(ContractError, match=r"accounts_2026-01-05.csv: duplicate key account_id='acc_000002' "
                                            r"on lines 4, 7"):
        load_week("crm_accounts", landing, WEEK, now=NOW)


@pytest.mark.parametrize(
    ("content", "reason", "problem"),
    [
        (b"", "empty_file", "is empty (0 bytes)"),
        (b"\n\r\n  \n", "empty_file", "has only blank lines"),
        (",".join(CRM_HEADER).encode() + b"\n", "empty_file", "has a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "unparseable_file", "is not valid CSV: the header line is not UTF-8"),
        (b"foo;bar;baz\n1;2;3\n", "unparseable_file", "is not valid CSV: no contract column in the header"),
        (b"\xff\xfe a\x00c\x00c\x00\n", "unparseable_file", "is not valid CSV: the header line is not UTF-8"),
    ],
)
def test_unusable_csv_is_one_quarantine_row_and_a_named_problem(landing: Path, content: bytes, reason: str,
                                                                  problem: str):
    path = landing / CRM_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert result.rows.empty
    assert result.rows_in == 1
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[0, reason]]
    assert json.loads(result.quarantine["record"].iloc[0])["file"] == CRM_FILE
    assert len(result.file_problems) == 1
    assert result.file_problems[0].startswith(f"crm_accounts file landing/{CRM_FILE} {problem}")
    assert_reconciled(result)


def test_empty_ticket_file_is_a_quiet_week_not_a_problem(landing: Path):
    path = landing / TICKETS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    result = load_week("support_tickets", landing, WEEK, now=NOW)
    assert (result.rows_in, len(result.quarantine), result.file_problems) == (0, 0, [])
    assert any("is empty (0 bytes)" in w for w in result.warnings)


def test_ticket_file_without_one_json_object_is_unparseable(landing: Path):
    write_tickets(landing, [b"\x00\x01garbage", b"[1, 2]", b"not json"])
    result = load_week("support_tickets", landing, WEEK, now=NOW)
    assert result.quarantine["reason"].tolist() == ["unparseable_file"]
    assert result.file_problems == [f"support_tickets file landing/{TICKETS_FILE} is not valid JSON lines: no line "
                                    "is a JSON object"]
    assert_reconciled(result)


def test_semicolon_dialect_is_detected(landing: Path):
    rows = [crm_row(i) for i in range(3)]
    text = ";".join(CRM_HEADER) + "\n" + "\n".join(";".join(str(r[h]) for h in CRM_HEADER) for r in rows) + "\n"
    (landing / "crm_accounts").mkdir()
    (landing / CRM_FILE).write_text(text)
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert len(result.rows) == 3
    assert any("';'" in w for w in result.warnings)


def test_reject_rate_is_per_file_and_names_it(landing: Path):
    rows = [crm_row(i) for i in range(8)] + [crm_row(8, seats="x"), crm_row(9, seats="y")]
    write_crm(landing, rows)
    assert len(load_week("crm_accounts", landing, WEEK, now=NOW, reject_rate=0.2).quarantine) == 2  # 20 % ok
    write_crm(landing, [*rows, crm_row(10, seats="z")])
    with pytest.raises(ContractError, match=rf"{CRM_FILE}: 3 of 11 rows quarantined .*cast_error:seats=3"):
        load_week("crm_accounts", landing, WEEK, now=NOW, reject_rate=0.2)


# ------------------------------------------------------------------------------------------ events


def test_duplicate_event_same_payload_kept_once_conflict_quarantined(landing: Path):
    day0 = [event(i) for i in range(10)]
    day1 = [event(i, 1) for i in range(10)]
    day1.append(dict(day0[3]))  # re-sent in the next day's file: same payload
    day1.append({**day0[4], "event_type": "export", "feature_name": None})  # same id, different payload
    write_events(landing, WEEK, day0)
    write_events(landing, WEEK + timedelta(days=1), day1)
    result = load_week("product_events", landing, WEEK, now=NOW)
    assert result.duplicates_dropped == 1
    assert (result.rows["event_id"] == "evt_0_00003").sum() == 1
    assert "evt_0_00004" not in set(result.rows["event_id"])
    q = result.quarantine
    assert q["reason"].tolist() == ["duplicate_key_conflict"] * 2
    assert q[["source_file", "source_row"]].values.tolist() == [
        ["product_events/events_2026-01-05.parquet", 5], ["product_events/events_2026-01-06.parquet", 12]]
    assert any("different payload" in w for w in result.warnings)
    assert len(result.rows) == 19  # 22 in - 1 dropped - 2 quarantined
    assert_reconciled(result)


def test_bad_events_get_their_reasons(landing: Path):
    rows = [event(i) for i in range(30)]
    rows[1] = event(1, event_id=None)
    rows[2] = event(2, account_id=None)
    rows[3] = event(3, event_ts=None)
    rows[4] = event(4, event_ts=datetime(1970, 1, 1, tzinfo=UTC))
    rows[5] = event(5, event_ts=datetime(2026, 1, 12, tzinfo=UTC))  # next week: outside [start, start+7d)
    rows[6] = event(6, event_ts=datetime(2026, 1, 4, 23, 59, tzinfo=UTC))  # previous week
    rows[7] = event(7, event_type="purchase")
    rows[8] = event(8, feature_name="Teleport Beta")  # open vocabulary: any feature name loads
    rows[9] = event(9, user_id="")
    write_events(landing, WEEK, rows)
    result = load_week("product_events", landing, WEEK, now=NOW, reject_rate=0.5)
    assert reasons(result) == {
        2: "null_key:event_id", 3: "null_key:account_id", 4: "null_key:event_ts", 5: "ts_out_of_range",
        6: "ts_out_of_range", 7: "ts_out_of_range", 8: "out_of_domain:event_type", 10: "null_value:user_id",
    }
    assert "Teleport Beta" in set(result.rows["feature_name"].dropna())
    assert_reconciled(result)


def test_future_events_relative_to_now_are_out_of_range(landing: Path):
    write_events(landing, WEEK, [event(i, 0, event_ts=datetime(2026, 1, 5, 10, i, tzinfo=UTC)) for i in range(10)])
    now = datetime(2026, 1, 5, 10, 7, 30, tzinfo=UTC)
    result = load_week("product_events", landing, WEEK, now=now, reject_rate=1.0)
    assert sorted(reasons(result)) == [9, 10]
    assert set(reasons(result).values()) == {"ts_out_of_range"}


def test_naive_and_string_timestamps_in_parquet_are_utc(landing: Path):
    naive = pa.schema([(n, pa.string()) for n in CONTRACTS["product_events"].names[:-1]]
                      + [("event_ts", pa.timestamp("ms"))])
    write_events(landing, WEEK, [event(i, event_ts=datetime(2026, 1, 5, 12, i)) for i in range(3)], schema=naive)
    as_text = pa.schema([(n, pa.string()) for n in CONTRACTS["product_events"].names])
    write_events(landing, WEEK + timedelta(days=1),
                 [event(0, 1, event_ts="2026-01-06T12:00:00+02:00"), event(1, 1, event_ts="2026-01-06 12:00:00"),
                  event(2, 1, event_ts="yesterday")] + [event(i, 1, event_ts="2026-01-06T00:00:00Z")
                                                       for i in range(3, 12)],
                 schema=as_text)
    result = load_week("product_events", landing, WEEK, now=NOW)
    ts = result.rows["event_ts"]
    assert ts.iloc[0] == pd.Timestamp("2026-01-05T12:00:00Z")
    assert ts.iloc[3] == pd.Timestamp("2026-01-06T10:00:00Z")
    assert ts.iloc[4] == pd.Timestamp("2026-01-06T12:00:00Z")
    assert reasons(result) == {3: "cast_error:event_ts"}


def test_unreadable_parquet_and_schema_mismatch_are_rejected_naming_the_file(landing: Path):
    write_events(landing, WEEK, [event(i) for i in range(3)])
    bad = landing / "product_events/events_2026-01-07.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    result = load_week("product_events", landing, WEEK, now=NOW)  # the readable days load; the week is blocked
    assert len(result.rows) == 3
    assert reasons(result) == {0: "unparseable_file"}
    assert result.file_problems[0].startswith(
        "product_events file landing/product_events/events_2026-01-07.parquet is not valid Parquet: ")
    assert_reconciled(result)
    bad.unlink()
    int_ts = pa.schema([(n, pa.string()) for n in CONTRACTS["product_events"].names[:-1]] + [("event_ts", pa.int64())])
    write_events(landing, WEEK + timedelta(days=2), [event(0, 2, event_ts=0)], schema=int_ts)
    with pytest.raises(ContractError, match=r"events_2026-01-07\.parquet: column 'event_ts' has Parquet type int64"):
        load_week("product_events", landing, WEEK, now=NOW)
    bad.unlink()
    no_user = pa.schema([(n, pa.string()) for n in ("event_id", "account_id", "event_type", "feature_name")]
                        + [("event_ts", pa.timestamp("us", tz="UTC")), ("extra", pa.int32())])
    write_events(landing, WEEK + timedelta(days=2), [event(0, 2, extra=1)], schema=no_user)
    with pytest.raises(ContractError, match=r"events_2026-01-07\.parquet: required column 'user_id' is missing"):
        load_week("product_events", landing, WEEK, now=NOW)


def test_extra_parquet_column_warns(landing: Path):
    schema = pa.schema([(n, pa.string()) for n in CONTRACTS["product_events"].names[:-1]]
                       + [("event_ts", pa.timestamp("us", tz="UTC")), ("session", pa.string())])
    write_events(landing, WEEK, [event(i, session="s") for i in range(3)], schema=schema)
    result = load_week("product_events", landing, WEEK, now=NOW)
    assert len(result.rows) == 3
    assert "session" not in result.rows.columns
    assert any("'session'" in w for w in result.warnings)


# ------------------------------------------------------------------------------------------ tickets


def test_ticket_timestamps_offsets_and_naive_become_utc(landing: Path):
    lines = [
        ticket(0, created_at="2026-01-05T10:00:00+02:00", updated_at="2026-01-07T23:30:00-05:00"),
        ticket(1, created_at="2026-01-05 10:00:00", updated_at="2026-01-06T10:00:00Z"),
        ticket(2, status="solved", resolved_at="2026-01-06T11:00:00+01:00", csat=4),
    ] + [ticket(i) for i in range(3, 10)]
    write_tickets(landing, lines)
    result = load_week("support_tickets", landing, WEEK, now=NOW)
    rows = result.rows
    assert rows["created_at"].iloc[0] == pd.Timestamp("2026-01-05T08:00:00Z")
    assert rows["updated_at"].iloc[0] == pd.Timestamp("2026-01-08T04:30:00Z")
    assert rows["created_at"].iloc[1] == pd.Timestamp("2026-01-05T10:00:00Z")
    assert rows["resolved_at"].iloc[2] == pd.Timestamp("2026-01-06T10:00:00Z")
    assert rows["csat"].iloc[2] == 4
    assert pd.isna(rows["csat"].iloc[0])
    assert result.quarantine.empty


def test_bad_ticket_lines_get_their_reasons(landing: Path):
    lines: list[object] = [ticket(i) for i in range(20)]
    lines[1] = b"{not json"
    lines[2] = b"[1, 2, 3]"
    lines[3] = ticket(3, updated_at="2026-01-12T00:00:00Z")
    lines[4] = ticket(4, csat=9, status="solved")
    lines[5] = b'{"ticket_id": "tkt_5", "account_id": "acc_1", "created_at": "2026-01-02T00:00:00Z", ' \
               b'"updated_at": "2026-01-06T00:00:00Z", "priority": "P1", "status": "solved", "csat": NaN}'
    lines[6] = ticket(6, priority="P9")
    lines[7] = ticket(7, account_id={"id": 1})
    lines[8] = ticket(8, created_at="2026-01-07T00:00:00Z")  # created after its update
    lines[9] = b"\xff\xfe garbage"
    lines[10] = ticket(10, updated_at=None)
    write_tickets(landing, lines)
    result = load_week("support_tickets", landing, WEEK, now=NOW, reject_rate=0.6)
    assert reasons(result) == {
        2: "malformed_line", 3: "malformed_line", 4: "ts_out_of_range", 5: "out_of_domain:csat",
        6: "non_finite:csat", 7: "out_of_domain:priority", 8: "cast_error:account_id", 9: "ts_out_of_range",
        10: "malformed_line", 11: "null_key:updated_at",
    }
    assert_reconciled(result)


def test_ticket_key_missing_from_every_line_is_rejected(landing: Path):
    write_tickets(landing, [{k: v for k, v in ticket(i).items() if k != "priority"} for i in range(3)])
    with pytest.raises(ContractError, match=f"{TICKETS_FILE}: required column 'priority' is missing"):
        load_week("support_tickets", landing, WEEK, now=NOW)


def test_optional_ticket_keys_may_be_absent(landing: Path):
    write_tickets(landing, [{k: v for k, v in ticket(i).items() if k not in ("resolved_at", "csat")}
                            for i in range(3)])
    result = load_week("support_tickets", landing, WEEK, now=NOW)
    assert len(result.rows) == 3
    assert result.warnings == []


# ------------------------------------------------------------------------------------------ paths


def test_symlink_escaping_the_landing_dir_is_rejected(landing: Path, tmp_path: Path):
    outside = tmp_path / "outside.csv"
    outside.write_text(",".join(CRM_HEADER) + "\n")
    (landing / "crm_accounts").mkdir()
    (landing / CRM_FILE).symlink_to(outside)
    with pytest.raises(ContractError, match="outside the landing directory"):
        week_files("crm_accounts", landing, WEEK)
    with pytest.raises(ContractError, match="outside the landing directory"):
        load_week("crm_accounts", landing, WEEK, now=NOW)


def test_symlinked_source_folder_outside_is_rejected_inside_is_fine(landing: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    write_tickets(elsewhere, [ticket(0)])
    (landing / "support_tickets").symlink_to(elsewhere / "support_tickets")
    with pytest.raises(ContractError, match="outside the landing directory"):
        load_week("support_tickets", landing, WEEK, now=NOW)
    (landing / "support_tickets").unlink()
    write_tickets(landing / "archive", [ticket(0)])
    (landing / "support_tickets").symlink_to(landing / "archive" / "support_tickets")
    assert len(load_week("support_tickets", landing, WEEK, now=NOW).rows) == 1


def test_directory_in_place_of_file_is_rejected(landing: Path):
    (landing / CRM_FILE).mkdir(parents=True)
    with pytest.raises(ContractError, match="not a regular file"):
        week_files("crm_accounts", landing, WEEK)


@pytest.mark.parametrize("week", ["../2026-01-05", "2026-01-06", date(2026, 1, 6), "2026-01-05/../../x"])
def test_bad_week_is_refused_before_file_access(landing: Path, week: object):
    with pytest.raises(ValueError, match=r"^week .* (is not a date like|weeks start on Monday)"):
        load_week("crm_accounts", landing, week, now=NOW)  # type: ignore[arg-type]


def test_unknown_source_is_refused(landing: Path):
    with pytest.raises(ValueError, match="unknown source"):
        load_week("../crm_accounts", landing, WEEK)


def test_relative_landing_dir_resolves_to_the_same_files(landing: Path, monkeypatch: pytest.MonkeyPatch):
    write_crm(landing)
    monkeypatch.chdir(landing.parent)
    result = load_week("crm_accounts", Path(os.path.relpath(landing)), WEEK, now=NOW)
    assert result.files == [CRM_FILE]
    assert len(result.rows) == 10


def test_na_like_text_is_a_value_not_a_null(landing: Path):
    """'NA' is North America in the CRM; only an empty field is null."""
    write_crm(landing, [crm_row(0, region="NA"), crm_row(1, region="None"), crm_row(2, region="")])
    result = load_week("crm_accounts", landing, WEEK, now=NOW)
    assert result.rows["region"].tolist()[:2] == ["NA", "None"]
    assert pd.isna(result.rows["region"].iloc[2])


def test_reason_counts_and_naive_now(landing: Path):
    rows = [event(i, 0, event_ts=datetime(2026, 1, 5, 10, i, tzinfo=UTC)) for i in range(10)]
    rows[0] = event(0, event_type="bogus")
    write_events(landing, WEEK, rows)
    result = load_week("product_events", landing, WEEK, now=datetime(2026, 1, 5, 10, 8), reject_rate=1.0)
    assert result.reason_counts() == {"out_of_domain:event_type": 1, "ts_out_of_range": 1}


def test_ticket_updates_are_separate_rows_but_same_update_must_agree(landing: Path):
    lines: list[object] = [ticket(i) for i in range(10)]
    lines.append(ticket(0, updated_at="2026-01-07T10:00:00+00:00", status="solved", csat=5))  # a later update
    lines.append(ticket(1))  # the same update exported twice
    lines.append(ticket(2, priority="P1"))  # same ticket and update time, different payload
    write_tickets(landing, lines)
    result = load_week("support_tickets", landing, WEEK, now=NOW)
    assert (result.rows["ticket_id"] == "tkt_00000").sum() == 2
    assert result.duplicates_dropped == 1
    assert reasons(result) == {3: "duplicate_key_conflict", 13: "duplicate_key_conflict"}
    assert len(result.rows) == 10
    assert_reconciled(result)
