"""Each feature check called directly on a hand-made week of ``features.account_features``."""

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from seg_pipeline.features import checks
from seg_pipeline.features.registry import FEATURE_RANGES, FEATURES, Feature, get, registry_frame
from seg_pipeline.warehouse.duck import connect, replace_partition

WEEK, OTHER_WEEK = date(2026, 1, 12), date(2026, 1, 5)


def _valid(feature: Feature) -> object:
    if feature.kind == "categorical":
        return "growth"
    if feature.kind == "flag":
        return True
    lo = feature.valid_range[0] if feature.valid_range else None
    value = lo if lo is not None else 0
    return float(value) if feature.dtype == "DOUBLE" else int(value)


def _frame(week: date, ids: list[str]) -> pd.DataFrame:
    row = {f.name: _valid(f) for f in FEATURES}
    return pd.DataFrame([{"account_id": i, "week_start": week, **row} for i in ids])


@pytest.fixture
def con(tmp_path: Path):
    """Yield a warehouse with one sane week (accounts a, b) next to another week whose rows are all broken."""
    with connect(tmp_path / "w.duckdb") as con:
        replace_partition(con, "features", "account_features", _frame(WEEK, ["a", "b"]), key=WEEK)
        replace_partition(con, "features", "account_features", _frame(OTHER_WEEK, ["a", "a"]), key=OTHER_WEEK)
        con.execute("UPDATE features.account_features SET active_days = 99, exports = NULL WHERE week_start = ?",
                    [OTHER_WEEK])
        yield con


def _update(con: duckdb.DuckDBPyConnection, assignment: str, account: str = "b") -> None:
    # the SET clause is a literal written by the tests below, never outside input
    con.execute(f"UPDATE features.account_features SET {assignment} WHERE week_start = ? AND account_id = ?",  # noqa: S608
                [WEEK, account])


def test_a_sane_week_passes_every_check_whatever_other_weeks_hold(con):
    outcomes = checks.feature_checks(con, WEEK)
    assert [o.name for o in outcomes] == ["keys_unique_not_null", "feature_ranges", "feature_null_rates"]
    assert all(o.passed and o.error for o in outcomes)
    assert outcomes[0].metadata == {"rows": 2, "distinct_accounts": 2, "null_account_ids": 0}
    assert outcomes[1].metadata["violations"].value == {}
    assert outcomes[2].metadata["null_rates"].value == {}
    assert outcomes[2].description == "Features are explicit values (zeros + has_activity flag), never NULL."


def test_duplicate_account_fails_the_key_check(con):
    replace_partition(con, "features", "account_features", _frame(WEEK, ["a", "b", "b"]), key=WEEK)
    outcome = checks.keys_unique_not_null(con, WEEK)
    assert not outcome.passed
    assert outcome.metadata == {"rows": 3, "distinct_accounts": 2, "null_account_ids": 0}


def test_null_account_id_or_empty_week_fails_the_key_check(con):
    con.execute("UPDATE features.account_features SET account_id = NULL WHERE week_start = ? AND account_id = 'b'",
                [WEEK])
    outcome = checks.keys_unique_not_null(con, WEEK)
    assert not outcome.passed
    assert outcome.metadata["null_account_ids"] == 1
    empty = checks.keys_unique_not_null(con, date(2026, 1, 19))
    assert not empty.passed
    assert empty.metadata["rows"] == 0


def test_out_of_range_values_fail_the_range_check_per_feature(con):
    _update(con, "active_days = 8, seat_utilisation = -0.1, mrr = 1e9")  # mrr has no upper bound
    _update(con, "active_days = 7, csat_avg = 0.5", account="a")
    outcome = checks.feature_ranges(con, WEEK)
    assert not outcome.passed
    assert outcome.metadata["violations"].value == {"active_days": 1, "seat_utilisation": 1, "csat_avg": 1}
    assert checks.feature_null_rates(con, WEEK).passed


def test_null_feature_fails_the_null_rate_check(con):
    _update(con, "exports = NULL, plan = NULL, weeks_to_renewal = NULL")  # categorical / nullable: NULL allowed
    outcome = checks.feature_null_rates(con, WEEK)
    assert not outcome.passed
    assert outcome.metadata["null_rates"].value == {"exports": 0.5}
    assert checks.feature_ranges(con, WEEK).passed  # exports has no documented range


def test_null_in_a_range_checked_feature_is_also_a_range_violation(con):
    _update(con, "wau_trend = NULL")
    assert checks.feature_ranges(con, WEEK).metadata["violations"].value == {"wau_trend": 1}
    assert checks.feature_null_rates(con, WEEK).metadata["null_rates"].value == {"wau_trend": 0.5}


def test_ranges_live_in_the_registry_and_stay_out_of_the_published_table():
    assert FEATURE_RANGES["active_days"] == (0, 7)
    assert FEATURE_RANGES["wau_trend"] == (-1, None)
    assert len(FEATURE_RANGES) == 17  # + active_week_share_8w, weeks_since_active
    for name, (lo, hi) in FEATURE_RANGES.items():
        assert get(name).kind == "numeric"
        assert lo is None or hi is None or lo < hi
    assert list(registry_frame().columns) == [
        "name", "description", "dtype", "source", "owner", "kind", "heavy_tailed", "clustering"]
