"""Measure simulate / ingest / feature build at scale, and the same feature aggregation done with pandas.

Each stage runs in its own child process so its peak RSS is its own (``os.wait4`` rusage). Prints figures only;
nothing here asserts on time.

    .venv/bin/python benchmarks/bench_foundation.py --accounts 100000 --weeks 2 --repeat 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

STAGES = ("simulate", "ingest", "features_duckdb", "features_pandas")


def _child(stage: str, home: Path, accounts: int, weeks: int, week: str) -> dict:
    """Run one stage in this (child) process and return its figures."""
    from seg_pipeline.settings import Settings

    settings = Settings.from_env().with_home(home)
    settings.ensure_home()
    t0 = time.perf_counter()
    rows = 0
    if stage == "simulate":
        from seg_pipeline.sources.simulator import SimulationConfig, simulate

        res = simulate(SimulationConfig(accounts=accounts, weeks=weeks, seed=7), settings.landing_dir,
                       settings.truth_dir)
        rows = sum(res.counts.values())
    elif stage == "ingest":
        from seg_pipeline.raw.tables import write_raw_week
        from seg_pipeline.sources.landing import load_week

        with settings.warehouse().connect() as con:
            for w in _weeks(week, weeks):
                for source in ("product_events", "crm_accounts", "support_tickets"):
                    res = load_week(source, settings.landing_dir, w)
                    write_raw_week(con, res)
                    rows += res.rows_in
    elif stage == "features_duckdb":
        from seg_pipeline.warehouse.duck import connect
        from seg_pipeline.warehouse.sql_models import SQL_DIR, discover, run_model

        with connect(settings.warehouse_path) as con:
            con.execute("SELECT 1").fetchall()
            t0 = time.perf_counter()
            for m in discover(SQL_DIR):
                n = run_model(con, m, date.fromisoformat(week), memory_limit=settings.sql_memory_limit or None)
                if m.name == "stg_product_events":
                    rows = n
    elif stage == "features_pandas":
        import pandas as pd

        files = sorted((settings.landing_dir / "product_events").glob("events_*.parquet"))
        start = date.fromisoformat(week)
        days = {str(start + timedelta(days=i)) for i in range(7)}
        frame = pd.concat([pd.read_parquet(f) for f in files if f.stem.split("_")[-1] in days], ignore_index=True)
        rows = len(frame)
        frame["day"] = frame["event_ts"].dt.dayofweek
        key = ["dashboards", "workflows", "integrations", "collaboration"]
        g = frame.groupby("account_id")
        usage = pd.DataFrame({
            "weekly_active_users": g["user_id"].nunique(),
            "active_days": g["day"].nunique(),
            "logins": g["event_type"].agg(lambda s: (s == "login").sum()),
            "events_total": g.size(),
            "feature_breadth": frame[frame.event_type == "feature_use"].groupby("account_id")["feature_name"].nunique(),
            "key_features": frame[frame.feature_name.isin(key)].groupby("account_id")["feature_name"].nunique(),
            "api_calls": g["event_type"].agg(lambda s: (s == "api_call").sum()),
            "exports": g["event_type"].agg(lambda s: (s == "export").sum()),
            "invites": g["event_type"].agg(lambda s: (s == "invite").sum()),
        }).fillna(0)
        usage["key_feature_adoption"] = usage["key_features"] / 4
        if usage.empty:
            raise RuntimeError("the pandas feature build produced no rows")
    return {"stage": stage, "seconds": time.perf_counter() - t0, "rows": rows}


def _weeks(first: str, n: int) -> list[date]:
    start = date.fromisoformat(first)
    return [start + timedelta(days=7 * i) for i in range(n)]


def _run_stage(stage: str, home: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, "--home", str(home), "--accounts", str(args.accounts),
           "--weeks", str(args.weeks), "--week", args.week]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603 - re-runs this script as a child
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"stage {stage} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    """Run each stage in its own child process (or be that child with ``--child``) and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--weeks", type=int, default=2)
    p.add_argument("--week", default="2026-01-05", help="the week whose features are built and compared")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of the two feature builds (median)")
    p.add_argument("--home", default=None)
    p.add_argument("--child", choices=STAGES)
    p.add_argument("--reuse", action="store_true", help="reuse landing files already in --home")
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, Path(args.home), args.accounts, args.weeks, args.week)))
        return
    home = Path(args.home or tempfile.mkdtemp(prefix="seg-bench-"))
    print(f"seg_pipeline foundation benchmark: {args.accounts:,} accounts x {args.weeks} weeks, home {home}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    skip = {"simulate"} if args.reuse and (home / "landing").exists() else set()
    results = {s: _run_stage(s, home, args) for s in ("simulate", "ingest") if s not in skip}
    for stage in ("features_duckdb", "features_pandas"):
        runs = [_run_stage(stage, home, args) for _ in range(args.repeat)]
        results[stage] = {
            "stage": stage,
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rows": runs[0]["rows"],
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "all_seconds": [round(r["seconds"], 2) for r in runs],
        }
    print(f"{'stage':18} {'wall s':>9} {'rows':>13} {'rows/s':>12} {'peak RSS MB':>12}")
    for r in results.values():
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("nan")
        print(f"{r['stage']:18} {r['seconds']:9.2f} {r['rows']:13,} {rate:12,.0f} {r['peak_rss_mb']:12.0f}")
    duck, pand = results["features_duckdb"], results["features_pandas"]
    print(f"feature build (week {args.week}, median of {args.repeat}): DuckDB {duck['seconds']:.2f}s vs pandas "
          f"{pand['seconds']:.2f}s -> {pand['seconds'] / duck['seconds']:.1f}x faster; peak RSS "
          f"{duck['peak_rss_mb']:.0f} MB vs {pand['peak_rss_mb']:.0f} MB -> "
          f"{duck['peak_rss_mb'] / pand['peak_rss_mb']:.2f} of pandas")


if __name__ == "__main__":
    main()
