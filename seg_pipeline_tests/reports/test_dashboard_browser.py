"""Real-browser test: headless system Chromium loads the served dashboard and we check what a user would see."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seg_pipeline.reports.dashboard import DashboardResult, build_dashboard_from_file
from seg_pipeline.reports.sections import SANKEY_DIV, WEEK_SELECT
from seg_pipeline.reports.serve import serve_dashboard
from seg_pipeline_tests.helpers.browser import chromium, find_chromium, screenshot, wait_for_charts

pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install 'seg_pipeline[dev]')")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="chromium not installed (apt-get install -y chromium)"),
]

SANKEY_STATE = f"""() => {{
    const gd = document.getElementById('{SANKEY_DIV}');
    return {{
        visible: gd.data.map(t => t.visible === true),
        links: gd.querySelectorAll('.sankey-link').length,
        nodes: [...gd.querySelectorAll('.sankey-node .node-label')].map(n => n.textContent).sort(),
        title: (gd.querySelector('.gtitle') || {{}}).textContent || '',
    }};
}}"""


@pytest.fixture(scope="module")
def served(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DashboardResult, str]]:
    res = build_dashboard_from_file(warehouse, tmp_path_factory.mktemp("served") / "dashboard.html")
    server, url = serve_dashboard(res.path)
    try:
        yield res, url
    finally:
        server.close()


def test_dashboard_renders_in_chromium(served: tuple[DashboardResult, str], tmp_path: Path) -> None:
    res, url = served
    origin = url.rsplit("/", 1)[0]
    errors: list[str] = []
    requests: list[str] = []
    with chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url, wait_until="load")
        wait_for_charts(page)

        assert page.title() == "Segment health"
        assert page.inner_text("h1") == "Segment health"
        assert page.locator("h2").all_inner_texts() == [
            "Segment sizes and migrations", "Weeks and moves", "Revenue and value", "Segment profiles",
            "Segment health over time", "Movers and sinks",
        ]
        drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
            id: d.id,
            svg: [...d.querySelectorAll('.main-svg')].some(s => s.childElementCount > 0),
            canvas: d.querySelectorAll('canvas').length,
            traces: (d.data || []).length,
        }))""")
        assert len(drawn) == res.n_charts == 7
        assert all((c["svg"] or c["canvas"]) and c["traces"] > 0 for c in drawn), drawn

        # the latest week is shown first; picking the first week swaps the Sankey
        latest = page.evaluate(SANKEY_STATE)
        assert latest["visible"] == [False, False, True]
        assert latest["links"] == 1  # bands are confirmed segment moves: only acc 13 (Steady -> Declining)
        assert "2026-01-26" in latest["title"]
        page.select_option(f"#{WEEK_SELECT}", label="2026-01-12")
        # Sankey fades old links out (~0.5 s): poll for the settled state instead of sleeping
        page.wait_for_function(
            f"() => {{ const s = ({SANKEY_STATE})(); return s.title.includes('2026-01-12') && s.links === 2; }}",
            timeout=5_000,
        )
        first = page.evaluate(SANKEY_STATE)
        assert first["visible"] == [True, False, False]
        assert first["links"] == 2
        assert first["nodes"] != latest["nodes"]
        assert "Power Users" not in first["nodes"]  # nobody left Power Users that week

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
    assert errors == []
    # the page itself fetched nothing but the dashboard: plotly.js is inline, no fonts/CDN/analytics
    assert requests
    assert all(r.startswith(origin) for r in requests), requests


def test_screenshot_helper(served: tuple[DashboardResult, str], tmp_path: Path) -> None:
    _, url = served
    with pytest.raises(RuntimeError, match="chromium not found"):
        screenshot(url, tmp_path / "x.png", executable=str(tmp_path / "no-such-chromium"))
    out = screenshot(url, tmp_path / "readme" / "dashboard.png", width=1000, full_page=False)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert out.stat().st_size > 10_000
