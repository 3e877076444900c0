"""Fixtures for the sink tests: a real DuckDB file, sink configs under tmp_path, a fake clock, real servers."""

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline_tests.sinks.servers import CrmState, WebhookState, crm_server, webhook_server

TOKEN = "test-token-7f3a"  # noqa: S105 - fake token shared with the local stand-in CRM server
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
WEEK1 = date(2026, 1, 5)
WEEK2 = WEEK1 + timedelta(days=7)
SEGMENTS = {0: "Power Users", 1: "Steady Core", 2: "Declining / At-Risk", 3: "Dormant", 4: "Expansion Candidates"}


@dataclass
class FakeClock:
    """Monotonic clock that only moves when the code under test sleeps."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield c
    c.close()


@pytest.fixture
def crm_config(tmp_path: Path) -> CrmConfig:
    """Export to files under tmp_path; batches of 10 at 10 requests/second when switched to REST."""
    return CrmConfig(export_dir=tmp_path / "home" / "outbox" / "crm", batch_size=10, rps=10.0)


@pytest.fixture
def alert_config(tmp_path: Path) -> AlertConfig:
    """Write alerts to a JSONL outbox under tmp_path, linking to the static dashboard file."""
    home = tmp_path / "home"
    return AlertConfig(outbox_path=home / "outbox" / "alerts.jsonl",
                       dashboard_url=(home / "reports" / "dashboard.html").resolve().as_uri())


def rest(config: CrmConfig, url: str, token: str | None = TOKEN) -> CrmConfig:
    """``config`` switched to the REST CRM at ``url``, authenticating with ``token``."""
    return replace(config, mode="rest", base_url=url, token=token)


def webhook(config: AlertConfig, url: str, secret: str | None = WEBHOOK_SECRET) -> AlertConfig:
    """``config`` switched to the signed webhook at ``url``."""
    return replace(config, channel="webhook", webhook_url=url, webhook_secret=secret)


@pytest.fixture
def crm() -> Iterator[tuple[str, CrmState]]:
    with crm_server(TOKEN) as served:
        yield served


@pytest.fixture
def hook() -> Iterator[tuple[str, WebhookState]]:
    with webhook_server(WEBHOOK_SECRET) as served:
        yield served


def make_assignments(n: int, week: date = WEEK1, changes: dict[str, dict] | None = None) -> pd.DataFrame:
    """Build ``n`` accounts with segment = i % 5; ``changes`` overrides columns per account id."""
    rows = []
    for i in range(n):
        acc = f"acc_{i:06d}"
        seg = i % 5
        row = {"account_id": acc, "week_start": week, "segment_id": seg, "segment_name": SEGMENTS[seg],
               "micro_community": None, "is_outlier": False, "margin": 1.5, "distance": 0.3,
               "model_version": "m1", "run_id": "run-1"}
        row.update((changes or {}).get(acc, {}))
        rows.append(row)
    return pd.DataFrame(rows)


def make_crm(n: int, n_am: int = 2) -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": [f"acc_{i:06d}" for i in range(n)],
        "account_name": [f"Company {i}" for i in range(n)],
        "account_manager_id": [f"am_{i % n_am:02d}" for i in range(n)],
        "account_manager_name": [f"Manager {i % n_am}" for i in range(n)],
        "account_manager_email": [f"am{i % n_am}@example.test" for i in range(n)],
        "status": "active",
    })


def make_crm_snapshot(n: int, week: date = WEEK1, n_am: int = 2) -> pd.DataFrame:
    """``staging.stg_crm_accounts`` rows with the model's full column set (dbt_like_sql/staging)."""
    crm = make_crm(n, n_am).drop(columns="status")
    return crm.assign(industry="software", employee_band="51-200", region="EMEA", plan="pro", seats=10,
                      mrr=500.0, signup_date=date(2024, 1, 1), renewal_date=date(2026, 6, 1), status="active",
                      is_active=True, week_start=week)


def move(acc: str, frm: int, to: int, *, week: date = WEEK1, kind: str = "segment", confirmed: bool = True,
         why: str = "logins -60 %, 4 P1 tickets") -> dict[str, object]:
    """One ``monitoring.segment_migrations`` row."""
    return {"account_id": acc, "week_start": week, "from_segment": frm, "to_segment": to,
            "from_name": SEGMENTS[frm], "to_name": SEGMENTS[to], "kind": kind, "margin": 1.2,
            "confirmed": confirmed, "explanation": why}


def seed_warehouse(con: duckdb.DuckDBPyConnection, *, assignments: pd.DataFrame | None, crm: pd.DataFrame,
                   migrations: list[dict[str, object]]) -> None:
    """Write the sinks stage's inputs into a warehouse whose declared tables exist (``Warehouse.connect``)."""
    if assignments is not None:
        con.register("_assignments", assignments)
        con.execute("INSERT INTO assignments.account_segments BY NAME SELECT * FROM _assignments")
    con.register("_crm", crm)
    con.execute("CREATE TABLE staging.stg_crm_accounts AS SELECT * FROM _crm")
    if migrations:
        con.register("_migrations", pd.DataFrame(migrations))
        con.execute("INSERT INTO monitoring.segment_migrations BY NAME SELECT * FROM _migrations")
