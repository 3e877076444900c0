"""Joins across export files, daily usage with an open feature vocabulary, per-ticket exports, and their errors."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from seg_pipeline.cli import main
from seg_pipeline.sources.mappings import MappingError, import_exports, load_mapping, parse_mapping
from seg_pipeline.sources.mappings.kinds import KindClassifier
from seg_pipeline.sources.mappings.model import KindRule
from seg_pipeline.sources.mappings.rows import MappedRow
from seg_pipeline.sources.mappings.tickets import expand_ticket, in_window

SHAPE_B = Path(__file__).parent / "fixtures" / "shape_b"
SPARSE = Path(__file__).resolve().parents[2] / "docs" / "mappings" / "sparse.yaml"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
USAGE = {"input": "usage/*.csv", "columns": {"usage_date": "day", "account_id": "account", "feature_name": "feature",
                                             "usage_count": "n"}}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(doc: object) -> str:
    with pytest.raises(MappingError) as err:
        parse_mapping(doc, origin="m.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert "Error" not in message  # no class names
    return message.removeprefix("m.yaml: ")


# ------------------------------------------------------------------------------------------ feature kinds


def test_feature_kinds_exact_names_win_then_patterns_in_order_else_feature_use():
    kinds = KindClassifier([
        KindRule("export", "*Export*"), KindRule("api_call", "re:\\bapi\\b"), KindRule("login", "session start"),
        KindRule("feature_use", "API Export Settings"),
    ])
    assert kinds.kind_of("Session Start") == "login"  # exact, case-insensitive
    assert kinds.kind_of("CSV Export") == "export"  # glob on the whole name
    assert kinds.kind_of("Public API Access") == "api_call"  # regex searches anywhere
    assert kinds.kind_of("Rapid Mode") == "feature_use"  # \b keeps "api" inside a word from matching
    assert kinds.kind_of("API Export Settings") == "feature_use"  # an exact rule beats both patterns
    assert kinds.kind_of("Exporter") == "export"
    assert kinds.kind_of("Dashboard View") == "feature_use"


def test_usage_keeps_every_feature_name_and_reports_names_per_kind(tmp_path: Path):
    names = [f"Feature {i:02d}" for i in range(40)] + ["Session Start", "CSV Export", "API Access"]
    rows = "".join(f"2026-01-0{5 + i % 3},acc_{i % 4},{name},{i},{i * 1.5}\n" for i, name in enumerate(names))
    write(tmp_path / "usage/jan.csv", "day,account,feature,n,secs\n" + rows)
    doc = {"product_usage": {**USAGE, "columns": {**USAGE["columns"], "duration_seconds": "secs"},
                             "feature_kinds": {"login": ["Session Start"], "export": ["*Export"],
                                               "api_call": ["API *"]}}}
    report = import_exports(parse_mapping(doc), tmp_path, tmp_path / "landing", now=NOW)
    usage = report.sources["product_usage"]
    assert usage.reconciled
    assert (usage.rows_in, usage.written) == (43, 43)
    assert {k: len(v) for k, v in usage.feature_kinds.items()} == {
        "feature_use": 40, "login": 1, "export": 1, "api_call": 1}
    assert "feature names per event_type: api_call 1, export 1, feature_use 40, login 1" in report.summary()
    landed = [r for p in sorted((tmp_path / "landing/product_usage").iterdir()) for r in pq.read_table(p).to_pylist()]
    assert sorted(r["feature_name"] for r in landed) == sorted(names)
    assert {r["usage_date"] for r in landed} == {date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)}


def test_usage_rows_that_cannot_be_placed_are_rejected_and_odd_numbers_reach_the_loader(tmp_path: Path):
    write(tmp_path / "usage/a.csv", "day,account,feature,n\n2026-01-05,acc_1,Search,3\nnot a day,acc_1,Search,1\n"
                                    "1999-12-31,acc_1,Search,1\n2026-01-05,acc_2,Search,lots\n")
    report = import_exports(parse_mapping({"product_usage": USAGE}), tmp_path, tmp_path / "landing", now=NOW)
    usage = report.sources["product_usage"]
    assert usage.reasons == {"cast_error:usage_date": 1, "ts_out_of_range": 1}
    assert (usage.written, usage.rejected) == (2, 2)
    table = pq.read_table(tmp_path / "landing/product_usage/usage_2026-01-05.parquet")
    assert str(table.schema.field("usage_count").type) == "string"  # "lots" kept verbatim: the loader's cast_error
    assert any("usage_count" in w for w in usage.warnings)


# ------------------------------------------------------------------------------------------ joins


def test_a_join_takes_the_account_from_another_export_and_rejects_unknown_keys(tmp_path: Path):
    write(tmp_path / "subs.csv", "sub,acct\ns1,acc_1\ns2,acc_2\n")
    write(tmp_path / "usage/a.csv", "day,sub,feature,n\n2026-01-05,s1,Search,3\n2026-01-05,s9,Search,1\n")
    write(tmp_path / "usage/b.csv", "day,sub,feature,n\n2026-01-06,s2,Search,2\n2026-01-06,,Search,2\n")
    columns = {k: v for k, v in USAGE["columns"].items() if k != "account_id"}
    doc = {"lookups": {"subs": {"input": "subs.csv", "key": "sub"}},
           "product_usage": {**USAGE, "columns": columns,
                             "joins": {"account_id": {"lookup": "subs", "via": "sub", "column": "acct"}}}}
    report = import_exports(parse_mapping(doc), tmp_path, tmp_path / "landing", now=NOW)
    usage = report.sources["product_usage"]
    assert usage.reconciled
    assert usage.reasons == {"unresolved_join:subs": 2}
    assert {f: dict(c) for f, c in usage.per_file.items()} == {
        "usage/a.csv": {"in": 2, "written": 1, "rejected": 1}, "usage/b.csv": {"in": 2, "written": 1, "rejected": 1}}
    rejects = [json.loads(line) for line in (tmp_path / "landing/import_rejects/product_usage.jsonl").open()]
    assert [(r["file"], r["row"], r["reason"]) for r in rejects] == [
        ("usage/a.csv", 3, "unresolved_join:subs"), ("usage/b.csv", 3, "unresolved_join:subs")]
    day5 = pq.read_table(tmp_path / "landing/product_usage/usage_2026-01-05.parquet").to_pylist()
    assert [r["account_id"] for r in day5] == ["acc_1"]


def test_two_subscriptions_of_one_account_add_up_instead_of_conflicting(tmp_path: Path):
    write(tmp_path / "subs.csv", "sub,acct\ns1,acc_1\ns2,acc_1\n")
    write(tmp_path / "usage/a.csv", "day,sub,feature,n,secs,users\n"
          "2026-01-05,s1,Search,3,60,2\n2026-01-05,s2,Search,4,,5\n2026-01-05,s2,Export,1,10,1\n"
          "2026-01-05,s1,Report,ten,,\n2026-01-05,s2,Report,2,,\n")
    columns = {**{k: v for k, v in USAGE["columns"].items() if k != "account_id"},
               "duration_seconds": "secs", "active_users": "users"}
    doc = {"lookups": {"subs": {"input": "subs.csv", "key": "sub"}},
           "product_usage": {**USAGE, "columns": columns,
                             "joins": {"account_id": {"lookup": "subs", "via": "sub", "column": "acct"}}}}
    report = import_exports(parse_mapping(doc), tmp_path, tmp_path / "landing", now=NOW)
    usage = report.sources["product_usage"]
    assert usage.reconciled
    assert usage.coerced["summed_same_account_day_feature"] == 1
    rows = pq.read_table(tmp_path / "landing/product_usage/usage_2026-01-05.parquet").to_pylist()
    by_feature = {(r["feature_name"], str(r["usage_count"])): r for r in rows}
    search = by_feature[("Search", "7")]  # 3 + 4 usages, 60 s + unknown, at least 5 distinct users
    assert (search["duration_seconds"], search["active_users"]) == (60, 5)
    # a count that did not parse is never folded: both rows reach the loader, which quarantines the bad one
    assert sorted(k for k in by_feature if k[0] == "Report") == [("Report", "2"), ("Report", "ten")]
    assert len(rows) == 4


@pytest.mark.parametrize(
    ("subs", "join", "expected"),
    [
        ("sub,acct\ns1,acc_1\n", {"column": "account"},
         "product_usage.joins.account_id.column: lookup 'subs' has no column 'account'; use one of sub, acct"),
        ("id,acct\ns1,acc_1\n", {}, "lookups.subs.key: subs.csv has no column 'sub'; set key to one of id, acct"),
        ("sub,acct\ns1,acc_1\ns1,acc_2\n", {},
         "lookups.subs: key 's1' has two different rows (subs.csv row 2 and subs.csv row 3); a join needs one row "
         "per key, so de-duplicate the export"),
    ],
)
def test_join_errors_name_the_file_and_the_key(tmp_path: Path, subs: str, join: dict, expected: str):
    write(tmp_path / "subs.csv", subs)
    write(tmp_path / "usage/a.csv", "day,sub,feature,n\n2026-01-05,s1,Search,3\n")
    columns = {k: v for k, v in USAGE["columns"].items() if k != "account_id"}
    doc = {"lookups": {"subs": {"input": "subs.csv", "key": "sub"}},
           "product_usage": {**USAGE, "columns": columns,
                             "joins": {"account_id": {"lookup": "subs", "via": "sub", "column": "acct", **join}}}}
    with pytest.raises(MappingError) as err:
        import_exports(parse_mapping(doc), tmp_path, tmp_path / "landing", now=NOW)
    assert str(err.value) == expected


# ------------------------------------------------------------------------------------------ per-ticket exports


def ticket(created: str, resolved: str | None, csat: int | None) -> MappedRow:
    ts = datetime.fromisoformat(created)
    values = {"ticket_id": "t1", "account_id": "a", "created_at": ts, "updated_at": ts, "priority": "P2",
              "category": "bug", "status": "open", "csat": csat,
              "resolved_at": None if resolved is None else datetime.fromisoformat(resolved)}
    return MappedRow(values, ts)


def test_a_resolved_ticket_becomes_an_open_row_and_a_solved_row_with_the_score():
    rows, coerced = expand_ticket(ticket("2026-01-05T10:00+00:00", "2026-01-13T09:00+00:00", 4), NOW)
    assert [(r.values["status"], r.values["updated_at"].day, r.values["resolved_at"], r.values["csat"])
            for r in rows] == [("open", 5, None, None), ("solved", 13, rows[1].placed, 4)]
    assert coerced == []
    window = (datetime(2026, 1, 12, tzinfo=UTC), datetime(2026, 1, 19, tzinfo=UTC))
    assert [r.values["status"] for r in in_window(rows, window)] == ["solved"]


def test_an_open_ticket_gives_one_row_and_a_score_without_resolution_is_dropped_and_counted():
    rows, coerced = expand_ticket(ticket("2026-01-05T10:00+00:00", None, 5), NOW)
    assert [(r.values["status"], r.values["csat"]) for r in rows] == [("open", None)]
    assert coerced == ["null_while_open:csat"]
    future, coerced = expand_ticket(ticket("2026-01-05T10:00+00:00", "2027-01-05T10:00+00:00", None), NOW)
    assert len(future) == 1
    assert coerced == ["no_solved_row:resolved_at_unreadable_or_future"]


# ------------------------------------------------------------------------------------------ mapping errors


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"product_usage": {**USAGE, "feature_kinds": {"logins": ["Session Start"]}}},
         "product_usage.feature_kinds.logins: 'logins' is not an event type; expected one of login, feature_use, "
         "api_call, export, invite"),
        ({"product_usage": {**USAGE, "feature_kinds": {"login": ["re:(unclosed"]}}},
         "product_usage.feature_kinds.login.0: 're:(unclosed' is not a valid regular expression (missing ), "
         "unterminated subpattern at position 0); fix or quote it"),
        ({"product_usage": {**USAGE, "columns": {**USAGE["columns"], "event_type": "kind"}}},
         "product_usage.columns.event_type: event_type is derived from feature_name through feature_kinds; "
         "remove it"),
        ({"product_usage": {**USAGE, "joins": {"account_id": {"lookup": "subs", "via": "s", "column": "a"}}}},
         "product_usage.joins.account_id.lookup: unknown lookup 'subs'; expected one of none is defined; add a "
         "top-level lookups section"),
        ({"lookups": {"subs": {"input": "s.csv"}}, "product_usage": USAGE},
         "lookups.subs.key: required; set it to the export column that identifies a row (e.g. subscription_id)"),
        ({"support_tickets": {"input": "t.csv", "one_row_per_ticket": True,
                              "columns": {"ticket_id": "id", "account_id": "a", "created_at": "c", "priority": "p",
                                          "status": "s"}}},
         "support_tickets.columns.status: status is derived from created_at and resolved_at when one_row_per_ticket "
         "is true; remove it"),
        ({"crm_accounts": {"input": "a.csv", "columns": {"account_id": "id", "account_manager_id": "o"},
                           "history": {"subscriptions": {"input": "s.csv", "id": "sid", "account": "a",
                                                         "start": "d", "columns": {"status": "st"}}}}},
         "crm_accounts.history.subscriptions.columns.status: status is not a history column (status comes from the "
         "accounts table or the churn events); remove it"),
        ({"crm_accounts": {"input": "a.csv", "columns": {"account_id": "id", "account_manager_id": "o"},
                           "history": {"subscriptions": {"input": "s.csv", "id": "sid", "account": "a", "start": "d",
                                                         "columns": {"plan": "p", "seats": "n", "mrr": "m"}},
                                       "changes": {"input": "c.csv", "date": "d"}}}},
         "crm_accounts.history.changes: set exactly one of subscription or account (the column that links a change "
         "to its subscription or account)"),
        ({"crm_accounts": {"input": "a.csv", "columns": {"account_id": "id", "account_manager_id": "o"},
                           "history": {"subscriptions": {"input": "s.csv", "id": "sid", "account": "a", "start": "d",
                                                         "columns": {"plan": "p", "seats": "n"}}}}},
         "crm_accounts.columns.mrr: required contract column has no mapping; set columns.mrr or defaults.mrr"),
    ],
)
def test_new_mapping_keys_are_validated_with_one_sentence_naming_the_key(doc: dict, expected: str):
    assert error_of(doc) == expected


def test_cli_errors_are_one_sentence_and_a_fix(tmp_path: Path):
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    out = runner.invoke(main, [*home, "import", str(SHAPE_B), "--mapping", str(SPARSE), "--week", "2023-01-10"])
    assert out.exit_code != 0
    assert "--week: week 2023-01-10 is a Tuesday; weeks start on Monday (try 2023-01-09)" in out.output
    assert "fix: pass the Monday" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"lookups": {"subscriptions": {"input": "nowhere/*.csv", "key": "id"}},
                                   **{k: v for k, v in yaml.safe_load(SPARSE.read_text()).items()
                                      if k == "product_usage"}}), encoding="utf-8")
    out = runner.invoke(main, [*home, "import", str(SHAPE_B), "--mapping", str(bad)])
    assert out.exit_code != 0
    assert "lookups.subscriptions.input: no export file matches 'nowhere/*.csv'" in out.output
    assert "MappingError" not in out.output
    assert "--debug" not in out.output


def test_the_docs_mapping_parses(tmp_path: Path):
    config = load_mapping(SPARSE)
    assert list(config.sources) == ["product_usage", "crm_accounts", "support_tickets"]
    assert config.sources["support_tickets"].one_row_per_ticket


def test_tickets_follow_the_weeks_with_product_activity(tmp_path: Path):
    write(tmp_path / "usage/a.csv", "day,account,feature,n\n2026-01-13,acc_1,Search,3\n")
    write(tmp_path / "t.csv", "id,account,created,resolved,prio\n"
                              "t1,acc_1,2026-01-06T10:00:00Z,2026-01-14T10:00:00Z,High\n"  # open before, solved inside
                              "t2,acc_1,2026-01-05T10:00:00Z,2026-01-07T10:00:00Z,High\n"  # over before the weeks
                              "t3,acc_1,2026-01-13T10:00:00Z,,High\n"  # inside
                              "t4,acc_1,2026-01-20T10:00:00Z,,High\n"  # after the last week of usage
                              "t5,acc_1,2026-01-06T10:00:00Z,,High\n")  # still open when the weeks start
    doc = {"product_usage": USAGE,
           "support_tickets": {"input": "t.csv", "one_row_per_ticket": True, "columns": {
               "ticket_id": "id", "account_id": "account", "created_at": "created", "resolved_at": "resolved",
               "priority": "prio"}, "values": {"priority": {"High": "P2"}}}}
    report = import_exports(parse_mapping(doc), tmp_path, tmp_path / "landing", now=NOW)
    assert report.weeks == [date(2026, 1, 12)]
    tickets = report.sources["support_tickets"]
    assert tickets.reconciled
    assert (tickets.written, tickets.skipped, tickets.rows_out) == (3, 2, 4)
    assert tickets.reasons == {"before_activity": 1, "after_activity": 1}
    assert tickets.coerced["carried_into_first_week"] == 2
    lines = [json.loads(line) for line in (tmp_path / "landing/support_tickets/tickets_2026-01-12.jsonl").open()]
    assert [(t["ticket_id"], t["status"], t["created_at"][:10], t["updated_at"]) for t in lines] == [
        ("t1", "open", "2026-01-06", "2026-01-12T00:00:00+00:00"),
        ("t5", "open", "2026-01-06", "2026-01-12T00:00:00+00:00"),
        ("t3", "open", "2026-01-13", "2026-01-13T10:00:00+00:00"),
        ("t1", "solved", "2026-01-06", "2026-01-14T10:00:00+00:00")]
