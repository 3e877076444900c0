"""The activity-volume check compares a week with the latest earlier week that has activity, not the calendar's."""

from datetime import date

import pandas as pd

from seg_pipeline.raw.stage import volume_check
from seg_pipeline.raw.tables import activity, latest_active_week
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition

W1, W2, W3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)


def _usage(week: date, counts: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(len(counts))], "usage_count": counts,
                         "week_start": week})


def test_a_week_that_never_loaded_does_not_disarm_the_next_weeks_volume_check(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        replace_partition(con, "raw", "product_usage", _usage(W1, [400, 600]), key=W1)
        # W2 failed before its activity loaded; W3 brings 10 % of W1's activity
        replace_partition(con, "raw", "product_usage", _usage(W3, [100]), key=W3)
        assert latest_active_week(con, W3) == W1
        assert latest_active_week(con, W1) is None
        baseline = latest_active_week(con, W3)
        outcome = volume_check("product_events", W3, activity(con, W3), activity(con, W1), 0.5, baseline=baseline)
    assert not outcome.passed
    assert outcome.error
    assert "the week of 2026-01-05" in outcome.description
    assert outcome.metadata["drop"] == 0.9
