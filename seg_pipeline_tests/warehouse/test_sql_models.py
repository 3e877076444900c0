from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from seg_pipeline.features import registry
from seg_pipeline.raw.tables import write_feature_rules
from seg_pipeline.sources.contracts import KEY_FEATURES
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.sql_models import (
    LAYERS,
    SQL_DIR,
    SqlModelError,
    discover,
    layer_models,
    project_models,
    run_model,
    run_sql_model,
)

W0, W1 = date(2026, 1, 5), date(2026, 1, 12)


def test_discovery_finds_every_file_in_dependency_order():
    models = discover(SQL_DIR)
    names = [m.name for m in models]
    assert set(names) >= {"stg_product_events", "stg_crm_accounts", "stg_support_tickets",
                          "int_account_weekly_usage", "int_account_weekly_support", "account_features"}
    pos = {m.table: i for i, m in enumerate(models)}
    for m in models:
        for dep in m.deps:
            if dep[0] != "raw":
                assert pos[dep] < pos[m.table], f"{m.name} runs before its dependency {dep}"
    feats = next(m for m in models if m.name == "account_features")
    assert ("intermediate", "int_account_weekly_usage") in feats.deps
    assert set(feats.params) == {"week_start", "week_end"}
    assert len({m.code_version for m in models}) == len(models)


def _write(tmp: Path, layer: str, name: str, sql: str) -> None:
    (tmp / layer).mkdir(parents=True, exist_ok=True)
    (tmp / layer / f"{name}.sql").write_text(sql)


def test_broken_sql_names_the_file_and_the_parser_message(tmp_path):
    _write(tmp_path, "staging", "stg_x", "select from where (")
    with pytest.raises(SqlModelError) as err:
        discover(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "staging" / "stg_x.sql"))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from events", "must be schema-qualified"),
        ("select * from staging.stg_missing", "which no model or source provides"),
        ("select * from raw.x where week_start = $partition", "unknown parameter"),
        ("delete from raw.x", "exactly one SELECT"),
    ],
)
def test_invalid_models_are_rejected(tmp_path, sql, message):
    _write(tmp_path, "staging", "stg_x", sql)
    with pytest.raises(SqlModelError, match=message):
        discover(tmp_path)


def test_dependency_cycle_is_reported(tmp_path):
    _write(tmp_path, "staging", "stg_a", "select * from staging.stg_b")
    _write(tmp_path, "staging", "stg_b", "select * from staging.stg_a")
    with pytest.raises(SqlModelError, match="cycle"):
        discover(tmp_path)


def test_registry_matches_the_feature_sql():
    sql = (SQL_DIR / "features" / "account_features.sql").read_text()
    final = sql[sql.index("final as"):]
    for name in registry.feature_names():
        assert f"as {name}" in final or f"        {name},\n" in final, f"{name} missing from account_features.sql"


# ---------------------------------------------------------------- point-in-time behaviour on hand-made raw data
def _ts(day: date, hour: int = 10) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))


def _events(rows: list[tuple[str, str, str, str | None, pd.Timestamp]], week: date) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["account_id", "user_id", "event_type", "feature_name", "event_ts"])
    df.insert(0, "event_id", [f"e{week}-{i}" for i in range(len(df))])
    df["week_start"] = week
    df["source_file"] = "product_events/x.parquet"
    df["source_row"] = range(1, len(df) + 1)
    return df


def _crm(week: date, ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ids, "account_name": ids, "industry": "saas", "employee_band": "11-50", "region": "emea",
        "plan": "growth", "seats": 10, "mrr": 500.0, "signup_date": date(2025, 6, 2),
        "renewal_date": date(2026, 6, 1), "account_manager_id": "am_1", "account_manager_name": "Ann",
        "account_manager_email": "ann@example.com", "status": "active", "week_start": week,
        "source_file": "crm_accounts/x.csv", "source_row": range(1, len(ids) + 1),
    })


def _tickets(week: date) -> pd.DataFrame:
    return pd.DataFrame({
        "ticket_id": ["t1"], "account_id": ["a"], "created_at": [_ts(week)], "updated_at": [_ts(week)],
        "resolved_at": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]"), "priority": ["P1"], "category": ["bug"],
        "status": ["open"],
        "csat": [None], "week_start": [week], "source_file": ["support_tickets/x.jsonl"], "source_row": [1],
    }).astype({"csat": "float64"})


def _build(con, weeks: list[date], key_features: tuple[str, ...] = KEY_FEATURES, top_n: int = 4) -> pd.DataFrame:
    models = discover(SQL_DIR)
    for week in weeks:
        write_feature_rules(con, week, key_features, top_n)
        for m in models:
            run_model(con, m, week)
    return con.execute("SELECT * FROM features.account_features ORDER BY week_start, account_id").fetchdf()


def test_features_are_point_in_time_and_inactive_accounts_get_zeros(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        w0_events = [("a", f"u{i}", "login", None, _ts(W0 + timedelta(days=i % 5))) for i in range(4)]
        w0_events += [("a", "u0", "feature_use", "dashboards", _ts(W0)), ("a", "u0", "api_call", None, _ts(W0))]
        replace_partition(con, "raw", "product_events", _events(w0_events, W0), key=W0)
        replace_partition(con, "raw", "crm_accounts", _crm(W0, ["a", "b"]), key=W0)
        replace_partition(con, "raw", "support_tickets", _tickets(W0), key=W0)
        before = _build(con, [W0])
        # events after the boundary (next week) and a later ticket update must not change week 0
        w1_events = [("a", f"u{i}", "login", None, _ts(W1 + timedelta(days=1))) for i in range(9)]
        replace_partition(con, "raw", "product_events", _events(w1_events, W1), key=W1)
        replace_partition(con, "raw", "crm_accounts", _crm(W1, ["a", "b"]), key=W1)
        later = _tickets(W1).assign(updated_at=[_ts(W1)], status=["solved"], resolved_at=[_ts(W1)], csat=[1.0])
        replace_partition(con, "raw", "support_tickets", later, key=W1)
        after = _build(con, [W0, W1])
    w0_before = before[before.week_start == pd.Timestamp(W0)].reset_index(drop=True)
    w0_after = after[after.week_start == pd.Timestamp(W0)].reset_index(drop=True)
    pd.testing.assert_frame_equal(w0_before, w0_after)
    a0 = w0_after.set_index("account_id").loc["a"]
    assert a0.weekly_active_users == 4
    assert a0.logins == 4
    assert a0.events_total == 6
    assert a0.open_backlog == 1
    assert a0.p1_tickets == 1
    assert a0.csat_avg == 4.0
    assert a0.key_feature_adoption == 0.25
    assert a0.has_activity
    b0 = w0_after.set_index("account_id").loc["b"]
    assert not b0.has_activity
    assert b0.weekly_active_users == 0
    assert b0.api_share == 0
    a1 = after[after.week_start == pd.Timestamp(W1)].set_index("account_id").loc["a"]
    # sustained: recency-weighted over the active weeks (this week 1, last week 0.1)
    assert a1.weekly_active_users == pytest.approx((9 + 0.1 * 4) / 1.1)
    assert a1.wau_trend == pytest.approx((9 + 0.1 * 4) / 1.1 / 6.5 - 1)
    assert a1.open_backlog == 0
    assert a1.csat_avg == 1.0
    assert after.drop(columns=["plan", "industry", "employee_band", "region", "account_manager_id"]).notna().all().all()


def _load_week(con, week: date, users: int) -> None:
    """Land one week: account "a" with ``users`` active users (0 = a quiet week), "b" never active."""
    rows = [("a", f"u{i}", "feature_use", "dashboards", _ts(week + timedelta(days=i % 3))) for i in range(users)]
    rows += [("a", "u0", "api_call", None, _ts(week))] if users else []
    events = _events(rows, week) if rows else _events([("x", "u", "login", None, _ts(week))], week).iloc[:0]
    replace_partition(con, "raw", "product_events", events, key=week)
    replace_partition(con, "raw", "crm_accounts", _crm(week, ["a", "b"]), key=week)
    replace_partition(con, "raw", "support_tickets", _tickets(week), key=week)


def test_sustained_usage_keeps_the_level_through_quiet_weeks_and_ignores_later_weeks(tmp_path):
    weeks = [W0 + timedelta(weeks=i) for i in range(5)]
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        for week, users in zip(weeks[:4], (4, 0, 0, 8), strict=True):
            _load_week(con, week, users)
        before = _build(con, weeks[:4])
        _load_week(con, weeks[4], 30)  # a later, very different week must not change any earlier row
        after = _build(con, weeks)
    early = after[after.week_start < pd.Timestamp(weeks[4])].reset_index(drop=True)
    pd.testing.assert_frame_equal(before.reset_index(drop=True), early)
    a = before.loc[before.account_id == "a"].set_index("week_start")
    quiet = a.loc[pd.Timestamp(weeks[2])]  # two quiet weeks after an active one: the level holds, the flag says so
    assert not quiet.has_activity
    assert quiet.weekly_active_users == pytest.approx(4)
    assert quiet.feature_breadth == pytest.approx(1)
    assert quiet.api_share == pytest.approx(1 / 5)
    assert (quiet.weeks_since_active, quiet.active_week_share_8w) == (2, pytest.approx(1 / 8))
    back = a.loc[pd.Timestamp(weeks[3])]  # active again: this week weighs 1, the week 3 weeks ago 0.1 ** 3
    assert back.weekly_active_users == pytest.approx((8 + 0.001 * 4) / 1.001)
    assert back.wau_trend == pytest.approx((8 + 0.001 * 4) / 1.001 / 6 - 1)
    assert (back.weeks_since_active, back.active_week_share_8w) == (0, pytest.approx(2 / 8))
    b = before.loc[before.account_id == "b"]
    assert (b.weekly_active_users == 0).all()
    assert (b.weeks_since_active == 52).all()


def test_sustained_usage_forgets_activity_older_than_12_weeks(tmp_path):
    weeks = [W0 + timedelta(weeks=i) for i in range(13)]
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        for i, week in enumerate(weeks):
            _load_week(con, week, 5 if i == 0 else 0)
        feats = _build(con, weeks).set_index(["account_id", "week_start"])
    assert feats.loc[("a", pd.Timestamp(weeks[11])), "weekly_active_users"] == pytest.approx(5)
    last = feats.loc[("a", pd.Timestamp(weeks[12]))]
    assert (last.weekly_active_users, last.active_week_share_8w, last.weeks_since_active) == (0, 0, 12)


def _load_company(con, week: date, users: dict[str, int]) -> None:
    """Land one week where each account of ``users`` has that many active users (0 = quiet) on one day."""
    rows = [(acc, f"{acc}{i}", "feature_use", "dashboards", _ts(week)) for acc, n in users.items() for i in range(n)]
    replace_partition(con, "raw", "product_events", _events(rows, week), key=week)
    replace_partition(con, "raw", "crm_accounts", _crm(week, sorted(users)), key=week)
    replace_partition(con, "raw", "support_tickets", _tickets(week), key=week)


def test_where_nearly_every_account_is_active_every_week_a_quiet_week_shows_as_zeros(tmp_path):
    weeks = [W0 + timedelta(weeks=i) for i in range(3)]
    busy = dict.fromkeys("abcdefg", 3)
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        for week, quiet in zip(weeks, (None, None, "g"), strict=True):
            _load_company(con, week, {acc: 0 if acc == quiet else n for acc, n in busy.items()})
        feats = _build(con, weeks).set_index(["account_id", "week_start"])
    # 20 of 21 account-weeks active: dense, so going quiet is the signal (an account turning dormant)
    g = feats.loc[("g", pd.Timestamp(weeks[2]))]
    assert (g.weekly_active_users, g.active_days, g.has_activity) == (0, 0, False)
    a = feats.loc[("a", pd.Timestamp(weeks[2]))]
    assert (a.weekly_active_users, a.active_days) == (3, 1)


def test_a_sustained_mean_of_equal_weeks_is_exactly_that_value(tmp_path):
    weeks = [W0 + timedelta(weeks=i) for i in range(4)]
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schemas(con)
        for week in weeks:  # "b" never active: half the account-weeks are quiet, so the sparse rule applies
            _load_company(con, week, {"a": 7, "b": 0})
        feats = _build(con, weeks).set_index(["account_id", "week_start"])
    last = feats.loc[("a", pd.Timestamp(weeks[3]))]
    assert last.weekly_active_users == 7.0  # not 7.000000000000001: the range checks compare exactly
    assert last.active_days == 1.0


def test_memory_limit_is_validated_before_reaching_sql(tmp_path):
    model = next(m for m in discover(SQL_DIR) if m.name == "stg_crm_accounts")
    with connect(tmp_path / "w.duckdb") as con, pytest.raises(ValueError, match="memory limit"):
        run_model(con, model, W0, memory_limit="1GB'; DROP TABLE x; --")


def test_view_models_span_all_weeks_and_take_no_parameters(tmp_path):
    events = next(m for m in discover(SQL_DIR) if m.name == "stg_product_events")
    assert events.materialized == "view"
    assert events.params == ()
    _write(tmp_path, "staging", "stg_x", "-- materialized: view\nselect * from raw.x where week_start = $week_start")
    with pytest.raises(SqlModelError, match="cannot use parameters"):
        discover(tmp_path)
    _write(tmp_path, "staging", "stg_x", "-- materialized: incremental\nselect * from raw.x")
    with pytest.raises(SqlModelError, match="table or view"):
        discover(tmp_path)


def test_layer_models_split_the_project_models_by_layer_in_dependency_order():
    assert list(project_models()) == discover(SQL_DIR)
    by_layer = [m for layer in LAYERS for m in layer_models(layer)]
    assert sorted(m.table for m in by_layer) == sorted(m.table for m in project_models())
    assert all(m.layer == "staging" for m in layer_models("staging"))
    with pytest.raises(ValueError, match="unknown SQL model layer"):
        layer_models("raw")


def test_run_sql_model_reports_rows_columns_and_week(tmp_path):
    engine = Warehouse(tmp_path / "w.duckdb", tmp_path / "s.duckdb")
    with engine.connect() as con:
        replace_partition(con, "raw", "crm_accounts", _crm(W0, ["a", "b", "c"]), key=W0)
    model = next(m for m in layer_models("staging") if m.name == "stg_crm_accounts")
    result = run_sql_model(model, W0, engine)
    assert result.metadata["dagster/row_count"] == 3
    assert result.metadata["week_start"] == "2026-01-05"
    assert ("account_id", "VARCHAR") in result.metadata["dagster/column_schema"].columns
    assert result.checks == []
