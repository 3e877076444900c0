"""Raw ingest of one landing week: wall time and peak RSS of ``raw.stage.run_week`` per source, one process each.

Usage (landing files from the simulator, e.g. 100 k accounts x 1 week)::

    python -m seg_pipeline.cli ...  # or: simulate(SimulationConfig(accounts=100_000, weeks=1), landing, truth)
    PYTHONPATH=. python benchmarks/bench_ingest.py --landing /tmp/landing --week 2026-01-05 --repeat 2

Every run gets a fresh process (peak RSS is the process's own ``ru_maxrss``) and a fresh warehouse file, so runs
do not share caches. ``run_week`` has the same signature before and after the SQL ingest, so pointing PYTHONPATH at
an older checkout measures the older code. Prints one JSON line per run and the medians; asserts nothing.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCES = ("crm_accounts", "product_events", "product_usage", "support_tickets")

_CHILD = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.stage import run_week
from seg_pipeline.warehouse.engine import Warehouse
source, landing, week, home, limit = sys.argv[1:6]
wh = Warehouse(Path(home) / "w.duckdb", Path(home) / "snap.duckdb", limit or None)
t = time.perf_counter()
result, _ = run_week(source, date.fromisoformat(week), wh, IngestConfig(Path(landing)))
elapsed = time.perf_counter() - t
print(json.dumps({"source": source, "seconds": round(elapsed, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "loaded": result.metadata["loaded"], "quarantined": result.metadata["quarantined"]}))
"""


def run_once(source: str, landing: Path, week: str, memory_limit: str) -> dict[str, object]:
    """One ingest of one source in a fresh process and warehouse."""
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as home:
        out = subprocess.run(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", _CHILD, source, str(landing), week, home, memory_limit],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Measure each requested source ``--repeat`` times and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--week", required=True)
    parser.add_argument("--sources", nargs="+", default=["product_events"], choices=SOURCES)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-limit", default="128MB", help="the warehouse's SQL memory cap ('' = DuckDB default)")
    args = parser.parse_args()
    for source in args.sources:
        runs = [run_once(source, args.landing, args.week, args.memory_limit) for _ in range(args.repeat)]
        for run in runs:
            print(json.dumps(run))
        print(
            json.dumps(
                {
                    "source": source,
                    "runs": len(runs),
                    "memory_limit": args.memory_limit,
                    "median_seconds": statistics.median(float(str(r["seconds"])) for r in runs),
                    "median_peak_rss_mb": statistics.median(float(str(r["peak_rss_mb"])) for r in runs),
                }
            )
        )


if __name__ == "__main__":
    main()
