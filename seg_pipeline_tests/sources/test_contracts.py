"""The contract table itself: shape matches docs/contracts.md, partition keys are validated strictly."""

from datetime import date
from pathlib import Path

import pytest

from seg_pipeline.sources.contracts import (
    CONTRACTS,
    LINEAGE_COLUMNS,
    SOURCES,
    Column,
    ContractError,
    get_contract,
)
from seg_pipeline.sources.landing import load_week, week_files

DOCS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def test_every_source_has_a_contract_in_its_own_folder():
    assert set(CONTRACTS) == set(SOURCES)
    for source, contract in CONTRACTS.items():
        assert contract.source == source
        assert contract.file_glob.startswith(f"{source}/")
        assert contract.file_glob.count("*") == 1
        assert set(contract.key) <= set(contract.names)
        assert set(contract.null_key_columns) <= set(contract.names)
        if contract.ts_column:
            assert contract.column(contract.ts_column).dtype == "TIMESTAMPTZ"


def test_crm_columns_match_the_documented_order():
    documented = (
        "account_id, account_name, industry, employee_band, region, plan, seats, mrr, signup_date, renewal_date, "
        "account_manager_id, account_manager_name, account_manager_email, status"
    )
    assert documented in " ".join(DOCS.read_text().split())
    assert ", ".join(CONTRACTS["crm_accounts"].names) == documented


def test_event_and_ticket_columns_are_the_documented_ones():
    assert CONTRACTS["product_events"].names == (
        "event_id", "account_id", "user_id", "event_type", "feature_name", "event_ts",
    )
    assert CONTRACTS["support_tickets"].names == (
        "ticket_id", "account_id", "created_at", "updated_at", "resolved_at", "priority", "category", "status", "csat",
    )
    text = DOCS.read_text()
    for name in CONTRACTS["support_tickets"].names:
        assert name in text


def test_file_name_and_raw_columns():
    events = get_contract("product_events")
    assert events.file_name(date(2026, 1, 6)) == "product_events/events_2026-01-06.parquet"
    assert get_contract("crm_accounts").file_name(date(2026, 1, 5)) == "crm_accounts/accounts_2026-01-05.csv"
    assert events.raw_columns()[-3:] == LINEAGE_COLUMNS
    assert ("event_ts", "TIMESTAMPTZ") in events.raw_columns()


def test_unknown_source_and_dtype_are_refused():
    with pytest.raises(ValueError, match="unknown source 'orders'"):
        get_contract("orders")
    with pytest.raises(ValueError, match="unsupported dtype"):
        Column("x", "INT")
    assert issubclass(ContractError, ValueError)


def test_week_key_accepts_a_monday(tmp_path: Path):
    (tmp_path / "crm_accounts").mkdir()
    (tmp_path / "crm_accounts" / "accounts_2026-01-05.csv").write_text("account_id\n", encoding="utf-8")
    assert week_files("crm_accounts", tmp_path, "2026-01-05") == [tmp_path / "crm_accounts/accounts_2026-01-05.csv"]
    assert week_files("crm_accounts", tmp_path, date(2026, 1, 5)) == week_files("crm_accounts", tmp_path, "2026-01-05")


# The landing readers validate the week key (seg_pipeline.weeks.parse_week) before it reaches a path.
@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("2026-01-06", "is a Tuesday; weeks start on Monday"),
        ("2026-1-5", "not a date like 2026-01-05"),
        ("2026-01-05\n", "not a date like 2026-01-05"),
        ("2026-01-05'; DROP TABLE raw.x; --", "not a date like 2026-01-05"),
        ("../../etc/passwd", "not a date like 2026-01-05"),
        ("2026-02-30", "not a calendar date"),
        ("２０２６-01-05", "not a (date like 2026-01-05|calendar date)"),  # non-ASCII digits
        ("", "not a date like 2026-01-05"),
    ],
)
def test_week_key_rejects_bad_values(tmp_path: Path, value, match):
    for source in SOURCES:
        with pytest.raises(ValueError, match=match):
            week_files(source, tmp_path, value)
        with pytest.raises(ValueError, match=match):
            load_week(source, tmp_path, value)
