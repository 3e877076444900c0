"""The export-shaped simulator scenarios, end to end the way a user runs them.

`seg simulate --scenario …`, then `seg import` with the mapping file users copy from docs/mappings/, then
`seg run --all`, `seg status`, the dashboard. No private shortcut: the pipeline only sees what the importer wrote
into the landing zone.
"""

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import main
from seg_pipeline.settings import PROJECT_ROOT

MAPPINGS = PROJECT_ROOT / "docs" / "mappings"


def _seg(home: Path, *args: str) -> str:
    out = CliRunner().invoke(main, ["--home", str(home), *args], env={"SEG_FIRST_WEEK": None})
    assert out.exception is None or isinstance(out.exception, SystemExit), out.output
    return out.output


def _run_scenario(home: Path, scenario: str, *extra: str) -> tuple[int, dict[str, str]]:
    """Simulate ``scenario``, import it with its docs mapping, run every week; returns (exit code, week states)."""
    _seg(home, "simulate", "--scenario", scenario, "--accounts", "300", "--seed", "5", *extra)
    report = json.loads(_seg(home, "import", str(home / "exports"), "--mapping",
                             str(MAPPINGS / f"{scenario}.yaml"), "--json"))
    assert report["reconciled"], report  # in = written + rejected + skipped, per source and per file
    run = CliRunner().invoke(main, ["--home", str(home), "run", "--all"], env={"SEG_FIRST_WEEK": None})
    assert "Traceback" not in run.output
    status = json.loads(_seg(home, "status", "--json"))
    return run.exit_code, {w["week"]: w["state"] for w in status["weeks"]}


@pytest.mark.e2e
def test_sparse_export_imports_and_runs_every_week(tmp_path):
    home = tmp_path / "h"
    code, states = _run_scenario(home, "sparse", "--weeks", "4")
    faults = json.loads((home / "truth" / "planted_faults.json").read_text())
    assert list(states) == [faults["first_week"], "2026-01-12", "2026-01-19", faults["last_week"]]
    assert "failed" not in states.values(), states
    assert "not run" not in states.values(), states
    assert code in (0, 3)  # 3 only when a week was held back by a blocking check, never a failure
    # the planted orphan usage rows are rejected as unresolvable, each one, and the ticket orphans are reported
    rejects = (home / "landing" / "import_rejects" / "product_usage.jsonl").read_text().splitlines()
    assert len(rejects) == faults["orphan_usage"]["rows"]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        weeks = con.execute("SELECT count(DISTINCT week_start) FROM features.account_features").fetchone()
        usage_rows = con.execute("SELECT count(*) FROM raw.product_usage").fetchone()
        events = con.execute("SELECT count(*) FROM raw.product_events").fetchone()
    assert weeks == (4,)
    assert usage_rows is not None
    assert usage_rows[0] > 0  # daily aggregates loaded as such, not expanded into fake events
    assert events == (0,)
    dashboard = (home / "reports" / "dashboard.html").read_text()
    for week in states:
        assert week in dashboard


@pytest.mark.e2e
def test_history_export_from_2023_runs(tmp_path):
    home = tmp_path / "h"
    code, states = _run_scenario(home, "history", "--weeks", "3")
    assert list(states) == ["2023-01-02", "2023-01-09", "2023-01-16"]
    assert "failed" not in states.values(), states
    assert code in (0, 3)
