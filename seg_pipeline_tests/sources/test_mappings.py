"""Bring-your-own-data mappings: hand-written exports in 7 shapes → landing files → the real loader."""

import gzip
import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from seg_pipeline.sources.contracts import get_contract
from seg_pipeline.sources.landing import LoadResult, load_week
from seg_pipeline.sources.mappings import (
    MappingError,
    import_exports,
    load_mapping,
    parse_mapping,
)

FIXTURES = Path(__file__).parent / "fixtures" / "byo"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "mappings.example.yaml"
WEEK = date(2026, 1, 5)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def load(source: str, landing: Path, week: date = WEEK) -> LoadResult:
    # tiny fixtures are deliberately dirty: the per-file reject threshold is tested in test_landing
    result = load_week(source, landing, week, now=NOW, reject_rate=1.0)
    assert result.reconciled
    return result


def by_key(frame: pd.DataFrame, key: str) -> dict[str, dict]:
    return {str(r[key]): r for r in frame.to_dict("records")}


def quarantined(result: LoadResult) -> dict[str, str]:
    """Quarantine reason by the export's key, read back from the record JSON."""
    out = {}
    for rec, reason in zip(result.quarantine["record"], result.quarantine["reason"], strict=True):
        obj = json.loads(rec)
        out[str(obj.get("event_id") or obj.get("ticket_id") or obj.get("account_id"))] = reason
    return out


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def landing_files(landing: Path) -> dict[str, bytes]:
    return {p.relative_to(landing).as_posix(): p.read_bytes() for p in sorted(landing.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ stacks


def test_segment_salesforce_zendesk(tmp_path: Path):
    report = import_exports(load_mapping(FIXTURES / "stack_a.yaml"), FIXTURES, tmp_path, week_start=WEEK, now=NOW)
    assert report.reconciled
    assert report.weeks == [WEEK]

    ev = report.sources["product_events"]
    assert (ev.rows_in, ev.written, ev.rejected, ev.skipped) == (10, 7, 2, 1)
    assert ev.reasons == {"malformed_line": 1, "cast_error:event_ts": 1, "ignored_event": 1}
    assert ev.files_read == ["segment/tracks.jsonl", "segment/tracks_export.csv"]
    events = load("product_events", tmp_path)
    assert events.rows_in == ev.written
    rows = by_key(events.rows, "event_id")
    assert set(rows) == {"seg-1", "seg-2", "seg-3", "seg-8", "seg-9"}
    # +02:00 offset → UTC, which also moves it into the previous UTC day's file
    assert rows["seg-2"]["event_ts"] == utc("2026-01-05 23:30")
    assert rows["seg-2"]["source_file"] == "product_events/events_2026-01-05.parquet"
    assert (rows["seg-2"]["event_type"], rows["seg-2"]["feature_name"]) == ("feature_use", "dashboards")
    assert (rows["seg-3"]["event_type"], rows["seg-3"]["feature_name"]) == ("feature_use", "dashboards")
    assert (rows["seg-1"]["event_type"], rows["seg-1"]["account_id"]) == ("login", "acc_000001")
    assert rows["seg-8"]["event_type"] == "export"
    assert (rows["seg-9"]["event_type"], rows["seg-9"]["account_id"]) == ("api_call", "acc_000003")
    # unmapped values reach the loader verbatim and are quarantined there with its reasons
    assert quarantined(events) == {"seg-5": "out_of_domain:event_type", "seg-6": "null_key:account_id"}
    assert "Mystery Clicked" in events.quarantine["record"].str.cat()

    tk = report.sources["support_tickets"]
    assert (tk.rows_in, tk.written, tk.rejected, tk.skipped) == (7, 5, 1, 1)
    assert tk.reasons == {"cast_error:updated_at": 1, "outside_week": 1}
    tickets = load("support_tickets", tmp_path)
    t = by_key(tickets.rows, "ticket_id")
    assert set(t) == {"101", "102", "103", "104"}
    assert (t["101"]["priority"], t["101"]["status"], t["101"]["category"]) == ("P1", "open", "billing")
    assert (t["102"]["priority"], t["102"]["category"], t["102"]["csat"]) == ("P2", "how_to", 5)
    assert t["102"]["resolved_at"] == utc("2026-01-07 09:00")
    # hold → pending; "task" has no category; a rating on an unsolved ticket is dropped (contract)
    assert (t["103"]["priority"], t["103"]["status"]) == ("P4", "pending")
    assert pd.isna(t["103"]["category"])
    assert pd.isna(t["103"]["csat"])
    assert (t["104"]["priority"], t["104"]["category"], t["104"]["csat"]) == ("P3", "performance", 1)
    assert t["101"]["account_id"] == "acc_000001"  # organization id crosswalk through values
    assert quarantined(tickets) == {"105": "null_key:account_id"}
    assert tk.coerced == {"unmapped_to_null:category": 1, "null_while_open:csat": 1}

    crm = report.sources["crm_accounts"]
    assert (crm.rows_in, crm.written, crm.rejected) == (6, 5, 1)
    accounts = load("crm_accounts", tmp_path)
    a = by_key(accounts.rows, "account_id")
    assert set(a) == {"acc_000001", "acc_000002", "acc_000003", "acc_000004"}
    acme = a["acc_000001"]
    assert (acme["plan"], acme["employee_band"], acme["region"], acme["status"]) == ("enterprise", "51-200", "NA",
                                                                                     "active")
    assert (acme["mrr"], acme["seats"], acme["signup_date"]) == (1250.0, 50, date(2024, 3, 1))
    assert (acme["account_manager_id"], acme["account_manager_email"]) == ("005A1", "ann.lee@example.com")
    assert (a["acc_000002"]["plan"], a["acc_000002"]["status"], a["acc_000002"]["region"]) == ("business", "active",
                                                                                               "EMEA")
    assert (a["acc_000003"]["status"], a["acc_000003"]["employee_band"]) == ("churned", "5000+")  # IsDeleted
    assert a["acc_000004"]["status"] == "churned"  # Status__c
    assert quarantined(accounts) == {"acc_000005": "out_of_domain:plan"}

    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["sources"]["crm_accounts"]["rejected"] == 1
    assert summary["weeks"] == ["2026-01-05"]
    assert "product_events: 10 in = 7 written + 2 rejected + 1 skipped" in report.summary()

    rejects = [json.loads(x) for p in sorted((tmp_path / "import_rejects").glob("*.jsonl"))
               for x in p.read_text().splitlines()]
    assert sorted((r["file"], r["row"], r["reason"]) for r in rejects) == [
        ("salesforce/Account_export.csv", 7, "malformed_line"),
        ("segment/tracks.jsonl", 7, "malformed_line"),
        ("segment/tracks_export.csv", 4, "cast_error:event_ts"),
        ("zendesk/tickets.json", 6, "cast_error:updated_at"),
    ]


def test_amplitude_hubspot_intercom(tmp_path: Path):
    report = import_exports(load_mapping(FIXTURES / "stack_b.yaml"), FIXTURES, tmp_path, week_start=WEEK, now=NOW)
    assert report.reconciled

    ev = report.sources["product_events"]
    assert (ev.rows_in, ev.written, ev.rejected, ev.skipped) == (6, 4, 1, 1)
    assert ev.reasons == {"malformed_line": 1, "unmapped_event_type": 1}
    events = load("product_events", tmp_path)
    assert events.quarantine.empty
    rows = by_key(events.rows, "event_id")
    # Amplitude's naive event_time is UTC; uuid stands in when $insert_id is missing
    assert rows["amp-1"]["event_ts"] == utc("2026-01-05 10:00:00.123")
    assert rows["amp-1"]["event_type"] == "login"
    assert rows["amp-1"]["account_id"] == "acc_000001"  # groups.account is a list
    assert (rows["9f0c-2"]["account_id"], rows["9f0c-2"]["feature_name"]) == ("acc_000002", "workflows")
    assert rows["amp-3"]["event_ts"] == utc("2026-01-07 23:59:59.999")
    assert rows["amp-3"]["source_file"] == "product_events/events_2026-01-07.parquet"
    assert rows["amp-5"]["event_type"] == "feature_use"
    if get_contract("product_events").column("feature_name").allowed is None:  # open vocabulary: kept verbatim
        assert rows["amp-5"]["feature_name"] == "Billing Page"
        assert ev.coerced == {}
    else:
        assert pd.isna(rows["amp-5"]["feature_name"])
        assert ev.coerced == {"unmapped_to_null:feature_name": 1}

    accounts = load("crm_accounts", tmp_path)
    a = by_key(accounts.rows, "account_id")
    assert (a["acc_000001"]["status"], a["acc_000001"]["employee_band"], a["acc_000001"]["region"]) == (
        "active", "11-50", "NA")
    assert a["acc_000001"]["signup_date"] == date(2024, 3, 1)
    assert (a["acc_000002"]["status"], a["acc_000002"]["mrr"], a["acc_000002"]["region"]) == ("churned", 2000.0,
                                                                                              "LATAM")
    assert a["acc_000003"]["status"] == "churned"  # "Former Customer"
    assert (a["acc_000005"]["plan"], a["acc_000005"]["account_manager_id"]) == ("enterprise", "Cy Diaz")
    assert quarantined(accounts) == {"acc_000004": "cast_error:seats"}
    assert any("seats" in w and "'ten'" in w for w in report.sources["crm_accounts"].warnings)

    tk = report.sources["support_tickets"]
    assert (tk.rows_in, tk.written, tk.rejected) == (5, 4, 1)
    assert tk.reasons == {"null_key:updated_at": 1}
    tickets = load("support_tickets", tmp_path)
    t = by_key(tickets.rows, "ticket_id")
    assert (t["5001"]["priority"], t["5001"]["category"], t["5001"]["status"]) == ("P2", "bug", "open")
    assert t["5001"]["created_at"] == utc("2026-01-05 10:00")  # epoch seconds
    assert (t["5002"]["status"], t["5002"]["category"], t["5002"]["csat"]) == ("closed", "how_to", 4)
    assert t["5002"]["resolved_at"] == utc("2026-01-07 09:30")
    assert (t["5003"]["status"], t["5003"]["priority"]) == ("pending", "P3")
    assert quarantined(tickets) == {"5004": "null_key:account_id"}


def test_mixpanel_epochs_and_weeks(tmp_path: Path):
    config = load_mapping(FIXTURES / "mixpanel.yaml")
    report = import_exports(config, FIXTURES, tmp_path, now=NOW)
    ev = report.sources["product_events"]
    assert (ev.rows_in, ev.written) == (5, 5)
    assert report.weeks == [date(2025, 12, 29), WEEK]  # one event belongs to the previous week
    assert (tmp_path / "product_events/events_2026-01-01.parquet").exists()
    events = load("product_events", tmp_path)
    rows = by_key(events.rows, "event_id")
    assert rows["mp-1"]["event_ts"] == utc("2026-01-05 10:00")  # epoch seconds
    assert rows["mp-2"]["event_ts"] == utc("2026-01-06 12:00")  # epoch milliseconds
    assert rows["mp-2"]["feature_name"] == "ai_assistant"
    assert rows["mp-4"]["event_type"] == "export"
    assert pd.isna(rows["mp-4"]["feature_name"])
    derived = [k for k in rows if k.startswith("evt_")]
    assert len(derived) == 1
    assert rows[derived[0]]["feature_name"] == "integrations"
    assert ev.coerced == {"derived:event_id": 1}

    again = tmp_path / "again"
    report = import_exports(config, FIXTURES, again, week_start=WEEK, now=NOW)
    assert report.sources["product_events"].reasons == {"outside_week": 1}
    assert not (again / "product_events/events_2026-01-01.parquet").exists()
    assert derived[0] in set(load("product_events", again).rows["event_id"])  # same id on every import


def test_naive_local_times_convert_to_utc(tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "events.csv").write_text(
        "id,account,user,name,at\n"
        "e1,acc_1,u1,login,2026-01-05 22:00:00\n"  # 22:00 New York = 03:00 UTC next day
        "e2,acc_1,u1,export,07/01/2026 09:00\n",
        encoding="utf-8",
    )
    spec = {
        "input": "*.csv", "time_zone": "America/New_York",
        "columns": {"event_id": "id", "account_id": "account", "user_id": "user", "event_type": "name",
                    "event_ts": "at"},
    }
    import_exports(parse_mapping({"product_events": spec}), exports, tmp_path / "landing", now=NOW)
    rows = by_key(load("product_events", tmp_path / "landing").rows, "event_id")
    assert rows["e1"]["event_ts"] == utc("2026-01-06 03:00")
    assert rows["e1"]["source_file"] == "product_events/events_2026-01-06.parquet"
    assert "e2" not in rows  # not ISO: rejected at import unless formats says how to read it

    config = parse_mapping({"product_events": {**spec, "formats": {"event_ts": "%d/%m/%Y %H:%M"}}})
    report = import_exports(config, exports, tmp_path / "landing2", now=NOW)
    assert report.sources["product_events"].written == 1  # the format only applies to the second row's shape
    assert report.sources["product_events"].reasons == {"cast_error:event_ts": 1}


def test_dates_are_taken_in_the_source_time_zone(tmp_path: Path):
    config = parse_mapping({"crm_accounts": {"preset": "salesforce", "input": "salesforce/*.csv",
                                             "time_zone": "Europe/Berlin", "values": {"plan": {"Pro": "business"}}}})
    import_exports(config, FIXTURES, tmp_path, week_start=WEEK, now=NOW)
    a = by_key(load("crm_accounts", tmp_path).rows, "account_id")
    assert a["acc_000002"]["signup_date"] == date(2025, 6, 16)  # 2025-06-15T23:30Z is already the 16th in Berlin


def test_implausible_timestamps_are_rejected_not_filed_in_1970(tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = [{"event": "Logged In", "properties": {"time": t, "distinct_id": "u1", "$insert_id": f"mp-{i}",
                                                   "account_id": "acc_1"}}
             for i, t in enumerate([0, 1767607200, 1767607200 + 86_400 * 365])]
    (exports / "e.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    config = parse_mapping({"product_events": {"preset": "mixpanel", "input": "*.jsonl"}})
    report = import_exports(config, exports, tmp_path / "landing", now=NOW)
    ev = report.sources["product_events"]
    assert (ev.written, ev.rejected, ev.reasons) == (1, 2, {"ts_out_of_range": 2})
    assert [p.name for p in (tmp_path / "landing" / "product_events").iterdir()] == ["events_2026-01-05.parquet"]


def test_reimport_is_byte_identical(tmp_path: Path):
    config = load_mapping(FIXTURES / "stack_a.yaml")
    import_exports(config, FIXTURES, tmp_path / "a", week_start=WEEK, now=NOW)
    import_exports(config, FIXTURES, tmp_path / "b", week_start=WEEK, now=NOW)
    import_exports(config, FIXTURES, tmp_path / "b", week_start=WEEK, now=NOW)
    first, second = landing_files(tmp_path / "a"), landing_files(tmp_path / "b")
    assert first == second
    assert len(first) == 8  # 3 event days, 1 CRM, 1 tickets, 3 rejects


def test_gzip_exports_and_stale_rejects(tmp_path: Path):
    exports = tmp_path / "exports"
    (exports / "segment").mkdir(parents=True)
    data = (FIXTURES / "segment" / "tracks.jsonl").read_bytes()
    (exports / "segment" / "tracks.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
    config = parse_mapping({"product_events": {"preset": "segment", "input": "segment/*.gz"}})
    report = import_exports(config, exports, tmp_path / "landing", week_start=WEEK, now=NOW)
    ev = report.sources["product_events"]
    assert (ev.rows_in, ev.written, ev.rejected) == (7, 6, 1)  # "Page Viewed" is kept (not ignored here)
    assert ev.rejects_file == "import_rejects/product_events.jsonl"

    (exports / "segment" / "tracks.jsonl.gz").write_bytes(gzip.compress(data.splitlines(keepends=True)[0]))
    report = import_exports(config, exports, tmp_path / "landing", week_start=WEEK, now=NOW)
    assert report.sources["product_events"].rejects_file is None
    assert not (tmp_path / "landing" / "import_rejects" / "product_events.jsonl").exists()


def test_crm_snapshot_week(tmp_path: Path):
    crm_only = parse_mapping({"crm_accounts": {"preset": "hubspot", "input": "hubspot/*.csv",
                                               "columns": {"account_id": "Account ID"}}})
    with pytest.raises(MappingError, match="cannot tell which week the snapshot belongs to"):
        import_exports(crm_only, FIXTURES, tmp_path, now=NOW)
    report = import_exports(load_mapping(FIXTURES / "stack_b.yaml"), FIXTURES, tmp_path, now=NOW)
    # without week_start the snapshot joins the latest week of the activity imported with it
    assert report.sources["crm_accounts"].files_written == ["crm_accounts/accounts_2026-01-05.csv"]


def test_input_may_not_leave_the_import_dir(tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(FIXTURES / "mixpanel" / "export.jsonl", outside / "export.jsonl")
    (exports / "link.jsonl").symlink_to(outside / "export.jsonl")
    config = parse_mapping({"product_events": {"preset": "mixpanel", "input": "*.jsonl"}})
    with pytest.raises(MappingError, match="outside the import directory"):
        import_exports(config, exports, tmp_path / "landing", now=NOW)


def test_written_parquet_matches_the_contract_types(tmp_path: Path):
    import_exports(load_mapping(FIXTURES / "mixpanel.yaml"), FIXTURES, tmp_path, now=NOW)
    schema = pq.read_schema(tmp_path / "product_events/events_2026-01-05.parquet")
    assert str(schema.field("event_ts").type) == "timestamp[us, tz=UTC]"
    assert schema.names == ["event_id", "account_id", "user_id", "event_type", "feature_name", "event_ts"]


# ------------------------------------------------------------------------------------------ config errors


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    path = tmp_path / "mappings.yaml"
    path.write_text("product_events:\n  preset: segment\n  input: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert str(path) in str(err.value)
    assert "invalid YAML (line" in str(err.value)


def test_missing_file_is_a_mapping_error(tmp_path: Path):
    with pytest.raises(MappingError, match="cannot read mapping file"):
        load_mapping(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"tickets": {}}, "tickets: unknown source"),
        ({"product_events": {"preset": "segment"}}, "product_events.input: required"),
        ({"product_events": {"preset": "segmant", "input": "*"}}, "unknown preset 'segmant'; expected one of "
                                                                  "amplitude, mixpanel, segment"),
        ({"product_events": {"preset": "zendesk", "input": "*"}}, "preset 'zendesk' maps support_tickets"),
        ({"product_events": {"preset": "segment", "input": "*", "colums": {}}}, "product_events.colums: unknown key"),
        ({"product_events": {"preset": "segment", "input": "*", "event_types": {"Signed In": "signin"}}},
         "product_events.event_types.Signed In: 'signin' is not an event type"),
        ({"product_events": {"preset": "segment", "input": "*", "event_types": {"X": "feature_use:nope"}}},
         "'feature_use:nope' is not an event type"),
        ({"product_events": {"preset": "segment", "input": "../elsewhere/*"}}, "must be relative and stay inside"),
        ({"product_events": {"preset": "segment", "input": "*", "time_zone": "Mars/Olympus"}},
         "product_events.time_zone: unknown time zone"),
        ({"product_events": {"input": "*", "columns": {"event_id": "id"}}},
         "product_events.columns.account_id: required contract column has no mapping"),
        ({"support_tickets": {"preset": "zendesk", "input": "*", "values": {"priority": {"urgent": "P0"}}}},
         "support_tickets.values.priority.urgent: 'P0' is not a valid priority"),
        ({"support_tickets": {"preset": "zendesk", "input": "*", "columns": {"sla": "sla_policy"}}},
         "support_tickets.columns.sla: unknown contract column 'sla'"),
        ({"crm_accounts": {"preset": "hubspot", "input": "*", "event_types": {}}},
         "crm_accounts.event_types: only applies to product_events"),
        ({"crm_accounts": {"preset": "hubspot", "input": "*", "formats": {"plan": "%Y"}}},
         "crm_accounts.formats.plan: a strptime format"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, doc: dict, message: str):
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_documented_example_loads():
    config = load_mapping(EXAMPLE)
    assert set(config.sources) == {"product_events", "crm_accounts", "support_tickets"}
    assert config.sources["support_tickets"].values["priority"]["urgent"] == "P1"
