"""Segment stability on sparse vs dense activity: run the weekly pipeline on simulated cases and score them.

Measures, never asserts. Each case simulates a company (``sparse`` = accounts active in 30-50 % of weeks), runs
every week through the real Dagster job in its own SEG_HOME, then scores it with ``seg evaluate``'s logic:
weekly ARI (min / mean), the share of unmoved accounts that changed segment (max / mean), migration precision
and recall. Homes are kept, so ``--table-only`` re-scores earlier runs with the current evaluation code.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_stability.py --out /tmp/stab --label after
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_stability.py --out /tmp/stab --table-only
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench_quality import Case  # same case names; run as a script, benchmarks/ is on sys.path

# name, accounts, weeks, seed, sparse
DEFAULT_CASES = (
    "sparse-600x10-s1", "sparse-600x10-s2", "sparse-600x10-s3",
    "sparse-1200x10-s1", "sparse-1200x10-s2", "sparse-1200x10-s3",
    "dense-2000x8-s7", "dense-800x5-s11", "dense-1500x6-s7",
)


def run_case(case: Case, home: Path) -> float:
    """Simulate the case into ``home`` and run every week; returns the wall seconds of the pipeline."""
    from seg_pipeline import orchestration
    from seg_pipeline.settings import Settings
    from seg_pipeline.sources.simulator.config import SimulationConfig
    from seg_pipeline.sources.simulator.run import simulate

    kind, accounts, weeks, seed = case.parts
    settings = Settings.from_env().with_home(home)
    settings.ensure_home()
    share = (0.3, 0.5) if kind == "sparse" else None
    result = simulate(SimulationConfig(accounts=accounts, weeks=weeks, seed=seed, active_share=share),
                      settings.landing_dir, settings.truth_dir)
    t0 = time.perf_counter()
    runs = orchestration.run_weeks(settings, [w.isoformat() for w in result.weeks])
    failed = [r for r in runs if not r.success]
    if failed:
        print(f"  {case.name}: {len(failed)} failed week(s)", file=sys.stderr)
    return time.perf_counter() - t0


def score(home: Path) -> dict[str, Any]:
    """``seg evaluate`` on one home, reduced to the grid's columns."""
    from seg_pipeline import orchestration
    from seg_pipeline.settings import Settings

    res = orchestration.evaluate_home(Settings.from_env().with_home(home))
    ari = res["per_week_ari"]
    return {
        "weeks": len(ari), "ari_min": min(ari), "ari_mean": res["mean_ari"],
        "unmoved_max": res.get("unmoved_change_share_max"), "unmoved_mean": res.get("unmoved_change_share_mean"),
        "precision": res["precision"], "recall": res["recall"],
        "pred": res["predicted_migrations"], "true": res["true_migrations"],
    }


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def table(out: Path) -> None:
    """Print one row per (label, case) home found under ``out``."""
    cols = ["weeks", "ari_min", "ari_mean", "unmoved_max", "unmoved_mean", "precision", "recall", "pred", "true"]
    print("| label | case | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for label_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        for home in sorted(p for p in label_dir.iterdir() if (p / "truth" / "personas.parquet").exists()):
            try:
                row = score(home)
            except Exception as exc:  # a broken home is reported, the table goes on
                print(f"| {label_dir.name} | {home.name} | error: {exc} |")
                continue
            (home / "score.json").write_text(json.dumps(row, indent=2))
            print(f"| {label_dir.name} | {home.name} | " + " | ".join(_fmt(row[c]) for c in cols) + " |")


def main() -> None:
    """Run the cases (unless ``--table-only``), then print the grid."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory of <label>/<case> homes")
    ap.add_argument("--label", default="current", help="sub-directory for this code version (before / after)")
    ap.add_argument("--cases", nargs="*", default=list(DEFAULT_CASES))
    ap.add_argument("--table-only", action="store_true", help="only re-score homes already under --out")
    args = ap.parse_args()
    if not args.table_only:
        for name in args.cases:
            home = args.out / args.label / name
            secs = run_case(Case(name), home)
            print(f"{args.label} {name}: pipeline {secs:.0f} s", flush=True)
    table(args.out)


if __name__ == "__main__":
    main()
