"""Export scenarios (shape B): exact columns, an open vocabulary, planted orphans, and faithful CRM and usage.

CRM events and usage counts replay to exactly what the landing-file simulation of the same company shows.
"""

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import SCENARIO_NAMES, main
from seg_pipeline.sources.contracts import EMPLOYEE_BAND_EDGES, EMPLOYEE_BANDS
from seg_pipeline.sources.simulator import SimulationConfig, simulate
from seg_pipeline.sources.simulator.export_crm import COUNTRIES
from seg_pipeline.sources.simulator.export_usage import EVENT_TYPE_FEATURES, VOCABULARY
from seg_pipeline.sources.simulator.scenarios import SCENARIOS, run_scenario

# the spec's shape B, column for column
SHAPE_B = {
    "accounts.csv": ["account_id", "company_name", "industry", "employee_count", "country", "created_date",
                     "owner_id", "owner_name", "owner_email"],
    "subscriptions.csv": ["subscription_id", "account_id", "plan_tier", "seats", "mrr_usd", "start_date", "end_date"],
    "subscription_events.csv": ["subscription_id", "event_date", "event_type", "plan_tier", "seats", "mrr_usd"],
    "churn_events.csv": ["account_id", "churn_date", "reason"],
    "support_tickets.csv": ["ticket_id", "account_id", "created_at", "resolved_at", "priority", "category",
                            "satisfaction_score"],
}
USAGE_COLUMNS = ["usage_date", "subscription_id", "feature_name", "usage_count", "usage_duration_secs"]
SPARSE = SCENARIOS["sparse"].config(accounts=300, seed=5, weeks=10)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _export(scenario: str, config: SimulationConfig, root: Path) -> Path:
    run_scenario(SCENARIOS[scenario], config, landing_dir=root / "landing", export_dir=root / "exports",
                 truth_dir=root / "truth")
    return root


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export("sparse", SPARSE, tmp_path_factory.mktemp("sparse"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the same company (same config, sparse activity included) as landing files."""
    root = tmp_path_factory.mktemp("landing")
    simulate(SPARSE, root / "landing", root / "truth")
    return root


def _csv(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "exports" / name, keep_default_na=False, na_values=[""], dtype={"account_id": str})


def _usage(root: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in sorted((root / "exports" / "feature_usage").glob("usage_*.csv"))],
                     ignore_index=True)


def _faults(root: Path) -> dict:
    return json.loads((root / "truth" / "planted_faults.json").read_text(encoding="utf-8"))


def test_export_files_have_exactly_the_spec_columns(sparse: Path) -> None:
    for name, columns in SHAPE_B.items():
        header = (sparse / "exports" / name).read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == columns, name
    months = sorted(p.name for p in (sparse / "exports" / "feature_usage").iterdir())
    assert months == ["usage_2026-01.csv", "usage_2026-02.csv", "usage_2026-03.csv"]
    for month in months:
        frame = pd.read_csv(sparse / "exports" / "feature_usage" / month)
        assert list(frame.columns) == USAGE_COLUMNS
        assert frame["usage_date"].str.startswith(month[6:13]).all()
        assert (frame["usage_count"] > 0).all()
        assert (frame["usage_duration_secs"] >= 0).all()
    assert {p.name for p in (sparse / "truth").iterdir()} == {
        "personas.parquet", "migrations.parquet", "churn.parquet", "activity.parquet", "planted_faults.json"}


def test_values_follow_the_spec_vocabularies(sparse: Path) -> None:
    subs = _csv(sparse, "subscriptions.csv")
    events = _csv(sparse, "subscription_events.csv")
    tickets = _csv(sparse, "support_tickets.csv")
    accounts = _csv(sparse, "accounts.csv")
    assert subs["subscription_id"].str.fullmatch(r"sub_\d{6}").all()
    assert subs["account_id"].is_unique
    assert subs["subscription_id"].is_unique
    assert set(subs["plan_tier"]) | set(events["plan_tier"]) <= {"Starter", "Growth", "Business", "Enterprise"}
    assert set(events["event_type"]) <= {"upgrade", "downgrade", "seat_change", "renewal"}
    assert {"renewal", "seat_change"} <= set(events["event_type"])
    assert set(tickets["priority"]) == {"Low", "Medium", "High", "Urgent"}
    assert set(tickets["category"]) <= {"Bug", "Question", "Billing", "Integration", "Performance",
                                        "Feature Request"}
    assert tickets["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    resolved = tickets["resolved_at"].dropna()
    assert resolved.str.endswith("Z").all()
    assert 0 < len(resolved) < len(tickets)
    assert tickets["satisfaction_score"].dropna().between(1, 5).all()
    assert tickets.loc[tickets["resolved_at"].isna(), "satisfaction_score"].isna().all()
    assert set(accounts["country"]) <= {c for cs in COUNTRIES.values() for c in cs}
    assert accounts["employee_count"].dtype.kind == "i"
    assert (accounts["employee_count"] >= 1).all()
    assert pd.to_datetime(accounts["created_date"], format="%Y-%m-%d").notna().all()


def test_usage_has_an_open_vocabulary_of_at_least_30_product_features(sparse: Path) -> None:
    names = set(_usage(sparse)["feature_name"])
    assert len(names) >= 30
    assert {"Session Start", "API Access", "CSV Export", "Report Builder", "Dashboard View"} <= names
    # the sparse company's product has no invite feature at all: the registry's `invites` is constant
    assert "Invite Teammate" not in names
    assert _faults(sparse)["constant_features"] == ["invites"]
    assert _faults(sparse)["product_features"] == len(names) == len(VOCABULARY) - 1


def test_usage_counts_are_the_events_of_the_same_company(sparse: Path, landing: Path) -> None:
    """Per account, day and event type, usage counts add up to the landing events (invites dropped)."""
    usage = _usage(sparse)
    subs = _csv(sparse, "subscriptions.csv").set_index("subscription_id")["account_id"]
    usage = usage[usage["subscription_id"].isin(subs.index)]
    usage = usage.assign(account_id=usage["subscription_id"].map(subs))
    kind = {name: etype for etype, (name, _) in EVENT_TYPE_FEATURES.items()}
    usage["event_type"] = usage["feature_name"].map(kind).fillna("feature_use")
    got = usage.groupby(["account_id", "usage_date", "event_type"])["usage_count"].sum()
    ev = pq.read_table(landing / "landing" / "product_events", columns=["account_id", "event_type", "event_ts"]
                       ).to_pandas()
    ev = ev[ev["event_type"] != "invite"]
    ev["usage_date"] = ev["event_ts"].dt.strftime("%Y-%m-%d")
    want = ev.groupby(["account_id", "usage_date", "event_type"]).size()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_crm_events_replay_to_every_weekly_snapshot(sparse: Path, landing: Path) -> None:
    """As of each week's end, subscriptions + events + churns give that week's CRM snapshot (plan, seats, MRR)."""
    subs = _csv(sparse, "subscriptions.csv")
    events = _csv(sparse, "subscription_events.csv").merge(subs[["subscription_id", "account_id"]])
    churn = _csv(sparse, "churn_events.csv").set_index("account_id")["churn_date"]
    accounts = _csv(sparse, "accounts.csv").set_index("account_id")
    for w in range(SPARSE.weeks):
        week = SPARSE.start + timedelta(weeks=w)
        end = (week + timedelta(days=6)).isoformat()
        snap = pd.read_csv(landing / "landing" / "crm_accounts" / f"accounts_{week}.csv").set_index("account_id")
        alive = subs[(subs["start_date"] <= end) & ~subs["account_id"].map(churn).lt(week.isoformat())]
        state = pd.concat([alive.assign(event_date=alive["start_date"]),
                           events[events["event_date"] <= end]]).sort_values("event_date", kind="stable")
        state = state[state["account_id"].isin(alive["account_id"])].groupby("account_id").last()
        assert set(state.index) == set(snap.index), week
        snap = snap.loc[state.index]
        assert (state["plan_tier"].str.lower() == snap["plan"]).all(), week
        assert (state["seats"] == snap["seats"]).all(), week
        assert (state["mrr_usd"] - snap["mrr"]).abs().max() < 0.005, week
        churned = state.index.map(churn).fillna("9999") <= end
        assert ((snap["status"] == "churned") == churned).all(), week
        assert (accounts.loc[state.index, "created_date"] == snap["signup_date"]).all()
    bands = pd.read_csv(landing / "landing" / "crm_accounts" / f"accounts_{SPARSE.start}.csv").set_index(
        "account_id")["employee_band"]
    edges = pd.cut(accounts.loc[bands.index, "employee_count"], [0, *EMPLOYEE_BAND_EDGES, float("inf")],
                   labels=EMPLOYEE_BANDS)
    assert (edges.astype(str) == bands).all()


def test_tickets_are_the_final_state_of_the_weekly_ticket_files(sparse: Path, landing: Path) -> None:
    exported = _csv(sparse, "support_tickets.csv").set_index("ticket_id")
    weekly = pd.concat([pd.read_json(p, lines=True, dtype={"resolved_at": str, "csat": "Int64"})
                        for p in sorted((landing / "landing" / "support_tickets").glob("*.jsonl"))])
    last = weekly.groupby("ticket_id").last()
    assert set(last.index) <= set(exported.index)
    got = exported.loc[last.index]
    assert (got["account_id"] == last["account_id"]).all()
    resolved = last["status"].isin(["solved", "closed"])
    assert got["resolved_at"].notna().eq(resolved).all()
    want = pd.to_datetime(last.loc[resolved, "resolved_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (got.loc[resolved, "resolved_at"] == want).all()
    assert got["satisfaction_score"].astype("Int64").equals(last["csat"].astype("Int64"))
    assert _faults(sparse)["tickets_created_before_first_week"] == int(
        (exported["created_at"] < f"{SPARSE.start}T").sum())


def test_orphans_are_planted_and_counted(sparse: Path) -> None:
    faults = _faults(sparse)
    usage = _usage(sparse)
    subs = set(_csv(sparse, "subscriptions.csv")["subscription_id"])
    orphan_usage = usage[~usage["subscription_id"].isin(subs)]
    assert faults["orphan_usage"]["rows"] == len(orphan_usage)
    assert 0.002 < len(orphan_usage) / len(usage) < 0.01
    assert sorted(set(orphan_usage["subscription_id"])) == faults["orphan_usage"]["ids"]
    days = pd.to_datetime(orphan_usage["usage_date"])
    per_week = (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d").value_counts()
    assert per_week.to_dict() == faults["orphan_usage"]["per_week"]
    tickets = _csv(sparse, "support_tickets.csv")
    known = set(_csv(sparse, "accounts.csv")["account_id"])
    orphan_tickets = tickets[~tickets["account_id"].isin(known)]
    assert faults["orphan_tickets"]["rows"] == len(orphan_tickets) > 0
    assert sorted(set(orphan_tickets["account_id"])) == faults["orphan_tickets"]["ids"]
    assert tickets["ticket_id"].is_unique
    assert sum(faults["orphan_tickets"]["per_week"].values()) == len(orphan_tickets)


def test_same_seed_same_bytes_and_rerun_replaces_a_longer_export(sparse: Path, tmp_path: Path) -> None:
    _export("sparse", SPARSE, tmp_path)
    assert _digest(tmp_path) == _digest(sparse)
    shorter = SCENARIOS["sparse"].config(accounts=300, seed=5, weeks=2)
    _export("sparse", shorter, tmp_path)
    assert sorted(p.name for p in (tmp_path / "exports" / "feature_usage").iterdir()) == ["usage_2026-01.csv"]
    assert _usage(tmp_path)["usage_date"].max() < "2026-01-19"


def test_history_starts_in_2023_with_default_activity_and_all_features(tmp_path: Path) -> None:
    scenario = SCENARIOS["history"]
    assert scenario.start == date(2023, 1, 2)
    root = _export("history", scenario.config(accounts=200, seed=3, weeks=5), tmp_path)
    usage = _usage(root)
    assert usage["usage_date"].min() == "2023-01-02"
    assert usage["usage_date"].max() == "2023-02-05"
    assert "Invite Teammate" in set(usage["feature_name"])
    assert len(set(usage["feature_name"])) >= 30
    assert not (root / "truth" / "activity.parquet").exists()
    assert _faults(root)["orphan_usage"]["rows"] > 0
    assert _faults(root)["constant_features"] == []
    personas = pd.read_parquet(root / "truth" / "personas.parquet")
    assert str(personas["week_start"].min()) == "2023-01-02"


def test_cli_simulate_sparse_writes_the_export(tmp_path: Path) -> None:
    assert set(SCENARIO_NAMES) == set(SCENARIOS)
    home = tmp_path / "home"
    out = CliRunner().invoke(main, ["--home", str(home), "simulate", "--scenario", "sparse", "--weeks", "3",
                                    "--accounts", "200"])
    assert out.exit_code == 0, out.output
    for name in SHAPE_B:
        assert (home / "exports" / name).is_file()
    assert list((home / "exports" / "feature_usage").glob("usage_2026-01.csv"))
    assert (home / "truth" / "planted_faults.json").is_file()
    assert not list((home / "landing").rglob("*.*")), "an export scenario leaves the landing zone to `seg import`"
    assert "seg import" in out.output
    custom = CliRunner().invoke(main, ["--home", str(home), "simulate", "--scenario", "history", "--weeks", "2",
                                       "--accounts", "100", "--out", str(tmp_path / "hist")])
    assert custom.exit_code == 0, custom.output
    assert (tmp_path / "hist" / "feature_usage" / "usage_2023-01.csv").is_file()
    bad = CliRunner().invoke(main, ["--home", str(home), "simulate", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
    assert "fix:" in bad.output


def test_docs_list_every_product_feature_and_scenario() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    for name in VOCABULARY:
        assert f"| {name} |" in text, name
    for name in SCENARIOS:
        assert f"| `{name}` |" in text, name
