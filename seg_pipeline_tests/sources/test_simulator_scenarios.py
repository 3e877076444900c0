"""Simulator scenarios: sparse activity keeps the planted truth, default output stays as it was."""

import hashlib
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from seg_pipeline.sources.simulator import SimulationConfig, simulate

SPARSE = SimulationConfig(accounts=300, weeks=30, seed=5, active_share=(0.3, 0.5))


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sparse_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sparse")
    simulate(SPARSE, root / "landing", root / "truth")
    return root


@pytest.fixture(scope="module")
def dense_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dense")
    simulate(SimulationConfig(accounts=SPARSE.accounts, weeks=SPARSE.weeks, seed=SPARSE.seed),
             root / "landing", root / "truth")
    return root


def _event_weeks(root: Path) -> pd.DataFrame:
    """Distinct (account_id, week_start) pairs that have any product event."""
    ev = pq.read_table(root / "landing" / "product_events", columns=["account_id", "event_ts"]).to_pandas()
    day = ev["event_ts"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    ev["week_start"] = (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.date
    return ev[["account_id", "week_start"]].drop_duplicates()


def test_sparse_accounts_are_active_in_30_to_50_percent_of_weeks(sparse_root: Path) -> None:
    act = pd.read_parquet(sparse_root / "truth" / "activity.parquet")
    per_account = act.groupby("account_id")["active"].agg(["mean", "size"])
    long_lived = per_account[per_account["size"] >= 25]["mean"]
    assert len(long_lived) > 200
    # each share is a binomial draw around a propensity in [0.3, 0.5]: the average sits inside, and only the
    # binomial noise (sd <= 0.1 at 25 weeks) spreads single accounts beyond the range
    assert 0.36 < long_lived.mean() < 0.44
    assert long_lived.between(0.3 - 0.2, 0.5 + 0.2).mean() > 0.97
    assert long_lived.between(0.3, 0.5).mean() > 0.5


def _with_events(root: Path, rows: pd.DataFrame) -> pd.Series:
    """Whether each (account_id, week_start) row has any product event; rows must cover every event week."""
    rows = rows.assign(week_start=pd.to_datetime(rows["week_start"]).dt.date)
    seen = _event_weeks(root).assign(has_events=True)
    merged = rows.merge(seen, on=["account_id", "week_start"], how="outer", indicator=True)
    assert (merged["_merge"] != "right_only").all(), "events only for listed account-weeks"
    return merged.set_index(["account_id", "week_start"])["_merge"].eq("both")


def test_inactive_weeks_have_no_events_and_active_weeks_follow_the_persona(
        sparse_root: Path, dense_root: Path) -> None:
    act = pd.read_parquet(sparse_root / "truth" / "activity.parquet")
    has_events = _with_events(sparse_root, act)
    active = act.assign(week_start=pd.to_datetime(act["week_start"]).dt.date).set_index(
        ["account_id", "week_start"])["active"].reindex(has_events.index)
    assert not (has_events & ~active).any()
    # an active week shows events as often as any week of the dense company (dormant accounts often have none)
    dense_alive = pd.read_parquet(dense_root / "truth" / "personas.parquet")
    assert abs(has_events[active].mean() - _with_events(dense_root, dense_alive).mean()) < 0.03


def test_sparse_changes_only_events_never_the_truth_crm_or_tickets(sparse_root: Path, dense_root: Path) -> None:
    sparse, dense = _digest(sparse_root), _digest(dense_root)
    for name in ("personas", "migrations", "churn"):
        assert sparse[f"truth/{name}.parquet"] == dense[f"truth/{name}.parquet"]
    same = [k for k in dense if k.startswith(("landing/crm_accounts", "landing/support_tickets"))]
    assert len(same) == 2 * SPARSE.weeks
    assert all(sparse[k] == dense[k] for k in same)
    events = [k for k in dense if k.startswith("landing/product_events")]
    assert sum(sparse[k] != dense[k] for k in events) == len(events)
    assert "truth/activity.parquet" not in dense


def test_sparse_is_deterministic(sparse_root: Path, tmp_path: Path) -> None:
    config = SimulationConfig(accounts=SPARSE.accounts, weeks=3, seed=SPARSE.seed, active_share=(0.3, 0.5))
    simulate(config, tmp_path / "a" / "landing", tmp_path / "a" / "truth")
    simulate(config, tmp_path / "b" / "landing", tmp_path / "b" / "truth")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    # the first weeks do not depend on how many weeks follow
    first = f"landing/product_events/events_{SPARSE.start + timedelta(days=3)}.parquet"
    assert _digest(tmp_path / "a")[first] == _digest(sparse_root)[first]


def test_default_config_output_is_unchanged(tmp_path: Path) -> None:
    """Digest of ``SimulationConfig(accounts=300, weeks=3)`` taken before scenarios existed."""
    simulate(SimulationConfig(accounts=300, weeks=3), tmp_path / "landing", tmp_path / "truth")
    digest = hashlib.sha256(repr(sorted(_digest(tmp_path).items())).encode()).hexdigest()
    assert digest == DEFAULT_300x3_DIGEST


@pytest.mark.parametrize("share", [(0.0, 0.5), (0.6, 0.4), (0.3, 1.2)])
def test_invalid_active_share_is_rejected(share: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="active_share"):
        SimulationConfig(active_share=share)


# sha256 over the sorted (file, sha256) pairs of the default 300 x 3 simulation, taken on the commit before
# scenarios were added (pyarrow 25 / zstd). A pyarrow upgrade that changes Parquet bytes needs a new baseline taken
# from the code before the change, never from the code under test.
DEFAULT_300x3_DIGEST = "337a3945429761fb3f9f05c1c04c492e5e6e2ed316103a87d600d693791cb63f"
