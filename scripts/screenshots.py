"""Regenerate the README screenshots: the segment-health dashboard and the Dagster global asset lineage.

Usage (from the repo root):
    .venv/bin/python scripts/screenshots.py                      # fresh tiny demo in a tmp dir (~1.5 min)
    .venv/bin/python scripts/screenshots.py --home ~/seg_home    # an already materialized SEG_HOME

Both pages are rendered by headless system Chromium (Playwright, never `playwright install`), served on
127.0.0.1 only. The webserver runs `--read-only` so taking pictures cannot launch runs or toggle schedules.
"""

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

# the browser and webserver helpers are test tooling (seg_pipeline_tests.helpers), not part of the package:
# run from a checkout, this repo's root must be importable whatever the current directory is
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_pipeline.reports.serve import serve_dashboard
from seg_pipeline.settings import PROJECT_ROOT, Settings
from seg_pipeline_tests.helpers.browser import chromium, screenshot
from seg_pipeline_tests.helpers.webserver import dagster_webserver

OUT_DIR = PROJECT_ROOT / "docs" / "img"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"
TINY = {"accounts": 250, "weeks": 3, "seed": 11}
# an asset name drawn only inside the graph (the group sidebar lists groups): the layout has rendered
GRAPH_READY_TEXT = "segment_dashboard"


def build_demo_home(home: Path, *, accounts: int, weeks: int, seed: int) -> Settings:
    """Simulate a small company into ``home`` and materialize every week (what the test fixture does)."""
    from seg_pipeline.orchestration import run_weeks
    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    saved = os.environ.get("SEG_MASS_MIGRATION_THRESHOLD")
    # tiny data is noisy: keep the mass-migration gate from holding back a demo week (as the test fixture does)
    os.environ["SEG_MASS_MIGRATION_THRESHOLD"] = "0.9"
    try:
        settings = Settings.from_env().with_home(home)
        settings.ensure_home()
        sim = simulate(SimulationConfig(accounts=accounts, weeks=weeks, seed=seed),
                       settings.landing_dir, settings.truth_dir)
        runs = run_weeks(settings, [str(w) for w in sim.weeks], progress=lambda m: print(m, flush=True))
    finally:
        if saved is None:
            os.environ.pop("SEG_MASS_MIGRATION_THRESHOLD", None)
        else:
            os.environ["SEG_MASS_MIGRATION_THRESHOLD"] = saved
    failed = [r for r in runs if not r.success]
    if failed:
        raise SystemExit(f"demo week {failed[0].week} failed: {failed[0].error}")
    return settings


def shoot_dashboard(settings: Settings, out: Path, *, width: int = 1280, height: int = 900) -> Path:
    """Shoot the top of the dashboard (sizes + migrations Sankey) as a viewport crop: the full page is several MB."""
    path = settings.reports_dir / "dashboard.html"
    server, url = serve_dashboard(path)
    with server:
        return screenshot(url, out, width=width, height=height, full_page=False)


def shoot_asset_graph(base: str, out: Path, *, width: int = 1800, height: int = 1000) -> Path:
    """Global asset lineage with every stage group expanded, navigation and group tree hidden."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    out.parent.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{base}/asset-groups", wait_until="networkidle")
        # a fresh instance greets with a "join the community" dialog
        with contextlib.suppress(PlaywrightTimeout):
            page.get_by_role("button", name="Skip").click(timeout=3000)
        nav = page.get_by_role("button", name="Hide navigation")
        if nav.count():
            nav.click()
        page.keyboard.press("Alt+e")  # "Expand all groups" (the graph's own shortcut)
        page.get_by_text(GRAPH_READY_TEXT, exact=True).first.wait_for(state="visible", timeout=30_000)
        # hide the group tree only now: the graph was fitted to the narrower pane, so it fits vertically too
        toggle = page.locator("xpath=//input[@placeholder='Jump to…']/following::button[1]")
        if toggle.count():
            toggle.click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1000)  # edge animation; nothing to poll for
        page.mouse.move(0, height - 1)  # no hover tooltip in the picture
        page.screenshot(path=str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    """Write the dashboard and asset-graph screenshots, from a given home or a fresh tiny demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="materialized SEG_HOME (default: a fresh tiny demo in a tmp dir)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default: docs/img)")
    parser.add_argument("--accounts", type=int, default=TINY["accounts"])
    parser.add_argument("--weeks", type=int, default=TINY["weeks"])
    parser.add_argument("--seed", type=int, default=TINY["seed"])
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        if args.home:
            settings = Settings.from_env().with_home(args.home.expanduser())
            if not (settings.reports_dir / "dashboard.html").exists():
                raise SystemExit(f"no dashboard under {settings.home}: run `seg demo` there first")
        else:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seg_screens_")))
            settings = build_demo_home(home, accounts=args.accounts, weeks=args.weeks, seed=args.seed)
        t0 = time.perf_counter()
        dash = shoot_dashboard(settings, args.out / "dashboard.png")
        with dagster_webserver(settings.home) as base:
            graph = shoot_asset_graph(base, args.out / "asset_graph.png")
        for p in (dash, graph):
            print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KB)")
        print(f"screenshots took {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
