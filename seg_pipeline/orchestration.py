"""Run weeks through the real Dagster instance under SEG_HOME (what `seg demo` / `seg run` do) and summarise.

Runs go through ``execute_in_process`` on a persistent instance, so they appear in the Dagster UI afterwards
with their lineage, metadata and check results (~0.1 s per asset instead of ~6 s per CLI launch).
"""

import shutil
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from seg_pipeline.run_guard import new_run_id, open_instance, owner_tags, recover_dead_runs, watch_pool_wait
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.duck import connect, qualified, table_exists
from seg_pipeline.week_calendar import landed_weeks
from seg_pipeline.week_runs import WeekRun, latest_week_runs, summarise_run, week_table
from seg_pipeline.weeks import parse_week

if TYPE_CHECKING:
    import dagster as dg

Progress = Callable[[str], None]
# the full event log goes to the instance (see `seg ui`); the terminal shows only the progress lines, with the
# stages' warnings and each week's reason read back from that log (no framework tracebacks)
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# what `seg demo` may delete: only what seg_pipeline and Dagster themselves create under SEG_HOME
_RUNTIME_ENTRIES = (
    "landing", "truth", "mlflow", "reports", "outbox", "storage", "history", "schedules", "logs",
    ".logs_queue", ".nux", ".telemetry", "warehouse.duckdb", "warehouse.duckdb.wal", "warehouse.duckdb.tmp",
    "warehouse_snapshot.duckdb", "warehouse_snapshot.duckdb.wal", ".instance.lock",
)


def reset_home(settings: Settings) -> None:
    """Remove the pipeline's runtime state from SEG_HOME (the demo starts from scratch); nothing else is touched."""
    for name in _RUNTIME_ENTRIES:
        path = settings.home / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    from seg_pipeline.segmentation.tracking import tracker_for

    settings.ensure_home()
    tracker_for.cache_clear()  # the MLflow store was just deleted: no client may keep pointing at it


def landing_weeks(settings: Settings) -> list[date]:
    """Weeks that have landing files, from ``SEG_FIRST_WEEK`` (or the first landed week) to the last landed."""
    return landed_weeks(settings.landing_dir, settings.first_week).weeks


def run_weeks(settings: Settings, weeks: list[str], *, progress: Progress | None = None) -> list[WeekRun]:
    """Materialize every stage of each week, in order, recording the runs in SEG_HOME's Dagster instance.

    Each week is registered in the partition set first. A failed or blocked week does not stop the next one:
    weeks are independent runs, and the caller reports every outcome.
    """
    from seg_pipeline.definitions import build_definitions
    from seg_pipeline.defs.jobs import DASHBOARD_JOB_NAME, WEEKLY_JOB_NAME
    from seg_pipeline.defs.weekly import register_weeks

    keys = [parse_week(key).isoformat() for key in weeks]
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(WEEKLY_JOB_NAME)
    dashboard_job = definitions.resolve_job_def(DASHBOARD_JOB_NAME)
    results: list[WeekRun] = []
    with open_instance(settings.home) as instance:
        register_weeks(instance, keys)
        for i, key in enumerate(keys, 1):
            if progress:
                progress(f"week {key} ({i}/{len(keys)}): running every stage")
            t0 = time.perf_counter()
            run_id = _execute_guarded(settings, instance, job, key, progress)
            run = summarise_run(instance, run_id, key, time.perf_counter() - t0)
            if run.blocked:  # the blocked week is the one stakeholders must see: refresh the dashboard on its own
                _execute_guarded(settings, instance, dashboard_job, key, progress)
            results.append(run)
            if progress:
                progress(_describe(run))
    return results


def _execute_guarded(
    settings: Settings, instance: "dg.DagsterInstance", job: "dg.JobDefinition", key: str, progress: Progress | None
) -> str:
    """Run one week's job in this process, tagged with its owner; clear dead runs first, watch the pool wait."""
    recover_dead_runs(instance, progress)  # a run killed earlier must not hold the warehouse pool for this one
    run_id = new_run_id()
    with watch_pool_wait(settings.home, run_id, key, progress):
        job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET_CONSOLE,
                               run_id=run_id, tags=owner_tags())
    return run_id


def _describe(run: WeekRun) -> str:
    """One progress line: ok, blocked or failed (with the reason), time, and any failed checks."""
    state = {"ok": "ok", "blocked": "BLOCKED by a check", "failed": "FAILED"}.get(run.state, run.state)
    reason = f": {run.reason}" if run.state != "ok" else ""
    warned = run.failed_checks if run.state == "ok" else []
    checks = f"; checks with warnings: {', '.join(warned)}" if warned else ""
    warnings = "".join(f"\n    warning: {w}" for w in run.warnings)
    return f"week {run.week}: {state}{reason} in {run.seconds:.1f}s{checks}{warnings}"


def _counts(con: duckdb.DuckDBPyConnection, table: str, weeks: list[str]) -> list[int]:
    schema, name = table.split(".")
    if not table_exists(con, schema, name):
        return [0] * len(weeks)
    target = qualified(schema, name)
    rows = dict(con.execute(f"SELECT CAST(week_start AS VARCHAR), count(*) FROM {target} GROUP BY 1").fetchall())  # noqa: S608 - qualified()
    return [int(rows.get(w, 0)) for w in weeks]


SUMMARY_TABLES = (
    "raw.product_events", "raw.crm_accounts", "raw.support_tickets", "raw.quarantine",
    "staging.stg_product_events", "intermediate.int_account_weekly_usage", "features.account_features",
    "assignments.account_segments", "monitoring.segment_migrations",
)


def demo_summary(settings: Settings, runs: list[WeekRun]) -> str:
    """Rows per layer and week, where things are, and how to open the UI."""
    weeks = [r.week for r in runs]
    lines = ["", f"{'table':38}" + "".join(f"{w[5:]:>9}" for w in weeks)]
    with connect(settings.warehouse_path, read_only=True) as con:
        for table in SUMMARY_TABLES:
            counts = _counts(con, table, weeks)
            lines.append(f"{table:38}" + "".join(f"{c:>9,}" for c in counts))
    ok = sum(r.success and not r.blocked for r in runs)
    blocked = [r.week for r in runs if r.blocked]
    lines += [
        "",
        *([f"blocked weeks (sinks held back, one engineer alert sent): {', '.join(blocked)}"] if blocked else []),
        f"{ok}/{len(runs)} weeks fully materialized in {sum(r.seconds for r in runs):.0f}s "
        f"(Dagster runs recorded in {settings.home}).",
        f"warehouse:  {settings.warehouse_path}",
        f"MLflow:     {settings.tracking_uri}",
        f"dashboard:  {settings.dashboard_path}   (seg dashboard --open)",
        f"CRM export and alert outbox: {settings.outbox_dir}",
        "Open the Dagster UI:  seg ui   → http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


def status_summary(settings: Settings) -> dict[str, Any]:
    """Every week's state (ok, blocked, failed, not run) with its reason, then the latest built week's details."""
    weeks = week_statuses(settings)
    built = settings.warehouse_path.exists() or settings.snapshot_path.exists()
    out: dict[str, Any] = latest_week_summary(settings) if built else {"text": "no week has been built yet"}
    out["weeks"] = weeks
    out["notes"] = landed_weeks(settings.landing_dir, settings.first_week).notes
    table = week_table(weeks, extra=("accounts",)) if weeks else "no landed weeks and no runs yet"
    table += "".join(f"\nnote: {note}" for note in out["notes"])
    latest = next((w for w in weeks if w["week"] == out.get("week_start")), None)
    if latest is not None and latest["state"] != "ok":
        table += (f"\n\nnote: the latest run of {latest['week']} was {latest['state']} (reason above); the details "
                  "below are what the warehouse holds for that week, possibly from an earlier run")
    out["text"] = f"{table}\n\n{out['text']}"
    return out


def week_statuses(settings: Settings) -> list[dict[str, Any]]:
    """One row per known week (landed, registered, run or in the warehouse): latest run's state and reason."""
    from seg_pipeline.defs.weekly import registered_weeks

    landed = {w.isoformat() for w in landing_weeks(settings)}
    with open_instance(settings.home) as instance:
        runs = latest_week_runs(instance)
        registered = set(registered_weeks(instance))
    held = _assigned_accounts(settings)
    rows = []
    for week in sorted(landed | registered | set(runs) | set(held)):
        run = runs.get(week)
        row = run.to_dict() if run else {
            "week": week, "state": "not run", "seconds": None, "run_id": None, "failed_checks": [],
            "reason": f"run it with `seg run {week}`" if week in landed else "no run recorded",
        }
        if week not in landed:
            row["reason"] = "; ".join(r for r in (row["reason"], "no landing files now") if r)
        row["accounts"] = held.get(week)
        rows.append(row)
    return rows


def _assigned_accounts(settings: Settings) -> dict[str, int]:
    """Accounts with a segment per week: what the warehouse holds, whatever the runs said."""
    if not (settings.warehouse_path.exists() or settings.snapshot_path.exists()):
        return {}
    with settings.warehouse().reader() as con:
        if not table_exists(con, "assignments", "account_segments"):
            return {}
        rows = con.execute(
            "SELECT CAST(week_start AS VARCHAR), count(*) FROM assignments.account_segments GROUP BY 1"
        ).fetchall()
    return {str(w): int(n) for w, n in rows}


def latest_week_summary(settings: Settings) -> dict[str, Any]:
    """Summarise the latest week in the warehouse: segment sizes, confirmed moves, drift and deliveries."""
    from seg_pipeline.monitoring.tables import move_counts

    out: dict[str, Any] = {}
    with settings.warehouse().reader() as con:
        if not table_exists(con, "features", "account_features"):
            return {"text": "no week has been built yet"}
        latest = con.execute("SELECT max(week_start) FROM features.account_features").fetchall()[0][0]
        out["week_start"] = str(latest)
        out["accounts"] = con.execute(
            "SELECT count(*) FROM features.account_features WHERE week_start = ?", [latest]).fetchall()[0][0]
        if table_exists(con, "assignments", "account_segments"):
            seg = con.execute(
                "SELECT segment_id, any_value(segment_name) AS name, count(*) AS n, "
                "count(*) FILTER (WHERE is_outlier) AS outliers "
                "FROM assignments.account_segments WHERE week_start = ? GROUP BY 1 ORDER BY n DESC",
                [latest],
            ).fetchdf()
            out["segments"] = seg.to_dict(orient="records")
        if table_exists(con, "monitoring", "segment_migrations"):
            counts = move_counts(con, latest)  # the same count the dashboard and the Dagster metadata show
            first = counts.iloc[0] if len(counts) else None
            out["moves"] = int(first["segment_moves"]) if first is not None else 0
            out["confirmed_moves"] = int(first["confirmed_moves"]) if first is not None else 0
            out["micro_changes"] = int(first["micro_changes"]) if first is not None else 0
        if table_exists(con, "monitoring", "drift_summary"):
            drift = con.execute(
                "SELECT reference, share_drifted, drifted_features FROM monitoring.drift_summary "
                "WHERE week_start = ? ORDER BY reference",
                [latest],
            ).fetchdf()
            out["drift"] = drift.to_dict(orient="records")
        for table in ("writeback_stats", "alert_stats"):
            if table_exists(con, "sinks", table):
                sql = f"SELECT * FROM {qualified('sinks', table)} WHERE week_start = ?"  # noqa: S608 - qualified()
                stats = con.execute(sql, [latest]).fetchdf()
                out[table] = stats.drop(columns=["week_start"]).to_dict(orient="records")
    lines = [f"week {out['week_start']}: {out['accounts']:,} accounts"]
    lines += [
        f"  segment {s['segment_id']:>3}  {s['name']:<28} {s['n']:>7,} accounts"
        + (f"  ({s['outliers']} outliers)" if s["outliers"] else "")
        for s in out.get("segments", [])
    ]
    if "moves" in out:
        lines.append(f"migrations: {out['moves']} moves, {out['confirmed_moves']} confirmed"
                     f" (micro-community changes, counted apart: {out['micro_changes']})")
    lines += [f"drift vs {d['reference']}: {d['share_drifted']:.0%} of features drifted" for d in out.get("drift", [])]
    lines += [
        f"{key.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in rec.items())
        for key in ("writeback_stats", "alert_stats")
        for rec in out.get(key, [])
    ]
    out["text"] = "\n".join(lines)
    return out


def evaluate_home(settings: Settings) -> dict[str, Any]:
    """Run the planted-truth evaluation on SEG_HOME's truth files and warehouse."""
    from seg_pipeline.monitoring.evaluate import evaluate
    from seg_pipeline.sinks.tables import planned_alert_items

    truth = {n: pd.read_parquet(settings.truth_dir / f"{n}.parquet") for n in ("personas", "migrations", "churn")}
    with settings.warehouse().reader() as con:
        assignments = con.execute("SELECT * FROM assignments.account_segments").fetchdf()
        migrations = (
            con.execute("SELECT * FROM monitoring.segment_migrations").fetchdf()
            if table_exists(con, "monitoring", "segment_migrations")
            else pd.DataFrame()
        )
        alerts = planned_alert_items(con)
    return evaluate(truth["personas"], truth["migrations"], truth["churn"], assignments, migrations, alerts)
