"""Real-browser tests of what an analyst and an account manager check on the page (issue 13).

- the per-AM view (``?am=…``) shows that AM's rows only and keeps the URL in step with the picker;
- the count of moves on the page equals the count `seg status` prints and the migrations table holds;
- a week a blocking check stopped (recorded by a real Dagster run) is on the page with its reason.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from seg_pipeline.defs.weekly import WEEKLY
from seg_pipeline.orchestration import latest_week_summary
from seg_pipeline.reports.dashboard import DashboardResult, build_dashboard_from_file
from seg_pipeline.reports.filters import AM_SELECT, BANNER
from seg_pipeline.reports.serve import serve_dashboard
from seg_pipeline.settings import Settings
from seg_pipeline.week_runs import week_outcomes
from seg_pipeline_tests.helpers.browser import chromium, find_chromium, wait_for_charts
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.reports.conftest import WEEKS, acc, mrr_of

pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install 'seg_pipeline[dev]')")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="chromium not installed (apt-get install -y chromium)"),
]

OK, BLOCKED = WEEKS[1].isoformat(), WEEKS[2].isoformat()
GATE = dg.AssetCheckSpec("volume_gate", asset=dg.AssetKey(["raw", "events"]), blocking=True, partitions_def=WEEKLY)


@dg.asset(key=["raw", "events"], partitions_def=WEEKLY, check_specs=[GATE])
def events(context: dg.AssetExecutionContext) -> Iterator[Any]:
    yield dg.MaterializeResult()
    passed = context.partition_key != BLOCKED
    yield dg.AssetCheckResult(
        check_name="volume_gate",
        passed=passed,
        description=None if passed else "product events fell 90% week over week",
    )


@dg.asset(key=["model", "fit"], partitions_def=WEEKLY, deps=[events])
def fit() -> None:
    """Downstream of the gate: skipped when the gate blocks."""


def _dagster_outcomes() -> list[dict[str, str]]:
    """Run two weeks of a real job on a real (ephemeral) Dagster instance: one ok, one stopped by a blocking check."""
    job = dg.Definitions(
        assets=[events, fit],
        jobs=[dg.define_asset_job("weekly_segmentation", executor_def=dg.in_process_executor)],
    ).resolve_job_def("weekly_segmentation")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with weekly_instance(OK, BLOCKED) as instance:
        for week in (OK, BLOCKED):
            job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False, run_config=quiet)
        return week_outcomes(instance)


@pytest.fixture(scope="module")
def page_url(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DashboardResult, str]]:
    outcomes = _dagster_outcomes()
    res = build_dashboard_from_file(
        warehouse, tmp_path_factory.mktemp("analyst") / "dashboard.html", week_outcomes=outcomes
    )
    server, url = serve_dashboard(res.path)
    try:
        yield res, url
    finally:
        server.close()


def _open(browser: Any, url: str, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="load")
    wait_for_charts(page)
    return page


VISIBLE_ROWS = """(sel) => [...document.querySelectorAll(sel + ' tbody tr')]
    .filter(tr => !tr.hidden && tr.offsetParent !== null).map(tr => tr.cells[0].textContent)"""


def test_per_am_view_shows_that_managers_accounts_only(page_url: tuple[DashboardResult, str]) -> None:
    _, url = page_url
    errors: list[str] = []
    with chromium() as browser:
        page = _open(browser, url + "?am=am_2", errors)
        assert page.input_value(f"#{AM_SELECT}") == "am_2"
        banner = page.inner_text(f"#{BANNER}")
        # am_2 owns accounts 20-39; 20 churned in week 3 and is gone by week 4 -> 21..39 in the latest week.
        # At-risk personas (segments 2 and 3) hold the accounts with i % 4 in {2, 3} (nobody in 21..39 moved).
        mine = range(21, 40)
        at_risk = [i for i in mine if i % 4 in (2, 3)]
        expected = (
            f"Showing Account manager Grace Hopper: {len(mine)} accounts, "
            f"MRR ${sum(mrr_of(i) for i in mine):,.0f}, {len(at_risk)} at risk "
            f"(${sum(mrr_of(i) for i in at_risk):,.0f} MRR)"
        )
        assert banner.startswith(expected), banner
        # outliers: acc 7 (am_1) and acc 30 (am_2) in the latest week; the AM view lists only her own
        assert page.evaluate(VISIBLE_ROWS, "table.outliers") == [acc(30)]
        # no account of am_2 moved into at-risk this week: the movers table says so instead of showing others'
        assert page.evaluate(VISIBLE_ROWS, "table.movers") == []
        assert page.locator("table.movers + p.filter-empty").is_visible()
        assert page.evaluate(VISIBLE_ROWS, "table.value-ams") == ["Grace Hopper"]

        # switching to am_1 in the picker rewrites the URL (shareable) and shows her three movers
        page.select_option(f"#{AM_SELECT}", "am_1")
        assert page.evaluate("() => window.location.search") == "?am=am_1"
        # confirmed first, then widest margin
        assert page.evaluate(VISIBLE_ROWS, "table.movers") == [acc(13), acc(14), acc(12)]
        assert page.evaluate(VISIBLE_ROWS, "table.outliers") == [acc(7)]
        # "all" clears the parameter and shows everyone again
        page.select_option(f"#{AM_SELECT}", "")
        assert page.evaluate("() => window.location.search") == ""
        assert len(page.evaluate(VISIBLE_ROWS, "table.outliers")) == 2

        # an AM name works too, and an unknown AM is said, not silently ignored
        page.goto(url + "?am=Grace%20Hopper", wait_until="load")
        assert page.input_value(f"#{AM_SELECT}") == "am_2"
        page.goto(url + "?am=nobody", wait_until="load")
        assert page.inner_text(f"#{BANNER}").startswith("No account manager nobody on this page")
    assert errors == []


def test_move_counts_agree_with_seg_status_and_the_migrations_table(
    page_url: tuple[DashboardResult, str], warehouse: Path, tmp_path: Path
) -> None:
    res, url = page_url
    latest = WEEKS[-1].isoformat()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        table_count = con.execute(
            "select count(*) from monitoring.segment_migrations where kind = 'segment' and week_start = ?", [latest]
        ).fetchone()[0]
        micro_rows = con.execute(
            "select count(*) from monitoring.segment_migrations where kind = 'micro_change'"
        ).fetchone()[0]
    finally:
        con.close()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(warehouse, home / "warehouse.duckdb")
    status = latest_week_summary(Settings.from_env({"SEG_HOME": str(home)}))
    assert status["week_start"] == latest
    assert status["moves"] == table_count == res.latest_moves == 3
    assert micro_rows == 0  # the fixture's ledger has none: the column must say 0, not count them as moves
    with chromium() as browser:
        errors: list[str] = []
        page = _open(browser, url, errors)
        title = page.evaluate("() => document.getElementById('chart-migrations').layout.title.text")
        assert f"{status['moves']} moves, {status['confirmed_moves']} confirmed" in title
        row = page.locator(f'#weeks tr[data-week="{latest}"] td').all_inner_texts()
        assert row[4:7] == [str(status["moves"]), str(status["confirmed_moves"]), "0"]
        assert f"migrations: {status['moves']} moves" in status["text"]
        # the header counts live segments, not every id ever seen
        assert page.inner_text("header p").startswith("4 live segments (4 ever seen)")
    assert errors == []


def test_blocked_week_is_shown_with_its_reason(page_url: tuple[DashboardResult, str]) -> None:
    res, url = page_url
    assert res.weeks_not_ok == (BLOCKED, WEEKS[-1].isoformat())
    with chromium() as browser:
        errors: list[str] = []
        page = _open(browser, url, errors)
        blocked = page.locator(f'#weeks tr[data-week="{BLOCKED}"]')
        assert blocked.get_attribute("class") == "state-blocked"
        cells = blocked.locator("td").all_inner_texts()
        assert cells[1] == "blocked"
        assert cells[2] == "raw/events:volume_gate (product events fell 90% week over week)"
        # the week whose alerts the mass-migration gate held (recorded by the sinks in the warehouse)
        held = page.locator(f'#weeks tr[data-week="{WEEKS[-1].isoformat()}"] td').all_inner_texts()
        assert held[1] == "blocked"
        assert "mass-migration gate" in held[2]
        ok = page.locator(f'#weeks tr[data-week="{OK}"] td').all_inner_texts()
        assert ok[1:3] == ["ok", ""]
        header = page.inner_text("header p")
        assert f"2 week(s) blocked or failed: {BLOCKED}" in header
    assert errors == []
