"""Headless Chromium via Playwright, for the real-browser dashboard test and the README screenshot.

Playwright is a dev dependency and uses the system Chromium (``playwright install`` is never run), so it is
imported lazily and every call says clearly when something is missing.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Keep Chromium from phoning home, so "no external requests" in the test is about the page, not the browser.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def find_chromium(executable: str | None = None) -> str | None:
    """Path of a usable Chromium binary, or None; an explicit ``executable`` is the only candidate."""
    candidates = (executable,) if executable else (DEFAULT_CHROMIUM, "chromium", "chromium-browser")
    for candidate in candidates:
        if found := shutil.which(candidate):
            return found
    return None


@contextmanager
def chromium(executable: str | None = None) -> Iterator[Any]:
    """Launch a headless Chromium ``Browser``; close it on exit."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the dev extra
        raise RuntimeError("playwright is not installed: pip install 'seg_pipeline[dev]'") from exc
    exe = find_chromium(executable)
    if exe is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium (do not run `playwright install`)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def wait_for_charts(page: Any, timeout_ms: int = 20_000) -> None:
    """Wait until every plotly div has drawn an SVG or a canvas."""
    page.wait_for_function(
        """() => {
            const divs = [...document.querySelectorAll('.plotly-graph-div')];
            return divs.every(d => d.querySelector('.main-svg, canvas'));
        }""",
        timeout=timeout_ms,
    )


def screenshot(
    url: str, path: Path, *, width: int = 1280, height: int = 900, full_page: bool = True,
    executable: str | None = None,
) -> Path:
    """Load ``url`` in headless Chromium, wait for the charts, save a PNG at ``path`` (e.g. the README image)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with chromium(executable) as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url, wait_until="load")
        wait_for_charts(page)
        page.screenshot(path=str(path), full_page=full_page)
    return path
