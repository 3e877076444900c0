"""The raw assets through Dagster: bad landing input is quarantined with reasons or rejected with a clear message."""

import csv
import io
from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seg_pipeline.defs.raw.assets import (
    raw_crm_accounts,
    raw_feature_rules,
    raw_product_events,
    raw_product_usage,
    raw_support_tickets,
)
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.settings import Settings
from seg_pipeline.sources.simulator import SimulationConfig, simulate
from seg_pipeline_tests.helpers.partitions import weekly_instance

WEEK = "2026-01-05"
RAW = [raw_product_events, raw_product_usage, raw_crm_accounts, raw_support_tickets, raw_feature_rules]


@pytest.fixture
def home(tmp_path):
    settings = Settings().with_home(tmp_path / "home")
    settings.ensure_home()
    simulate(SimulationConfig(accounts=40, weeks=1, seed=3), settings.landing_dir, settings.truth_dir)
    return settings


def _materialize(settings: Settings, *, raise_on_error: bool = True, week: str = WEEK) -> dg.ExecuteInProcessResult:
    with weekly_instance(week) as instance:
        return dg.materialize(RAW, partition_key=week, instance=instance, raise_on_error=raise_on_error,
                              resources=build_resources(settings))


def _corrupt_crm(settings: Settings) -> int:
    path = settings.landing_dir / "crm_accounts" / f"accounts_{WEEK}.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    rows[0]["seats"] = "twelve"  # non-numeric count
    rows[1]["account_id"] = ""  # null key
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())
    return len(rows)


def _corrupt_events(settings: Settings) -> tuple[int, str]:
    path = settings.landing_dir / "product_events" / f"events_{WEEK}.parquet"
    frame = pq.read_table(path).to_pandas()
    frame.loc[0, "event_ts"] = pd.Timestamp("2031-01-01", tz="UTC")  # out of range (future)
    dup = frame.iloc[[1]].copy()  # exact duplicate event: dropped and counted
    frame = pd.concat([frame, dup], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return len(frame), str(frame.loc[0, "event_id"])


def test_bad_rows_are_quarantined_with_reasons_and_counts_reconcile(home):
    crm_rows = _corrupt_crm(home)
    _, bad_event = _corrupt_events(home)
    result = _materialize(home)
    assert result.success
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        q = con.execute("SELECT source, reason, source_row FROM raw.quarantine ORDER BY ALL").fetchall()
        loaded_crm = con.execute("SELECT count(*) FROM raw.crm_accounts").fetchall()[0][0]
        quarantined_event = con.execute(
            "SELECT count(*) FROM raw.quarantine WHERE record LIKE ?", [f"%{bad_event}%"]).fetchall()[0][0]
    reasons = {(s, r) for s, r, _ in q}
    assert ("crm_accounts", "cast_error:seats") in reasons
    assert ("crm_accounts", "null_key:account_id") in reasons
    assert ("product_events", "ts_out_of_range") in reasons
    assert quarantined_event == 1
    assert loaded_crm == crm_rows - 2
    for asset in ("product_events", "crm_accounts"):
        mat = result.asset_materializations_for_node(f"raw__{asset}")[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        assert meta["rows_in"] == meta["loaded"] + meta["quarantined"] + meta["duplicates_dropped"]
    events_meta = {k: v.value for k, v in result.asset_materializations_for_node("raw__product_events")[0]
                   .metadata.items()}
    assert events_meta["duplicates_dropped"] == 1
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["reconciles"]
    assert checks["keys_unique_not_null"]


def test_missing_required_column_fails_the_run_naming_column_and_file(home):
    path = home.landing_dir / "crm_accounts" / f"accounts_{WEEK}.csv"
    frame = pd.read_csv(path).drop(columns=["seats"])
    frame.to_csv(path, index=False)
    result = _materialize(home, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    err = failure.step_failure_data.error
    while err.cause is not None:
        err = err.cause
    assert "seats" in err.message
    assert f"accounts_{WEEK}.csv" in err.message


def test_rematerializing_a_week_gives_identical_tables(home):
    _materialize(home)
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        first = con.execute("SELECT * FROM raw.product_events ORDER BY ALL").fetchall()
    _materialize(home)
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        second = con.execute("SELECT * FROM raw.product_events ORDER BY ALL").fetchall()
        weeks = con.execute("SELECT DISTINCT week_start FROM raw.product_events").fetchall()
    assert first == second
    assert weeks == [(date(2026, 1, 5),)]


def test_event_volume_drop_blocks_the_week_and_alerts_engineers(home):
    _materialize(home)
    # next week: keep only one day of events (a > 50 % drop)
    settings = home
    simulate(SimulationConfig(accounts=40, weeks=2, seed=3), settings.landing_dir, settings.truth_dir)
    for f in sorted((settings.landing_dir / "product_events").glob("events_2026-01-1*.parquet"))[1:]:
        f.unlink()
    with weekly_instance("2026-01-12") as instance:
        res = dg.materialize(RAW, partition_key="2026-01-12", instance=instance, raise_on_error=False,
                             resources=build_resources(settings))
    checks = {e.check_name: e for e in res.get_asset_check_evaluations()}
    assert not checks["volume_vs_previous_week"].passed
    alerts = (settings.outbox_dir / "alerts.jsonl").read_text()
    assert "event volume check failed" in alerts


def _events_to_daily_usage(settings: Settings, week: str, *, scale: float = 1.0, rename: dict[str, str] | None = None
                           ) -> int:
    """Replace the week's event files by the daily per-feature aggregates of the same events; returns activity."""
    total = 0
    for path in sorted((settings.landing_dir / "product_events").glob("events_*.parquet")):
        day = path.stem.split("_")[1]
        if not week <= day < str(date.fromisoformat(week) + pd.Timedelta(days=7)):
            continue
        events = pq.read_table(path).to_pandas()
        path.unlink()
        events["feature_name"] = events["feature_name"].fillna(events["event_type"])
        daily = (events.groupby(["account_id", "feature_name", "event_type"], as_index=False)
                 .agg(usage_count=("event_id", "size"), active_users=("user_id", "nunique")))
        daily["usage_count"] = (daily["usage_count"] * scale).round().astype("int64")
        daily["account_id"] = daily["account_id"].replace(rename or {})
        daily.insert(1, "usage_date", date.fromisoformat(day))
        out = settings.landing_dir / "product_usage" / f"usage_{day}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(daily, preserve_index=False), out)
        total += int(daily["usage_count"].sum())
    return total


def _checks(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.path == ["raw", asset]}


def test_a_usage_only_week_loads_daily_aggregates_and_does_not_alarm_the_volume_check(home):
    _materialize(home)
    simulate(SimulationConfig(accounts=40, weeks=2, seed=3), home.landing_dir, home.truth_dir)
    activity = _events_to_daily_usage(home, "2026-01-12")
    result = _materialize(home, week="2026-01-12")
    assert result.success
    usage_meta = {k: v.value for k, v in result.asset_materializations_for_node("raw__product_usage")[0]
                  .metadata.items()}
    assert usage_meta["loaded"] == usage_meta["rows_in"] > 0
    volume = _checks(result, "product_events")["volume_vs_previous_week"]
    assert volume.passed
    assert volume.metadata["rows"].value == activity
    usage_checks = _checks(result, "product_usage")
    assert usage_checks["reconciles"].passed
    assert usage_checks["keys_unique_not_null"].passed
    assert usage_checks["orphan_ids"].passed
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        loaded = con.execute("SELECT sum(usage_count) FROM raw.product_usage WHERE week_start = '2026-01-12'"
                             ).fetchall()[0][0]
        rules = con.execute("SELECT key_features FROM raw.feature_rules").fetchall()
    assert loaded == activity
    assert rules == [(["dashboards", "workflows", "integrations", "collaboration"],)] * 2


def test_a_real_drop_in_daily_usage_still_blocks(home):
    _materialize(home)
    simulate(SimulationConfig(accounts=40, weeks=2, seed=3), home.landing_dir, home.truth_dir)
    _events_to_daily_usage(home, "2026-01-12", scale=0.2)
    result = _materialize(home, week="2026-01-12", raise_on_error=False)
    volume = _checks(result, "product_events")["volume_vs_previous_week"]
    assert not volume.passed
    assert volume.severity == dg.AssetCheckSeverity.ERROR


def test_orphan_ids_warn_when_few_and_block_when_most(home):
    crm = pd.read_csv(home.landing_dir / "crm_accounts" / f"accounts_{WEEK}.csv")
    ids = sorted(crm["account_id"])
    _events_to_daily_usage(home, WEEK, rename={ids[0]: "acc_unknown"})
    result = _materialize(home)
    orphans = _checks(result, "product_usage")["orphan_ids"]
    assert not orphans.passed
    assert orphans.severity == dg.AssetCheckSeverity.WARN
    assert orphans.metadata["sample_orphan_ids"].value == ["acc_unknown"]
    assert _checks(result, "support_tickets")["orphan_ids"].passed

    simulate(SimulationConfig(accounts=40, weeks=1, seed=3), home.landing_dir, home.truth_dir)
    for f in (home.landing_dir / "product_usage").glob("*.parquet"):
        f.unlink()
    _events_to_daily_usage(home, WEEK, rename={i: f"sub_{i}" for i in ids[: int(len(ids) * 0.8)]})
    blocked = _materialize(home, raise_on_error=False)
    orphans = _checks(blocked, "product_usage")["orphan_ids"]
    assert not orphans.passed
    assert orphans.severity == dg.AssetCheckSeverity.ERROR
    assert "SEG_ORPHAN_MAX_SHARE" in orphans.description
    assert not blocked.success  # the blocking check stops what depends on raw.product_usage
