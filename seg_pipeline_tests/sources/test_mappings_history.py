"""CRM history → weekly snapshots: the as-of rules as pure functions, then shape-B exports end to end."""

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import main
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.stage import run_week
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.sources.mappings import import_exports, load_mapping
from seg_pipeline.sources.mappings.crm_history import (
    CHURN,
    START,
    Interval,
    StateTimeline,
    lifetimes,
    status_in_week,
    week_range,
)
from seg_pipeline.warehouse.engine import Warehouse

SHAPE_B = Path(__file__).parent / "fixtures" / "shape_b"
SPARSE = Path(__file__).resolve().parents[2] / "docs" / "mappings" / "sparse.yaml"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
W0, W1, W2, W3 = date(2022, 12, 26), date(2023, 1, 2), date(2023, 1, 9), date(2023, 1, 16)


def d(text: str) -> date:
    return date.fromisoformat(text)


# ------------------------------------------------------------------------------------------ as-of rules


@pytest.mark.parametrize(
    ("start", "week", "expected"),
    [
        ("2023-01-08", W1, "active"),  # a Sunday start is in that week's end-of-week snapshot
        ("2023-01-09", W1, None),  # a Monday start belongs to the next week only
        ("2023-01-09", W2, "active"),
    ],
)
def test_an_account_appears_from_the_week_it_starts(start: str, week: date, expected: str | None):
    assert status_in_week(lifetimes([(d(start), START)]), week) == expected


def test_a_churned_account_stays_churned_for_its_churn_week_then_disappears():
    intervals = lifetimes([(d("2022-12-20"), START), (d("2023-01-12"), CHURN)])
    assert [status_in_week(intervals, w) for w in (W0, W1, W2, W3)] == ["active", "active", "churned", None]


def test_an_end_date_and_a_churn_event_for_the_same_loss_count_once():
    # end_date 2023-01-12 and a churn event a week later: the second must not resurrect the account as churned
    intervals = lifetimes([(d("2023-01-02"), START), (d("2023-01-12"), CHURN), (d("2023-01-18"), CHURN)])
    assert intervals == [Interval(d("2023-01-02"), d("2023-01-12"))]
    assert status_in_week(intervals, W3) is None


def test_a_replacement_subscription_on_the_churn_day_keeps_the_account_active():
    intervals = lifetimes([(d("2023-01-02"), START), (d("2023-01-10"), START), (d("2023-01-10"), CHURN)])
    assert [status_in_week(intervals, w) for w in (W1, W2, W3)] == ["active", "active", "active"]


def test_a_reactivated_account_comes_back_and_wins_over_a_churn_in_the_same_week():
    events = [(d("2023-01-02"), START), (d("2023-01-03"), CHURN), (d("2023-01-05"), START)]
    assert status_in_week(lifetimes(events), W1) == "active"
    gone_then_back = lifetimes([(d("2022-12-27"), START), (d("2022-12-28"), CHURN), (d("2023-01-10"), START)])
    assert [status_in_week(gone_then_back, w) for w in (W0, W1, W2)] == ["churned", None, "active"]


def test_state_as_of_a_week_end_takes_changes_before_it_and_keeps_blank_values():
    timeline = StateTimeline([
        (d("2023-01-02"), 0, {"plan": "Starter", "seats": "5"}),
        (d("2023-01-08"), 1, {"plan": "Growth", "seats": ""}),  # blank: seats unchanged
        (d("2023-01-16"), 1, {"seats": "9"}),
        (d("2023-01-16"), 0, {"plan": "Business", "seats": "7"}),  # same day: order 0 first, the change wins
    ])
    assert timeline.as_of(d("2023-01-02")) == (-1, {})
    assert timeline.as_of(W1 + (W2 - W1)) == (1, {"plan": "Growth", "seats": "5"})
    assert timeline.as_of(W3) == (1, {"plan": "Growth", "seats": "5"})  # a Monday change is next week's
    assert timeline.as_of(d("2023-01-23"))[1] == {"plan": "Business", "seats": "9"}


def test_week_range_covers_every_monday_between_the_weeks_of_two_days():
    assert week_range(d("2022-12-30"), d("2023-01-17")) == [W0, W1, W2, W3]
    assert week_range(d("2023-01-17"), d("2023-01-02")) == []


# ------------------------------------------------------------------------------------------ shape B end to end


def snapshot(landing: Path, week: date) -> dict[str, dict[str, str]]:
    with (landing / f"crm_accounts/accounts_{week}.csv").open(encoding="utf-8") as f:
        return {r["account_id"]: r for r in csv.DictReader(f)}


def test_seg_import_of_shape_b_exports_then_load_a_week_into_duckdb(tmp_path: Path):
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["--home", str(home), "import", str(SHAPE_B), "--mapping", str(SPARSE)])
    assert result.exit_code == 0, result.output
    assert "product_usage: 11 in = 10 written + 1 rejected + 0 skipped" in result.output
    assert "feature_usage/usage_2023-01.csv: 10 in = 9 + 1 + 0" in result.output
    assert "crm_accounts: 14 in = 12 written + 2 rejected + 0 skipped" in result.output
    assert "next: seg run --all   (4 week(s) landed: 2022-12-26 .. 2023-01-16)" in result.output
    landing = home / "landing"

    # one snapshot per week from the first to the last week of the activity, as of each week's end
    assert [sorted(snapshot(landing, w)) for w in (W0, W1, W2, W3)] == [
        ["acc_004"], ["acc_001", "acc_002", "acc_004"], ["acc_001", "acc_002", "acc_003", "acc_004"],
        ["acc_001", "acc_002", "acc_003"]]
    w1, w2, w3 = snapshot(landing, W1), snapshot(landing, W2), snapshot(landing, W3)
    assert (w1["acc_001"]["plan"], w1["acc_001"]["seats"], w1["acc_001"]["mrr"]) == ("growth", "8", "640")  # Sunday
    assert (w2["acc_002"]["seats"], w3["acc_002"]["seats"]) == ("10", "12")  # the Monday change is W3's
    assert (w1["acc_004"]["status"], w2["acc_004"]["status"]) == ("active", "churned")
    assert (w2["acc_003"]["employee_band"], w2["acc_003"]["region"], w2["acc_003"]["plan"]) == (
        "1001-5000", "APAC", "business")

    # usage: verbatim feature names, kinds from the rules, the account from the subscriptions join
    table = pq.read_table(landing / "product_usage/usage_2023-01-03.parquet")
    assert [str(t) for t in table.schema.types] == ["string", "date32[day]", "string", "string", "int64",
                                                    "double", "int64"]
    rows = {r["feature_name"]: r for r in table.to_pylist()}
    assert rows["API Access"]["account_id"] == "acc_001"
    assert (rows["API Access"]["event_type"], rows["CSV Export"]["event_type"]) == ("api_call", "export")
    assert rows["API Access"]["duration_seconds"] is None
    rejects = (landing / "import_rejects/product_usage.jsonl").read_text(encoding="utf-8")
    assert '"unresolved_join:subscriptions"' in rejects
    assert "sub_999999" in rejects

    warehouse = Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb")
    config = IngestConfig(landing_dir=landing)
    sources = ["crm_accounts", "support_tickets"] + (["product_usage"] if "product_usage" in CONTRACTS else [])
    for source in sources:
        stage, _ = run_week(source, W2, warehouse, config)
        assert all(check.passed for check in stage.checks), (source, stage.checks)
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        crm = con.execute("SELECT account_id, status, plan, seats FROM raw.crm_accounts ORDER BY 1").fetchall()
        tickets = con.execute("SELECT ticket_id, status, csat FROM raw.support_tickets ORDER BY 1, 2").fetchall()
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()
    assert crm == [("acc_001", "active", "growth", 8), ("acc_002", "active", "growth", 10),
                   ("acc_003", "active", "business", 50), ("acc_004", "churned", "starter", 3)]
    assert tickets == [("tkt_0002", "solved", 5)]  # opened in W1, solved in W2 with its satisfaction score
    assert quarantined == (0,)


def test_importing_one_week_writes_only_its_snapshot_and_counts_the_rest(tmp_path: Path):
    report = import_exports(load_mapping(SPARSE), SHAPE_B, tmp_path, week_start=W2, now=NOW)
    assert report.reconciled
    assert report.weeks == [W2]
    assert sorted(p.name for p in (tmp_path / "crm_accounts").iterdir()) == ["accounts_2023-01-09.csv"]
    usage = report.sources["product_usage"]
    assert (usage.written, usage.rejected, usage.skipped) == (1, 1, 9)
    tickets = report.sources["support_tickets"]
    # tkt_0002's solved row falls in W2; the other tickets have no update in it
    assert (tickets.written, tickets.skipped, tickets.rows_out) == (1, 3, 1)
    crm = report.sources["crm_accounts"]
    assert (crm.written, crm.rejected, crm.skipped, crm.rows_out) == (12, 2, 0, 4)


def test_a_history_only_import_spans_its_own_dates(tmp_path: Path):
    doc = load_mapping(SPARSE)
    crm_only = type(doc)(sources={"crm_accounts": doc.sources["crm_accounts"]}, lookups=doc.lookups)
    report = import_exports(crm_only, SHAPE_B, tmp_path, now=NOW)
    crm = report.sources["crm_accounts"]
    assert report.weeks[0] == date(2022, 12, 19)  # acc_004's subscription started 2022-12-20
    assert report.weeks[-1] == W3  # the last dated event: the renewal on 2023-01-17
    assert crm.reconciled
    assert set(crm.per_file) == {"accounts.csv", "subscriptions.csv", "subscription_events.csv", "churn_events.csv"}


def test_accounts_outside_the_imported_weeks_are_skipped_and_counted(tmp_path: Path):
    report = import_exports(load_mapping(SPARSE), SHAPE_B, tmp_path, week_start=W0, now=NOW)
    crm = report.sources["crm_accounts"]
    # only acc_004 exists in W0: the other accounts' rows (static + subscriptions + changes) are outside it
    assert crm.reasons["outside_weeks"] == 3 + 3 + 3
    assert crm.reconciled
    assert sorted(snapshot(tmp_path, W0)) == ["acc_004"]


def test_a_rerun_rewrites_the_same_landing_files_byte_for_byte(tmp_path: Path):
    def files() -> dict[str, bytes]:
        return {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    config = load_mapping(SPARSE)
    first = import_exports(config, SHAPE_B, tmp_path, now=NOW)
    before = files()
    second = import_exports(config, SHAPE_B, tmp_path, now=NOW)
    assert files() == before
    assert first.to_dict() == second.to_dict()
    assert len(before) == 4 + 6 + 3 + 2  # snapshots, usage days, ticket weeks, two rejects files


def test_the_history_mapping_is_the_sparse_mapping():
    history = SPARSE.with_name("history.yaml")
    assert load_mapping(history).sources == load_mapping(SPARSE).sources
    assert history.read_text(encoding="utf-8").endswith(SPARSE.read_text(encoding="utf-8"))
