"""The SQL models compute the same usage features from raw events and from daily per-feature aggregates.

The same activity is loaded once as events (one row per event, with user ids) and once as the daily aggregates a
product-analytics export gives (one row per account, day, feature and event type, with a count and the day's
distinct users). Every usage feature must agree exactly, except the ones daily counts cannot know: distinct users
over the week (the daily shape gives the largest day's active users, a lower bound) and what derives from it.
"""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.raw.tables import write_feature_rules
from seg_pipeline.sources.contracts import KEY_FEATURES
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition
from seg_pipeline.warehouse.sql_models import SQL_DIR, discover, run_model

WEEKS = [date(2026, 1, 5), date(2026, 1, 12)]
VOCABULARY = [f"Feature {i:02d}" for i in range(40)]  # an open vocabulary: none of the default names
TYPES = {"Session Start": "login", "API Access": "api_call", "CSV Export": "export", "Invite Teammate": "invite"}
# features that depend on the distinct users of the week, which daily counts cannot give exactly
USER_DERIVED = ["weekly_active_users", "seat_utilisation", "wau_trend", "activation_score"]


def _activity(seed: int = 5) -> pd.DataFrame:
    """Random events over two weeks: 6 accounts (one with a single user), 40 feature names and the 4 typed ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for week in WEEKS:
        for a in range(6):
            users = 1 if a == 0 else 2 + a
            for _ in range(int(rng.integers(20, 80))):
                day = week + timedelta(days=int(rng.integers(0, 7 if a else 3)))
                name = str(rng.choice(VOCABULARY[: 10 + 5 * a] + list(TYPES)))
                ts = datetime(day.year, day.month, day.day, int(rng.integers(0, 24)), int(rng.integers(0, 60)),
                              tzinfo=UTC)
                rows.append((f"acc_{a}", f"u{a}_{rng.integers(users)}", TYPES.get(name, "feature_use"), name, ts,
                             week))
    return pd.DataFrame(rows, columns=["account_id", "user_id", "event_type", "feature_name", "event_ts",
                                       "week_start"])


def _as_events(act: pd.DataFrame, week: date) -> pd.DataFrame:
    df = act[act.week_start == week].drop(columns="week_start").reset_index(drop=True)
    df.insert(0, "event_id", [f"e{week}-{i}" for i in range(len(df))])
    df["event_ts"] = pd.to_datetime(df["event_ts"], utc=True)
    return df.assign(week_start=week, source_file="product_events/x.parquet", source_row=range(1, len(df) + 1))


def _as_daily_usage(act: pd.DataFrame, week: date) -> pd.DataFrame:
    """Fold the events the way a product-analytics export does: count and distinct users per day and feature."""
    df = act[act.week_start == week].assign(usage_date=lambda d: pd.to_datetime(d.event_ts, utc=True).dt.date)
    daily = (df.groupby(["account_id", "usage_date", "feature_name", "event_type"], as_index=False)
             .agg(usage_count=("user_id", "size"), active_users=("user_id", "nunique")))
    daily["feature_name"] = daily["feature_name"].str.upper()  # exports spell names their own way
    daily["duration_seconds"] = 30.0 * daily["usage_count"]
    return daily.assign(week_start=week, source_file="product_usage/x.parquet", source_row=range(1, len(daily) + 1))


def _crm(week: date) -> pd.DataFrame:
    ids = [f"acc_{a}" for a in range(6)]
    return pd.DataFrame({
        "account_id": ids, "account_name": ids, "industry": "saas", "employee_band": "11-50", "region": "EMEA",
        "plan": "growth", "seats": 8, "mrr": 500.0, "signup_date": date(2025, 6, 2),
        "renewal_date": date(2026, 6, 1), "account_manager_id": "am_1", "account_manager_name": "Ann",
        "account_manager_email": "ann@example.com", "status": "active", "week_start": week,
        "source_file": "crm_accounts/x.csv", "source_row": range(1, 7),
    })


def _features(tmp_path, name: str, shape: str, key_features: tuple[str, ...] = KEY_FEATURES) -> dict[str, pd.DataFrame]:
    act = _activity()
    models = discover(SQL_DIR)
    with connect(tmp_path / f"{name}.duckdb") as con:
        ensure_schemas(con)
        for week in WEEKS:
            if shape in ("events", "both"):
                replace_partition(con, "raw", "product_events", _as_events(act, week), key=week)
            if shape in ("daily", "both"):
                replace_partition(con, "raw", "product_usage", _as_daily_usage(act, week), key=week)
            replace_partition(con, "raw", "crm_accounts", _crm(week), key=week)
            write_feature_rules(con, week, key_features, 4)
            for model in models:
                run_model(con, model, week)
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchdf() for t in (  # noqa: S608
            "features.account_features", "intermediate.int_account_weekly_usage", "intermediate.int_key_features")}


def test_events_and_daily_aggregates_give_the_same_features(tmp_path):
    events = _features(tmp_path, "events", "events")
    daily = _features(tmp_path, "daily", "daily")
    ev, dy = events["features.account_features"], daily["features.account_features"]
    assert len(ev) == 12
    exact = [c for c in ev.columns if c not in USER_DERIVED]
    pd.testing.assert_frame_equal(ev[exact], dy[exact])
    # distinct users: daily counts give the largest day's active users, a lower bound that is exact for one user
    assert (dy.weekly_active_users <= ev.weekly_active_users).all()
    assert (dy.weekly_active_users >= 1).all()
    solo = ev.account_id == "acc_0"
    pd.testing.assert_frame_equal(ev.loc[solo, USER_DERIVED], dy.loc[solo, USER_DERIVED])
    usage = daily["intermediate.int_account_weekly_usage"]
    assert set(usage.weekly_active_users_basis) == {"daily_active_users_max"}
    assert (usage.usage_seconds == 30.0 * usage.events_total).all()
    assert events["intermediate.int_account_weekly_usage"].usage_seconds.isna().all()


def test_an_open_vocabulary_counts_every_name_and_falls_back_to_top_features(tmp_path):
    out = _features(tmp_path, "vocab", "daily")
    feats = out["features.account_features"].set_index(["week_start", "account_id"])
    act = _activity()
    used = act[act.event_type == "feature_use"].groupby(["week_start", "account_id"]).feature_name.nunique()
    for (week, account), n in used.items():
        assert feats.loc[(pd.Timestamp(week), account), "feature_breadth"] == n  # 40 names: nothing dropped
    assert used.max() > 12
    keys = out["intermediate.int_key_features"]
    # none of the default key names occurs: the top 4 features by usage over the last 4 weeks are key
    assert set(keys.rule) == {"top_usage"}
    assert keys.groupby("week_start").size().tolist() == [4, 4]
    w0 = act[(act.week_start == WEEKS[0]) & (act.event_type == "feature_use")]
    top = w0.feature_name.str.lower().value_counts()
    expected = sorted(top.index, key=lambda n: (-top[n], n))[:4]
    assert keys[keys.week_start == pd.Timestamp(WEEKS[0])].sort_values("usage_rank").feature_name.tolist() == expected
    assert feats.key_feature_adoption.between(0, 1).all()
    assert feats.key_feature_adoption.max() > 0


def test_configured_key_features_apply_when_they_occur(tmp_path):
    out = _features(tmp_path, "configured", "both", key_features=("feature 03", "Feature 07", "not used at all"))
    keys = out["intermediate.int_key_features"]
    assert set(keys.rule) == {"configured"}
    assert sorted(keys[keys.week_start == pd.Timestamp(WEEKS[0])].feature_name) == [
        "feature 03", "feature 07", "not used at all"]
    act = _activity()
    fu = act[(act.event_type == "feature_use") & (act.week_start == WEEKS[1])]
    for account, adoption in out["features.account_features"].query("week_start == @WEEKS[1]").set_index(
            "account_id").key_feature_adoption.items():
        names = set(fu[fu.account_id == account].feature_name.str.lower())
        assert adoption == pytest.approx(len(names & {"feature 03", "feature 07"}) / 3)
    # with both shapes delivered, activity adds up
    both = out["intermediate.int_account_weekly_usage"]
    assert (both.events_total % 2 == 0).all()


def test_daily_counts_without_user_counts_give_zero_users_not_a_guess(tmp_path):
    act = _activity()
    models = discover(SQL_DIR)
    with connect(tmp_path / "nousers.duckdb") as con:
        ensure_schemas(con)
        week = WEEKS[0]
        replace_partition(con, "raw", "product_usage", _as_daily_usage(act, week).assign(active_users=None), key=week)
        replace_partition(con, "raw", "crm_accounts", _crm(week), key=week)
        write_feature_rules(con, week, KEY_FEATURES, 4)
        for model in models:
            run_model(con, model, week)
        usage = con.execute("SELECT * FROM intermediate.int_account_weekly_usage").fetchdf()
        feats = con.execute("SELECT * FROM features.account_features").fetchdf()
    assert usage.weekly_active_users.isna().all()
    assert usage.weekly_active_users_basis.isna().all()
    assert (feats.weekly_active_users == 0).all()
    assert (feats.seat_utilisation == 0).all()
    assert feats.has_activity.all()
    assert (feats.events_total > 0).all()
