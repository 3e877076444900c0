"""The calendar comes from the landed files: first to last landed week, SEG_FIRST_WEEK, any year from 2000."""

from datetime import UTC, date, datetime, timedelta

import pytest

from seg_pipeline.settings import Settings
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.week_calendar import (
    closed_week,
    describe_weeks,
    first_week_setting,
    landed_weeks,
)


def _touch(root, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_weeks_come_from_every_contract_file_name_in_any_year(tmp_path):
    _touch(tmp_path, "product_events/events_2023-01-08.parquet")  # a Sunday: belongs to the week of 2023-01-02
    _touch(tmp_path, "crm_accounts/accounts_2023-01-09.csv")
    _touch(tmp_path, "support_tickets/tickets_2024-02-26.jsonl")
    _touch(tmp_path, "import_rejects/product_events.jsonl")  # not a landing file of any week
    _touch(tmp_path, "product_events/notes_2019-05-06.txt")  # not a contract's file name
    _touch(tmp_path, "product_events/events_2023-02-30.parquet")  # not a calendar date
    landed = landed_weeks(tmp_path)
    assert landed.keys == ["2023-01-02", "2023-01-09", "2024-02-26"]  # gaps stay gaps: only weeks with files
    # weeks with activity but no CRM snapshot are runnable, but would have nobody to segment: say so up front
    assert landed.notes == ["2 week(s) have files but no crm_accounts snapshot, so no account to segment "
                            "(2023-01-02, 2024-02-26); land their CRM snapshot, or set SEG_FIRST_WEEK past them"]


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_a_file_of_each_source_makes_its_week_exist(tmp_path, source):
    _touch(tmp_path, CONTRACTS[source].file_name(date(2001, 3, 5)))
    assert landed_weeks(tmp_path).keys == ["2001-03-05"]
    assert len(landed_weeks(tmp_path).notes) == (source != "crm_accounts")


@pytest.mark.skipif("product_usage" not in CONTRACTS, reason="the product_usage contract lands with its own branch")
def test_daily_usage_aggregates_make_their_week_exist(tmp_path):
    _touch(tmp_path, "product_usage/usage_2023-06-07.parquet")
    assert landed_weeks(tmp_path).keys == ["2023-06-05"]


def test_first_week_and_year_2000_cut_older_weeks_with_a_note(tmp_path):
    for rel in ("crm_accounts/accounts_1999-12-27.csv", "crm_accounts/accounts_2022-12-26.csv",
                "crm_accounts/accounts_2023-01-02.csv", "product_events/events_2023-01-04.parquet"):
        _touch(tmp_path, rel)
    assert landed_weeks(tmp_path).keys == ["2022-12-26", "2023-01-02"]
    assert "before 2000-01-03" in landed_weeks(tmp_path).notes[0]
    cut = landed_weeks(tmp_path, first_week=date(2023, 1, 2))
    assert cut.keys == ["2023-01-02"]
    assert cut.notes == ["ignored 2 landed week(s) before SEG_FIRST_WEEK=2023-01-02 (1999-12-27, 2022-12-26)"]


def test_a_weekly_file_not_named_by_its_monday_is_reported_not_guessed(tmp_path):
    _touch(tmp_path, "crm_accounts/accounts_2023-01-04.csv")
    landed = landed_weeks(tmp_path)
    assert landed.weeks == []
    assert "rename it to crm_accounts/accounts_2023-01-02.csv" in landed.notes[0]


def test_seg_first_week_is_validated_in_settings():
    assert Settings.from_env({"SEG_FIRST_WEEK": "2023-01-02"}).first_week == date(2023, 1, 2)
    assert Settings.from_env({}).first_week is None
    assert first_week_setting(" ") is None
    with pytest.raises(ValueError, match=r"Wednesday.*try 2023-01-02"):
        Settings.from_env({"SEG_FIRST_WEEK": "2023-01-04"})
    with pytest.raises(ValueError, match="before 2000-01-03"):
        first_week_setting("1999-12-27")


def test_describe_weeks_lists_few_and_summarises_many():
    assert describe_weeks([]) == "none"
    assert describe_weeks(["2023-01-09", "2023-01-02"]) == "2023-01-02, 2023-01-09"
    many = [date(2023, 1, 2) + timedelta(weeks=i) for i in range(8)] + [date(2023, 3, 27)]
    assert describe_weeks(many) == "2023-01-02 .. 2023-03-27 (9 weeks, 4 without files in between)"


def test_the_closed_week_is_the_one_before_the_current_week():
    assert closed_week(datetime(2024, 3, 4, 6, 0, tzinfo=UTC)) == date(2024, 2, 26)  # Monday 06:00
    assert closed_week(datetime(2024, 3, 10, 23, 0, tzinfo=UTC)) == date(2024, 2, 26)  # Sunday night
