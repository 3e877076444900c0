"""A small hand-built warehouse (real DuckDB file): 4 weeks, 4 segments, 40 accounts, every dashboard table."""

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from seg_pipeline.features import registry

WEEKS = [dt.date(2026, 1, 5) + dt.timedelta(weeks=i) for i in range(4)]
# persona names (segmentation.personas): "Declining / At-Risk" and "Dormant" are the at-risk ones
SEGMENTS = {0: "Power Users", 1: "Steady Core", 2: "Declining / At-Risk", 3: "Dormant"}
N_ACCOUNTS = 40
# (account index, week index) -> new segment; the number of moves differs per week so the Sankey changes
MOVES = {(1, 1): 2, (3, 1): 2, (5, 2): 2, (6, 2): 3, (10, 2): 1, (12, 3): 2, (13, 3): 2, (14, 3): 3}
CHURN = {20: 2, 21: 3}  # account index -> week index whose CRM snapshot first says churned
# account managers: am_1 owns accounts 0-19, am_2 owns 20-39; MRR = 100 * (index + 1), seats = index % 7 + 1
AMS = {"am_1": "Ada Lovelace", "am_2": "Grace Hopper"}
OUTLIERS = {(7, 3), (30, 3)}  # (account index, week index) flagged as DBSCAN noise
MICRO = {(8, 3): 1, (9, 3): 1}  # (account index, week index) -> micro-community


def am_of(i: int) -> str:
    return "am_1" if i < 20 else "am_2"


def mrr_of(i: int) -> float:
    return 100.0 * (i + 1)


def acc(i: int) -> str:
    return f"acc_{i:06d}"


def _segments() -> pd.DataFrame:
    rows = []
    for i in range(N_ACCOUNTS):
        seg = i % 4
        for w, week in enumerate(WEEKS):
            seg = MOVES.get((i, w), seg)
            if i in CHURN and w > CHURN[i]:
                continue  # churned accounts disappear after their churn week
            rows.append({
                "account_id": acc(i), "week_start": week, "segment_id": seg, "segment_name": SEGMENTS[seg],
                "micro_community": MICRO.get((i, w)), "is_outlier": (i, w) in OUTLIERS, "margin": 1.0 + (i % 5) / 10,
                "distance": 0.5,
                "model_version": f"v{w + 1}", "run_id": f"run{w + 1}",
            })
    return pd.DataFrame(rows).astype({"micro_community": "Int32"})


def _features(segments: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    # segment-level means per feature; power users high usage, at-risk many tickets, dormant little of anything
    level = {0: 3.0, 1: 1.0, 2: 0.6, 3: 0.1}
    tickets = {0: 1.0, 1: 1.0, 2: 6.0, 3: 0.2}
    out = segments[["account_id", "week_start", "segment_id"]].copy()
    for f in registry.FEATURES:
        if f.kind != "numeric":
            continue
        base = np.array([tickets[s] if "ticket" in f.name or "backlog" in f.name else level[s]
                         for s in out["segment_id"]])
        vals = base * 10 * (1 + 0.1 * rng.standard_normal(len(out)))
        out[f.name] = np.round(vals).astype(int) if f.dtype == "INTEGER" else vals
    out["plan"] = "growth"
    out["has_activity"] = out["segment_id"] != 3
    return out.drop(columns="segment_id")


def _migrations(segments: pd.DataFrame) -> pd.DataFrame:
    seg_of = {(r.account_id, r.week_start): r.segment_id for r in segments.itertuples()}
    rows = []
    for (i, w), to in MOVES.items():
        frm = seg_of[(acc(i), WEEKS[w - 1])]
        rows.append({
            "account_id": acc(i), "week_start": WEEKS[w], "from_segment": frm, "to_segment": to,
            "from_name": SEGMENTS[frm], "to_name": SEGMENTS[to], "kind": "segment", "margin": 1.0 + i / 10,
            "confirmed": i % 2 == 1, "explanation": f"logins -{3 * i} %, {i % 5} P1 tickets",
        })
    return pd.DataFrame(rows)


def _crm(segments: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i in range(N_ACCOUNTS):
        for w, week in enumerate(WEEKS):
            if i in CHURN and w > CHURN[i]:
                continue
            status = "churned" if i in CHURN and w == CHURN[i] else "active"
            rows.append({"account_id": acc(i), "week_start": week, "account_name": f"Company {i}",
                         "status": status, "mrr": mrr_of(i), "seats": i % 7 + 1,
                         "renewal_date": dt.date(2026, 6, 1) + dt.timedelta(days=i),
                         "account_manager_id": am_of(i), "account_manager_name": AMS[am_of(i)]})
    return pd.DataFrame(rows)


def build_warehouse(path: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """Create every table the dashboard reads, except those named in ``skip``."""
    segments = _segments()
    tables: dict[str, pd.DataFrame] = {
        "assignments.account_segments": segments,
        "assignments.segment_catalog": pd.DataFrame({
            "segment_id": list(SEGMENTS), "segment_name": list(SEGMENTS.values()),
            "first_week": WEEKS[0], "last_week": WEEKS[-1], "status": "active",
            "profile_json": "{}",
        }),
        "monitoring.segment_migrations": _migrations(segments),
        "monitoring.drift_summary": pd.DataFrame({
            "week_start": WEEKS[1:] * 3,
            "reference": ["previous_week"] * 3 + ["training"] * 3 + ["segment:0"] * 3,
            "n_features": 16, "n_drifted": [1, 4, 9, 2, 5, 10, 16, 16, 16],
            "share_drifted": [x / 16 for x in (1, 4, 9, 2, 5, 10, 16, 16, 16)],
            "drifted_features": ["mrr", "mrr,seats", "many"] * 3, "html_path": "x.html", "json_path": "x.json",
        }),
        "features.account_features": _features(segments),
        "staging.stg_crm_accounts": _crm(segments),
        "model.training_runs": pd.DataFrame({
            "week_start": WEEKS, "model_version": ["1", "2", "3", "4"], "silhouette": [0.41, 0.43, 0.38, 0.12],
            "stability_ari": [1.0, 0.92, 0.88, 0.4], "changed_share": [0.0, 0.05, 0.15, 0.6],
            "promoted": [True, True, True, False],
            "gate_reasons": ["", "", "", "stability 0.40 < 0.5"],
        }),
        "sinks.writeback_stats": pd.DataFrame({
            "week_start": WEEKS, "sent": [40, 5, 6, 0], "unchanged": [0, 35, 33, 0], "failed": [0, 0, 1, 0],
            "dead_lettered": [0, 1, 0, 0],
        }),
        "sinks.alert_stats": pd.DataFrame({
            "week_start": WEEKS, "digests_sent": [0, 2, 3, 0], "moves_alerted": [0, 2, 3, 0],
            "blocked": [False, False, False, True],
        }),
    }
    con = duckdb.connect(str(path))
    try:
        for name, df in tables.items():
            if name in skip:
                continue
            schema = name.split(".")[0]
            con.execute(f"create schema if not exists {schema}")
            con.register("df_view", df)
            con.execute(f"create or replace table {name} as select * from df_view")  # noqa: S608 - literal keys above
            con.unregister("df_view")
            if "week_start" in df.columns:
                con.execute(f"alter table {name} alter column week_start type date")
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("wh") / "warehouse_snapshot.duckdb")


@pytest.fixture
def ro_con(warehouse: Path):
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()
