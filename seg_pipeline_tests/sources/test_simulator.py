"""The simulator writes contract-shaped landing files, a separate ground truth, and recoverable structure."""

import hashlib
import itertools
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seg_pipeline.sources.contracts import EVENT_TYPES, FEATURE_NAMES
from seg_pipeline.sources.contracts import TICKET_CATEGORIES as CATEGORIES
from seg_pipeline.sources.simulator import (
    PERSONAS,
    TICKET_WARMUP_WEEKS,
    SimulationConfig,
    SimulationResult,
    simulate,
)

CONFIG = SimulationConfig(accounts=600, weeks=4, seed=11)
CRM_COLUMNS = ["account_id", "account_name", "industry", "employee_band", "region", "plan", "seats", "mrr",
               "signup_date", "renewal_date", "account_manager_id", "account_manager_name",
               "account_manager_email", "status"]
TICKET_KEYS = {"ticket_id", "account_id", "created_at", "updated_at", "resolved_at", "priority", "category",
               "status", "csat"}


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationResult]:
    root = tmp_path_factory.mktemp("sim")
    messages: list[str] = []
    result = simulate(CONFIG, root / "landing", root / "truth", progress=messages.append)
    assert len(messages) == CONFIG.weeks
    return root, result


@pytest.fixture(scope="module")
def events(sim: tuple[Path, SimulationResult]) -> pd.DataFrame:
    root, _ = sim
    return pq.read_table(root / "landing" / "product_events").to_pandas()


@pytest.fixture(scope="module")
def crm(sim: tuple[Path, SimulationResult]) -> pd.DataFrame:
    _, result = sim
    frames = [pd.read_csv(p, dtype={"seats": "int64"}).assign(week_start=w)
              for w, p in zip(result.weeks, result.files["crm_accounts"], strict=True)]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def tickets(sim: tuple[Path, SimulationResult]) -> pd.DataFrame:
    _, result = sim
    rows = [
        {**json.loads(line), "file_week": week}
        for week, path in zip(result.weeks, result.files["support_tickets"], strict=True)
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def truth(sim: tuple[Path, SimulationResult]) -> dict[str, pd.DataFrame]:
    root, _ = sim
    return {name: pd.read_parquet(root / "truth" / f"{name}.parquet") for name in ("personas", "migrations", "churn")}


# ---------------------------------------------------------------- determinism and idempotency

def test_same_config_writes_identical_bytes_and_another_seed_differs(
        sim: tuple[Path, SimulationResult], tmp_path: Path) -> None:
    root, _ = sim
    again = simulate(CONFIG, tmp_path / "a" / "landing", tmp_path / "a" / "truth")
    assert _digest(tmp_path / "a") == _digest(root)
    assert again.counts == sim[1].counts
    other = SimulationConfig(accounts=CONFIG.accounts, weeks=1, seed=CONFIG.seed + 1)
    simulate(other, tmp_path / "b" / "landing", tmp_path / "b" / "truth")
    first_day = "landing/product_events/events_2026-01-05.parquet"
    assert _digest(tmp_path / "b")[first_day] != _digest(root)[first_day]


def test_rerun_overwrites_in_place(tmp_path: Path) -> None:
    config = SimulationConfig(accounts=150, weeks=2, seed=3)
    simulate(config, tmp_path / "landing", tmp_path / "truth")
    before = _digest(tmp_path)
    simulate(config, tmp_path / "landing", tmp_path / "truth")
    assert _digest(tmp_path) == before
    assert not list(tmp_path.rglob(".*.tmp"))


def test_events_scale_multiplies_volume_only(tmp_path: Path) -> None:
    base = simulate(SimulationConfig(accounts=200, weeks=1), tmp_path / "x" / "landing", tmp_path / "x" / "truth")
    big = simulate(SimulationConfig(accounts=200, weeks=1, events_scale=3.0), tmp_path / "y" / "landing",
                   tmp_path / "y" / "truth")
    assert 2.0 < big.counts["product_events"] / base.counts["product_events"] < 4.0
    assert (tmp_path / "x" / "truth" / "personas.parquet").read_bytes() == (
        tmp_path / "y" / "truth" / "personas.parquet").read_bytes()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start": date(2026, 1, 6)}, "is not a Monday"),
    ({"accounts": 0}, "accounts and weeks must be >= 1"),
    ({"weeks": 0}, "accounts and weeks must be >= 1"),
    ({"events_scale": 0.0}, "events_scale must be > 0"),
])
def test_invalid_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**kwargs)


def test_truth_inside_landing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="truth_dir"):
        simulate(SimulationConfig(accounts=10, weeks=1), tmp_path / "landing", tmp_path / "landing" / "truth")


# ---------------------------------------------------------------- contract: files and shapes

def test_file_layout_matches_contract(sim: tuple[Path, SimulationResult]) -> None:
    root, result = sim
    landing = root / "landing"
    assert result.weeks == [CONFIG.start + timedelta(weeks=i) for i in range(CONFIG.weeks)]
    days = [CONFIG.start + timedelta(days=i) for i in range(7 * CONFIG.weeks)]
    assert result.files["product_events"] == [landing / "product_events" / f"events_{d}.parquet" for d in days]
    assert result.files["crm_accounts"] == [landing / "crm_accounts" / f"accounts_{w}.csv" for w in result.weeks]
    assert result.files["support_tickets"] == [
        landing / "support_tickets" / f"tickets_{w}.jsonl" for w in result.weeks]
    written = {p for p in landing.rglob("*") if p.is_file()}
    assert written == {p for ps in result.files.values() for p in ps}
    assert {p.name for p in (root / "truth").iterdir()} == {"personas.parquet", "migrations.parquet",
                                                           "churn.parquet"}
    assert set(result.truth_files) == {"personas", "migrations", "churn"}


def test_event_schema_and_values(sim: tuple[Path, SimulationResult], events: pd.DataFrame) -> None:
    _, result = sim
    schema = pq.read_schema(result.files["product_events"][0])
    assert schema.names == ["event_id", "account_id", "user_id", "event_type", "feature_name", "event_ts"]
    assert schema.field("event_ts").type == pa.timestamp("us", tz="UTC")
    for name in schema.names[:-1]:
        assert schema.field(name).type == pa.string()
    con = duckdb.connect()
    col_types = dict(con.execute(
        "select column_name, column_type from (describe select * from read_parquet($p))",
        {"p": str(result.files["product_events"][0])}).fetchall())
    assert col_types["event_ts"] == "TIMESTAMP WITH TIME ZONE"

    assert len(events) == result.counts["product_events"]
    assert events["event_id"].is_unique
    assert events[["event_id", "account_id", "user_id", "event_type", "event_ts"]].notna().all().all()
    assert events["account_id"].str.fullmatch(r"acc_\d{6}").all()
    assert (events["user_id"].str.slice(2, 8) == events["account_id"].str.slice(4, 10)).all()
    assert set(events["event_type"]) == set(EVENT_TYPES)
    is_feature = events["event_type"] == "feature_use"
    assert events.loc[is_feature, "feature_name"].isin(FEATURE_NAMES).all()
    assert set(events.loc[is_feature, "feature_name"]) == set(FEATURE_NAMES)
    assert events.loc[~is_feature, "feature_name"].isna().all()


def test_events_fall_inside_their_files_day_weekday_heavy(sim: tuple[Path, SimulationResult]) -> None:
    _, result = sim
    weekend = total = 0
    for path in result.files["product_events"]:
        day = date.fromisoformat(path.stem.removeprefix("events_"))
        ts = pq.read_table(path, columns=["event_ts"]).column(0).to_pandas()
        assert (ts.dt.date == day).all(), path.name
        assert ts.is_monotonic_increasing
        total += len(ts)
        weekend += len(ts) if day.weekday() >= 5 else 0
    assert 0 < weekend / total < 0.15  # weekends are quiet, not silent


def test_crm_snapshot_contract(crm: pd.DataFrame) -> None:
    assert list(crm.columns[:-1]) == CRM_COLUMNS
    assert not crm.groupby("week_start")["account_id"].apply(lambda s: s.duplicated().any()).any()
    assert crm["plan"].isin(["starter", "growth", "business", "enterprise"]).all()
    assert crm["status"].isin(["active", "churned"]).all()
    assert (crm["seats"] >= 0).all()
    assert (crm["mrr"] >= 0).all()
    signup = pd.to_datetime(crm["signup_date"], format="%Y-%m-%d")
    renewal = pd.to_datetime(crm["renewal_date"], format="%Y-%m-%d")
    week_end = pd.to_datetime(crm["week_start"]) + pd.Timedelta(days=7)
    assert (signup < week_end).all()
    assert (renewal >= week_end).all()
    assert 8 <= crm["account_manager_id"].nunique() <= 15
    assert crm.groupby("account_manager_id")["account_manager_email"].nunique().eq(1).all()
    assert crm["account_manager_email"].str.fullmatch(r"[a-z.]+@example\.com").all()


def test_tickets_contract_and_lifecycle(tickets: pd.DataFrame, sim: tuple[Path, SimulationResult]) -> None:
    _, result = sim
    assert len(tickets) == result.counts["support_tickets"]
    assert set(tickets.columns) == TICKET_KEYS | {"file_week"}
    assert not tickets.duplicated(["ticket_id", "file_week"]).any()
    iso = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00"
    assert tickets["created_at"].str.fullmatch(iso).all()
    assert tickets["updated_at"].str.fullmatch(iso).all()
    created = pd.to_datetime(tickets["created_at"])
    updated = pd.to_datetime(tickets["updated_at"])
    resolved = pd.to_datetime(tickets["resolved_at"])
    week = pd.to_datetime(tickets["file_week"]).dt.tz_localize("UTC")
    assert ((updated >= week) & (updated < week + pd.Timedelta(days=7))).all()  # touched in the file's week
    assert (created <= updated).all()
    done = tickets["status"].isin(["solved", "closed"])
    assert resolved.notna().eq(done).all()
    assert (resolved[done] > created[done]).all()
    assert tickets["csat"].isna()[~done].all()
    assert tickets.loc[done, "csat"].dropna().between(1, 5).all()
    assert tickets["priority"].isin(["P1", "P2", "P3", "P4"]).all()
    assert tickets["category"].isin(CATEGORIES).all()
    assert set(tickets["status"]) == {"open", "pending", "solved", "closed"}
    # a ticket's first appearance is its creation week (created-or-updated semantics), except the support
    # history from before the start, which first shows up when it is worked on (never as a creation row)
    first = tickets.sort_values("file_week").drop_duplicates("ticket_id")
    first_created = pd.to_datetime(first["created_at"])
    first_week = pd.to_datetime(first["file_week"]).dt.tz_localize("UTC")
    start = week.min()
    in_run = first_created >= start
    assert ((first_created >= first_week) & (first_created < first_week + pd.Timedelta(days=7)))[in_run].all()
    history = first_created[~in_run]
    assert len(history)
    assert (history >= start - pd.Timedelta(weeks=TICKET_WARMUP_WEEKS)).all()
    assert (pd.to_datetime(first.loc[~in_run, "updated_at"]) > history).all()
    hours = (resolved - created).dt.total_seconds() / 3600
    by_prio = hours[done].groupby(tickets.loc[done, "priority"]).median()
    assert by_prio["P1"] < by_prio["P3"]


# ---------------------------------------------------------------- planted structure

def test_every_persona_present_with_planted_shares(truth: dict[str, pd.DataFrame]) -> None:
    personas = truth["personas"]
    assert set(personas["persona"]) == set(PERSONAS)
    assert not personas.duplicated(["account_id", "week_start"]).any()
    share = personas[personas["week_start"] == CONFIG.start]["persona"].value_counts(normalize=True)
    assert 0.015 <= share["api_integrators"] <= 0.035
    assert 0.002 <= share["outlier"] <= 0.01


def test_truth_matches_crm_population(truth: dict[str, pd.DataFrame], crm: pd.DataFrame) -> None:
    personas = truth["personas"].assign(week_start=lambda f: pd.to_datetime(f["week_start"]))
    snapshot = crm[["account_id", "week_start"]].assign(week_start=lambda f: pd.to_datetime(f["week_start"]))
    merged = personas.merge(snapshot, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_api_integrators_are_api_only_from_one_or_two_users(
        truth: dict[str, pd.DataFrame], events: pd.DataFrame) -> None:
    first = truth["personas"]
    api_accounts = set(first.loc[first["persona"] == "api_integrators", "account_id"])
    api_events = events[events["account_id"].isin(api_accounts)]
    per_account = api_events.groupby("account_id").agg(
        share=("event_type", lambda s: (s == "api_call").mean()), users=("user_id", "nunique"))
    assert (per_account["share"] > 0.9).all()
    assert per_account["users"].between(1, 2).all()
    others = events[~events["account_id"].isin(api_accounts)]
    assert (others["event_type"] == "api_call").mean() < 0.1


def test_migrations_are_a_few_percent_and_consistent_with_truth(truth: dict[str, pd.DataFrame]) -> None:
    personas, migrations = truth["personas"], truth["migrations"]
    alive = personas.groupby("week_start").size()
    rate = migrations.groupby("week_start").size().reindex(alive.index, fill_value=0) / alive
    assert rate.iloc[1:].between(0.005, 0.08).all(), rate
    assert (migrations["from_persona"] != migrations["to_persona"]).all()
    pivot = personas.pivot(index="account_id", columns="week_start", values="persona")
    weeks = list(pivot.columns)
    for row in migrations.itertuples():
        i = weeks.index(row.week_start)
        assert pivot.at[row.account_id, weeks[i]] == row.to_persona
        if i > 0 and pd.notna(pivot.at[row.account_id, weeks[i - 1]]):
            assert pivot.at[row.account_id, weeks[i - 1]] == row.from_persona
    # every week-to-week persona change is recorded
    changes = sum(int(((pivot[a] != pivot[b]) & pivot[a].notna() & pivot[b].notna()).sum())
                  for a, b in itertools.pairwise(weeks))
    assert changes == int((migrations["week_start"] != weeks[0]).sum())


def test_churned_accounts_leave_after_their_churn_week(
        truth: dict[str, pd.DataFrame], crm: pd.DataFrame, events: pd.DataFrame, tickets: pd.DataFrame) -> None:
    churn = truth["churn"]
    assert len(churn) > 0
    for row in churn.itertuples():
        snap = crm[crm["account_id"] == row.account_id]
        assert snap.loc[snap["week_start"] == row.churn_week, "status"].tolist() == ["churned"]
        assert (snap["week_start"] <= row.churn_week).all()
        assert (snap.loc[snap["week_start"] < row.churn_week, "status"] == "active").all()
        end = pd.Timestamp(row.churn_week + timedelta(days=7), tz="UTC")
        assert (events.loc[events["account_id"] == row.account_id, "event_ts"] < end).all()
        touched = pd.to_datetime(tickets.loc[tickets["account_id"] == row.account_id, "updated_at"], utc=True)
        assert (touched < end).all()
    personas = truth["personas"].merge(churn, on="account_id")
    assert (personas["week_start"] <= personas["churn_week"]).all()
    assert (crm.loc[~crm["account_id"].isin(churn["account_id"]), "status"] == "active").all()


def test_new_signups_appear_as_onboarding(truth: dict[str, pd.DataFrame], crm: pd.DataFrame,
                                          events: pd.DataFrame) -> None:
    first_seen = crm.groupby("account_id")["week_start"].min()
    new = first_seen[first_seen > CONFIG.start]
    assert len(new) >= CONFIG.weeks - 1
    rows = crm.set_index(["account_id", "week_start"]).loc[list(zip(new.index, new, strict=True))]
    signup = pd.to_datetime(rows["signup_date"]).dt.date.to_numpy()
    weeks = rows.index.get_level_values("week_start")
    assert all(w <= s < w + timedelta(days=7) for s, w in zip(signup, weeks, strict=True))
    personas = truth["personas"].set_index(["account_id", "week_start"])
    assert (personas.loc[list(zip(new.index, new, strict=True)), "persona"] == "new_onboarding").all()
    first_event = events[events["account_id"].isin(new.index)].groupby("account_id")["event_ts"].min()
    signup_by_acc = pd.to_datetime(rows.reset_index().set_index("account_id")["signup_date"]).dt.tz_localize("UTC")
    assert (first_event >= signup_by_acc.reindex(first_event.index)).all()


def test_personas_have_distinct_usage_and_support_profiles(
        sim: tuple[Path, SimulationResult], truth: dict[str, pd.DataFrame]) -> None:
    """Coarse per-persona medians of a few registry features point the planted way."""
    root, _ = sim
    con = duckdb.connect()
    week = CONFIG.start + timedelta(weeks=CONFIG.weeks - 1)
    con.execute("set TimeZone = 'UTC'")
    usage = con.execute("""
        select account_id, count(distinct user_id) as wau, count(distinct feature_name) as breadth,
               avg((event_type = 'api_call')::int) as api_share, count(*) filter (where event_type = 'invite')
               as invites
        from read_parquet($p) where event_ts >= $w group by all""",
        {"p": str(root / "landing" / "product_events" / "*.parquet"),
         "w": datetime(week.year, week.month, week.day)}).df()
    personas = truth["personas"]
    last = personas[personas["week_start"] == week][["account_id", "persona"]]
    frame = last.merge(usage, on="account_id", how="left").fillna(0)
    med = frame.groupby("persona")[["wau", "breadth", "api_share", "invites"]].median()
    assert med.at["power_users", "breadth"] > med.at["steady_core", "breadth"] > med.at[
        "struggling_adopters", "breadth"]
    assert med.at["dormant", "wau"] == 0
    assert med.at["api_integrators", "api_share"] > 0.9
    assert med.at["expansion_candidates", "invites"] > med.at["steady_core", "invites"]
    raised = pd.concat([pd.read_json(p, lines=True) for p in (root / "landing" / "support_tickets").glob("*.jsonl")])
    per_acc = raised.drop_duplicates("ticket_id").groupby("account_id").size()
    load = personas.drop_duplicates("account_id").assign(
        tickets=lambda f: f["account_id"].map(per_acc).fillna(0)).groupby("persona")["tickets"].mean()
    assert load["struggling_adopters"] > 5 * load["steady_core"]
    assert load["declining_at_risk"] > 5 * load["power_users"]


def test_ids_and_names_are_well_formed(events: pd.DataFrame, tickets: pd.DataFrame) -> None:
    assert events["event_id"].str.fullmatch(r"evt_\d{8}_\d{8}").all()
    assert events["user_id"].str.fullmatch(r"u_\d{6}_\d{3,}").all()
    assert tickets["ticket_id"].str.fullmatch(r"tkt_\d{7}").all()
    assert re.fullmatch(r"acc_\d{6}", tickets["account_id"].iloc[0])
