"""The input-drift gate end to end: a broken CRM export holds back the week's model, write-back and alerts.

A tiny simulated company runs two good weeks through the real weekly job (Dagster instance, DuckDB file, MLflow);
then its third week's CRM export arrives with MRR in thousandths of a dollar (x1000), and its fourth week's
with the renewal dates gone. Each week is blocked by ``input_drift_gate`` on the features, nothing reaches the CRM
or the account managers, the engineers get one alert naming the feature, and no model is trained on the broken
week. The intact exports then run through (the simulator's own weeks - real migrations between personas - never block).
"""

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from seg_pipeline.orchestration import run_weeks
from seg_pipeline.settings import Settings

pytestmark = pytest.mark.e2e
GATE = "features/account_features:input_drift_gate"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two good weeks run; the third and fourth weeks' landing files are in place but not yet run."""
    from dataclasses import replace

    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    settings = replace(Settings().with_home(tmp_path_factory.mktemp("input_drift")), mass_migration_threshold=0.9)
    settings.ensure_home()
    sim = simulate(SimulationConfig(accounts=250, weeks=4, seed=23), settings.landing_dir, settings.truth_dir)
    weeks = [str(w) for w in sim.weeks]
    runs = run_weeks(settings, weeks[:2])
    assert [r.state for r in runs] == ["ok", "ok"]  # real weeks with real persona moves pass the gate
    return {"settings": settings, "weeks": weeks}


def _alerts(settings: Settings) -> list[dict[str, Any]]:
    path = settings.outbox_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _run_broken(settings: Settings, week: str, edit: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Land the week's CRM export with ``edit`` applied, run the week, restore the export; (run, new alert lines)."""
    crm = settings.landing_dir / "crm_accounts" / f"accounts_{week}.csv"
    original = crm.read_text()
    frame = pd.read_csv(crm, dtype=str, keep_default_na=False)
    for column, change in edit.items():
        frame[column] = change(frame[column])
    frame.to_csv(crm, index=False)
    before = len(_alerts(settings))
    (run,) = run_weeks(settings, [week])
    crm.write_text(original)
    return run, _alerts(settings)[before:]


def _assert_held_back(settings: Settings, week: str, run: Any, new_alerts: list[dict[str, Any]], feature: str) -> None:
    assert run.state == "blocked"
    assert GATE in run.failed_checks
    assert feature in run.reason
    assert not (settings.outbox_dir / "crm" / f"crm_writeback_{week}.csv").exists()
    assert len(new_alerts) == 1  # the engineers, not the account managers
    assert "input drift" in json.dumps(new_alerts[0]).lower()
    assert feature in json.dumps(new_alerts[0])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        trained = con.execute("SELECT count(*) FROM model.training_runs WHERE week_start = ?", [week]).fetchall()
        assigned = con.execute("SELECT count(*) FROM assignments.account_segments WHERE week_start = ?",
                               [week]).fetchall()
        blocked = con.execute("SELECT blocked FROM sinks.alert_stats WHERE week_start = ?", [week]).fetchall()
    assert trained == [(0,)]  # no model learns from the broken week, so @champion stays a good reference
    assert assigned == [(0,)]
    assert blocked == [(True,)]


def test_a_unit_change_blocks_the_week_and_names_the_feature_and_factor(company):
    settings, week = company["settings"], company["weeks"][2]
    run, new_alerts = _run_broken(settings, week, {"mrr": lambda s: (s.astype(float) * 1000).astype(str)})
    _assert_held_back(settings, week, run, new_alerts, "mrr")
    assert "mrr: values x" in run.reason


def test_a_null_rate_jump_blocks_the_week_and_names_the_feature(company):
    settings, week = company["settings"], company["weeks"][3]
    run, new_alerts = _run_broken(settings, week, {"renewal_date": lambda s: s.where(s == "__never__", "")})
    _assert_held_back(settings, week, run, new_alerts, "weeks_to_renewal")
    assert "NULL rate 100%" in run.reason


def test_the_intact_exports_run_through_and_reach_the_crm(company):
    settings, weeks = company["settings"], company["weeks"][2:]
    for run, week in zip(run_weeks(settings, weeks), weeks, strict=True):
        assert run.state == "ok", run.reason
        assert GATE not in run.failed_checks
        assert Path(settings.outbox_dir / "crm" / f"crm_writeback_{week}.csv").exists()
