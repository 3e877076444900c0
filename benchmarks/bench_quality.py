"""Segment and migration quality over a grid of simulated companies nobody tuned for; prints, never asserts.

Each case simulates a company (``dense`` = every alive account active every week, ``sparse`` = each account active
in 30-50 % of weeks), runs every week through the real weekly Dagster job (its data, model, assignment, migration
and alert stages; the Evidently drift report, the dashboard and the CRM write-back are left out: they do not
change any figure below) in its own SEG_HOME, then scores it with ``seg evaluate``'s logic:

- weekly ARI vs the planted personas (min, mean);
- migration precision / recall / F1 of confirmed segment moves (mean over cases and the worst case);
- alert precision: planned "into at-risk" alerts whose account churns within 8 weeks (a lower bound: the last
  weeks' alerts are not followed for 8 weeks), the share of churners alerted before churning, the median lead time;
- flip rate of unmoved accounts (share whose segment changed without any planted change, mean and max).

Homes are kept: ``--table-only`` re-scores them with the current evaluation code, and ``--replay migrations``
re-runs only the migration and alert stages week by week (after a change to the migration rule).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_quality.py --out /tmp/quality --label after
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_quality.py --out /tmp/quality --table-only
"""

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# seeds picked for this benchmark, none of them used while developing the migration rule
SEEDS = (31, 47, 59)
DEFAULT_CASES = tuple(
    [f"dense-800x8-s{s}" for s in SEEDS] + [f"dense-5000x8-s{s}" for s in SEEDS]
    + [f"sparse-800x10-s{s}" for s in SEEDS]
)
LEFT_OUT = ("monitoring/drift_report", "reports/segment_dashboard", "sinks/crm_writeback")
REPLAY = {"migrations": ("monitoring/segment_migrations", "sinks/am_alerts")}


@dataclass(frozen=True)
class Case:
    """One simulated company: ``<sparse|dense>-<accounts>x<weeks>-s<seed>``."""

    name: str

    @property
    def parts(self) -> tuple[str, int, int, int]:
        """(kind, accounts, weeks, seed) parsed from the name."""
        kind, size, seed = self.name.split("-")
        accounts, weeks = size.split("x")
        return kind, int(accounts), int(weeks), int(seed.lstrip("s"))


def _run(home: Path, weeks: list[str], selection: list[str] | None) -> tuple[float, int]:
    """Run the weekly job over ``weeks`` in order with the given asset selection; (seconds, failed weeks)."""
    import dagster as dg

    from seg_pipeline.definitions import build_definitions
    from seg_pipeline.defs.jobs import WEEKLY_JOB_NAME
    from seg_pipeline.defs.weekly import register_weeks
    from seg_pipeline.orchestration import QUIET_CONSOLE
    from seg_pipeline.settings import Settings

    settings = Settings.from_env().with_home(home)
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(WEEKLY_JOB_NAME)
    every = [k.to_user_string() for k in definitions.resolve_all_asset_keys()]
    keys = [dg.AssetKey.from_user_string(k) for k in (selection or [k for k in every if k not in LEFT_OUT])]
    failed = 0
    t0 = time.perf_counter()
    with dg.DagsterInstance.from_config(str(settings.home)) as instance:
        register_weeks(instance, weeks)
        for week in weeks:
            res = job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False,
                                         run_config=QUIET_CONSOLE, asset_selection=keys)
            failed += not res.success
    return time.perf_counter() - t0, failed


def run_case(case: Case, home: Path) -> float:
    """Simulate the case into ``home`` and run every week; returns the wall seconds of the pipeline."""
    from seg_pipeline.settings import Settings
    from seg_pipeline.sources.simulator.config import SimulationConfig
    from seg_pipeline.sources.simulator.run import simulate

    kind, accounts, weeks, seed = case.parts
    settings = Settings.from_env().with_home(home)
    settings.ensure_home()
    share = (0.3, 0.5) if kind == "sparse" else None
    result = simulate(SimulationConfig(accounts=accounts, weeks=weeks, seed=seed, active_share=share),
                      settings.landing_dir, settings.truth_dir)
    secs, failed = _run(home, [w.isoformat() for w in result.weeks], None)
    if failed:
        print(f"  {case.name}: {failed} week(s) not ok (blocked or failed)", file=sys.stderr)
    return secs


def replay(home: Path, what: str) -> float:
    """Re-run only the ``what`` stages of every week of an existing home, in order."""
    from seg_pipeline.orchestration import landing_weeks
    from seg_pipeline.settings import Settings

    weeks = [w.isoformat() for w in landing_weeks(Settings.from_env().with_home(home))]
    return _run(home, weeks, list(REPLAY[what]))[0]


def _f1(p: float | None, r: float | None) -> float | None:
    return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)


def score(home: Path) -> dict[str, Any]:
    """``seg evaluate`` on one home, reduced to the grid's columns."""
    from seg_pipeline import orchestration
    from seg_pipeline.settings import Settings

    res = orchestration.evaluate_home(Settings.from_env().with_home(home))
    ari = res["per_week_ari"]
    return {
        "weeks": len(ari), "ari_min": min(ari), "ari_mean": res["mean_ari"],
        "precision": res["precision"], "recall": res["recall"], "f1": _f1(res["precision"], res["recall"]),
        "alert_precision": res.get("alert_precision"), "alert_recall": res.get("alert_recall"),
        "lead_weeks": res.get("median_alert_lead_weeks"),
        "unmoved_mean": res.get("unmoved_change_share_mean"), "unmoved_max": res.get("unmoved_change_share_max"),
        "pred": res["predicted_migrations"], "true": res["true_migrations"],
    }


COLUMNS = ["weeks", "ari_min", "ari_mean", "precision", "recall", "f1", "alert_precision", "alert_recall",
           "lead_weeks", "unmoved_mean", "unmoved_max", "pred", "true"]


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _overall(rows: list[dict[str, Any]], kind: str) -> list[str]:
    """Mean and worst of each quality figure over the cases of ``kind`` (``all`` for every case)."""
    pick = [r for r in rows if kind == "all" or r["case"].startswith(kind)]
    lines = []
    for name, worst in (("ari_min", min), ("precision", min), ("recall", min), ("f1", min),
                        ("alert_precision", min), ("unmoved_max", max)):
        vals = [r[name] for r in pick if r.get(name) is not None]
        if vals:
            lines.append(f"{kind:>6} {name:>15}: mean {statistics.fmean(vals):.3f}  worst {worst(vals):.3f}"
                         f"  (n={len(vals)})")
    return lines


def table(out: Path, label: str | None) -> None:
    """Print one row per (label, case) home found under ``out``, then the grid's means and worst cases."""
    print("| label | case | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    rows: list[dict[str, Any]] = []
    for label_dir in sorted(p for p in out.iterdir() if p.is_dir() and (label is None or p.name == label)):
        for home in sorted(p for p in label_dir.iterdir() if (p / "truth" / "personas.parquet").exists()):
            try:
                row = score(home)
            except Exception as exc:  # a broken home is reported, the table goes on
                print(f"| {label_dir.name} | {home.name} | error: {exc} |")
                continue
            (home / "score.json").write_text(json.dumps(row, indent=2))
            rows.append({"case": home.name, **row})
            print(f"| {label_dir.name} | {home.name} | " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |")
    print()
    for kind in ("dense", "sparse", "all"):
        print("\n".join(_overall(rows, kind)))


def main() -> None:
    """Run the cases (unless ``--table-only``), then print the grid."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory of <label>/<case> homes")
    ap.add_argument("--label", default="current", help="sub-directory for this code version (before / after)")
    ap.add_argument("--cases", nargs="*", default=list(DEFAULT_CASES))
    ap.add_argument("--table-only", action="store_true", help="only re-score homes already under --out")
    ap.add_argument("--replay", choices=sorted(REPLAY), help="re-run only these stages on existing homes")
    args = ap.parse_args()
    if not args.table_only:
        for name in args.cases:
            home = args.out / args.label / name
            secs = replay(home, args.replay) if args.replay else run_case(Case(name), home)
            print(f"{args.label} {name}: pipeline {secs:.0f} s", flush=True)
    table(args.out, args.label)


if __name__ == "__main__":
    main()
