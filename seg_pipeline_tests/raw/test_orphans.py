"""Orphan ids: counted per feed and week against the CRM snapshot; a warning when few, blocking when many."""

from datetime import date

import pandas as pd
import pytest

from seg_pipeline.raw.orphans import OrphanCount, count_orphans, orphan_check, wilson_lower
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition

WEEK = date(2026, 1, 5)


def _count(rows: int, orphans: int, crm: int = 100) -> OrphanCount:
    return OrphanCount("product_usage", rows, orphans, min(orphans, 3), crm, ("x1", "x2"))


def test_no_orphans_pass():
    outcome = orphan_check(_count(500, 0), WEEK, 0.2)
    assert outcome.passed
    assert outcome.metadata["orphan_rows"] == 0


def test_a_few_orphans_warn_without_blocking():
    outcome = orphan_check(_count(500, 20), WEEK, 0.2)
    assert not outcome.passed
    assert not outcome.error  # WARN: the week goes on
    assert outcome.alert is None
    assert "20 of 500 rows" in outcome.description


def test_a_small_week_with_one_orphan_warns_even_above_the_share():
    # 1 of 3 tickets is 33 %, but three rows say little: the Wilson lower bound stays under 20 %
    outcome = orphan_check(_count(3, 1), WEEK, 0.2)
    assert not outcome.passed
    assert not outcome.error


def test_many_orphans_block_with_a_clear_reason():
    outcome = orphan_check(_count(500, 300), WEEK, 0.2)
    assert not outcome.passed
    assert outcome.error
    assert outcome.alert is not None
    assert "SEG_ORPHAN_MAX_SHARE=20%" in outcome.description
    assert "account id mapping" in outcome.description
    assert "Dagster" not in outcome.description


def test_the_threshold_is_configurable():
    assert orphan_check(_count(500, 300), WEEK, 0.8).error is False
    assert orphan_check(_count(500, 60), WEEK, 0.05).error is True


def test_a_missing_crm_snapshot_blocks_and_names_the_file_to_land():
    outcome = orphan_check(_count(50, 50, crm=0), WEEK, 0.2)
    assert outcome.error
    assert "crm_accounts/accounts_2026-01-05.csv" in outcome.description


def test_wilson_lower_bound():
    assert wilson_lower(0, 0) == 0.0
    assert wilson_lower(0, 100) == 0.0
    assert wilson_lower(50, 100) == pytest.approx(0.4038, abs=1e-3)
    assert wilson_lower(100, 100) > 0.96


def test_count_orphans_against_the_weeks_crm_snapshot(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        crm = pd.DataFrame({"account_id": ["a", "b"], "plan": "growth", "seats": 1, "mrr": 1.0,
                            "account_manager_id": "am", "status": "active", "week_start": WEEK})
        replace_partition(con, "raw", "crm_accounts", crm, key=WEEK)
        tickets = pd.DataFrame({"ticket_id": ["t1", "t2", "t3", "t4"], "account_id": ["a", "zz", "zz", "yy"],
                                "week_start": WEEK})
        replace_partition(con, "raw", "support_tickets", tickets, key=WEEK)
        count = count_orphans(con, "support_tickets", WEEK)
        empty = count_orphans(con, "product_usage", WEEK)
    assert (count.rows, count.orphan_rows, count.orphan_ids, count.crm_accounts) == (4, 3, 2, 2)
    assert count.sample_ids == ("yy", "zz")
    assert empty.rows == 0
    assert orphan_check(empty, WEEK, 0.2).passed
    with pytest.raises(ValueError, match="orphan ids are counted"):
        count_orphans(con, "crm_accounts", WEEK)
