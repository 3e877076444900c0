from datetime import date

import pandas as pd
import pytest

from seg_pipeline.features.registry import registry_frame
from seg_pipeline.features.store import features_as_of
from seg_pipeline.warehouse.duck import connect, replace_partition


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        for week, wau in ((date(2026, 1, 5), 3), (date(2026, 1, 12), 7)):
            frame = pd.DataFrame({"account_id": ["a", "b"], "week_start": [week, week],
                                  "weekly_active_users": [wau, wau + 1], "seats": [10, 20]})
            replace_partition(con, "features", "account_features", frame, key=week)
    return path


def test_as_of_returns_the_last_closed_week_only(db):
    # 2026-01-14 is inside the week of 01-12, which is still open: the week of 01-05 is the latest closed one
    got = features_as_of(db, date(2026, 1, 14), features=["weekly_active_users"])
    assert got["week_start"].dt.date.unique().tolist() == [date(2026, 1, 5)]
    assert got["weekly_active_users"].tolist() == [3, 4]
    got = features_as_of(db, date(2026, 1, 19), ["b"], features=["weekly_active_users", "seats"])
    assert got.to_dict("records")[0]["weekly_active_users"] == 8
    assert len(got) == 1


def test_unknown_feature_is_refused(db):
    with pytest.raises(KeyError, match="unknown feature"):
        features_as_of(db, date(2026, 1, 19), features=["not_a_feature"])


def test_registry_documents_at_least_20_features_with_owner_and_source():
    reg = registry_frame()
    assert len(reg) >= 20
    assert reg[["name", "description", "dtype", "source", "owner"]].notna().all().all()
    assert set(reg["source"]) >= {"product_activity", "support_tickets", "crm_accounts", "composite"}
