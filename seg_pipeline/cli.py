"""The ``seg`` command: demo, simulate, run weeks, inspect, and ad-hoc segmentation of any table.

Heavy imports happen inside each command so ``seg --help`` answers instantly.
"""

import json
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seg_pipeline.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from seg_pipeline.week_calendar import LandedWeeks
    from seg_pipeline.week_runs import WeekRun


# exit codes of the commands that run weeks (`seg run`, `seg demo`); 1 = bad input, 2 = bad command line
EXIT_BLOCKED = 3  # every week ran, but a blocking check stopped at least one (none failed)
EXIT_FAILED = 4  # at least one week failed (takes precedence over blocked)
EXIT_UNHEALTHY = 5  # `seg doctor` found leftovers it did not (or may not) repair


class SegError(click.ClickException):
    """A user-facing failure: one sentence saying what went wrong, plus how to fix it."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        """Append the suggested ``fix`` on its own line, after the message."""
        super().__init__(message + (f"\n  fix: {fix}" if fix else ""))


class WeeksBlocked(SegError):
    """Every week ran, but a blocking check stopped at least one of them."""

    exit_code = EXIT_BLOCKED


class WeeksFailed(SegError):
    """At least one week failed."""

    exit_code = EXIT_FAILED


def _settings(ctx: click.Context) -> Settings:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise SegError(str(exc), "correct that environment variable, or unset it to use the default") from exc
    home = ctx.find_root().params.get("home")
    if home:
        settings = settings.with_home(Path(home))
    settings.ensure_home()
    return settings


def _echo_step(message: str) -> None:
    click.echo(click.style("• ", fg="cyan") + message, err=True)


class _Group(click.Group):
    """Turns unexpected exceptions into one clear line unless --debug is given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            name = type(exc).__name__
            prefix = "" if name.startswith("Dagster") else f"{name}: "  # Dagster's class names mean nothing to users
            raise SegError(f"{prefix}{exc}", "this is unexpected: check the input named above; `seg --debug ...` "
                           "shows the full traceback to report") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--home", type=click.Path(file_okay=False), envvar="SEG_HOME",
              help="Where all runtime state lives (default: the checkout's dagster_home/). Env: SEG_HOME.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="seg_pipeline")
def main(home: str | None, debug: bool) -> None:
    """seg_pipeline — weekly, stable, explainable customer segments.

    \b
    Quick start:
      seg demo                      simulate a SaaS company and run every week end to end
      seg ui                        open the Dagster UI on http://127.0.0.1:3000
      seg status                    every week's state (ok/blocked/failed) and the latest week's segments
      seg dashboard --open          serve the segment-health dashboard on 127.0.0.1
    \b
    Ad-hoc studies on any CSV/Parquet:
      seg segment customers.csv --features "Annual Income (k$),Spending Score (1-100)" --k 5 --out out/
      seg rfm online_retail.csv --customer-col CustomerID --invoice-col InvoiceNo \\
          --date-col InvoiceDate --quantity-col Quantity --price-col UnitPrice --out rfm/
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace


# --------------------------------------------------------------------------------------------- pipeline
SCENARIO_NAMES = ("default", "sparse", "history")  # seg_pipeline.sources.simulator.scenarios.SCENARIOS


@main.command()
@click.option("--scenario", type=click.Choice(SCENARIO_NAMES), default="default", show_default=True,
              help="default: landing files; sparse / history: a third-party export for `seg import` "
                   "(see docs/simulator.md).")
@click.option("--accounts", default=2000, show_default=True, help="Accounts alive in the first week.")
@click.option("--weeks", type=click.IntRange(min=1), default=None,
              help="Number of weeks to simulate [default: 8; sparse and history 12].")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same files).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First Monday [default: 2026-01-05; history 2023-01-02].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Export directory of sparse / history [default: SEG_HOME/exports].")
@click.pass_context
def simulate(ctx: click.Context, scenario: str, accounts: int, weeks: int | None, seed: int,
             start: datetime | None, out: str | None) -> None:
    """Simulate a B2B SaaS company: landing files under SEG_HOME/landing, or an export to import.

    \b
    Examples:
      seg simulate --accounts 5000 --weeks 12 --seed 3
      seg simulate --scenario sparse --weeks 12          then: seg import SEG_HOME/exports --mapping ...
    Ground truth for `seg evaluate` goes to SEG_HOME/truth (the pipeline never reads it).
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.sources.simulator.scenarios import SCENARIOS, run_scenario

    settings = _settings(ctx)
    chosen = SCENARIOS[scenario]
    start_day = start.date() if start else chosen.start
    if start_day.weekday() != 0:
        raise SegError(f"--start {start_day} is not a Monday", "weeks start on Monday (UTC); pick a Monday")
    export_dir = _export_dir(settings, chosen.export is not None, out)
    t0 = time.perf_counter()
    result = run_scenario(chosen, chosen.config(accounts, seed, weeks, start_day), landing_dir=settings.landing_dir,
                          export_dir=export_dir, truth_dir=settings.truth_dir, progress=_echo_step)
    click.echo(f"simulated {len(result.weeks)} weeks in {time.perf_counter() - t0:.1f}s: "
               + ", ".join(f"{k}={v:,}" for k, v in result.counts.items()))
    if chosen.export is None:
        click.echo(f"landing files: {settings.landing_dir}")
    else:
        click.echo(f"export files: {export_dir}")
        click.echo(f"next: seg import {export_dir} --mapping docs/mappings/{scenario}.yaml && seg run --all")


def _export_dir(settings: Settings, exports: bool, out: str | None) -> Path:
    """Where an export scenario writes: ``--out`` or SEG_HOME/exports, never inside the landing zone or truth."""
    if not exports:
        if out:
            raise SegError("--out is only for the export scenarios (sparse, history)",
                           "drop --out: the default scenario writes SEG_HOME/landing")
        return settings.home / "exports"
    path = Path(out).resolve() if out else (settings.home / "exports").resolve()
    for inside, what in ((settings.landing_dir, "the landing zone"), (settings.truth_dir, "the truth directory")):
        if path == inside.resolve() or path.is_relative_to(inside.resolve()):
            raise SegError(f"--out {path} is inside {what}", "pick a directory of its own, e.g. SEG_HOME/exports")
    if settings.truth_dir.resolve().is_relative_to(path):
        raise SegError(f"--out {path} contains the truth directory {settings.truth_dir}",
                       "pick a directory of its own, e.g. SEG_HOME/exports")
    return path


@main.command()
@click.argument("weeks", nargs=-1)
@click.option("--all", "all_weeks", is_flag=True, help="Every week that has landing files, oldest first.")
@click.pass_context
def run(ctx: click.Context, weeks: tuple[str, ...], all_weeks: bool) -> None:
    """Materialize whole weeks (all stages) through the Dagster instance under SEG_HOME.

    Weeks run oldest first; a blocked or failed week does not stop the next one. A table of every week's outcome
    (ok / blocked / failed, seconds, reason) ends the output; `seg status` shows it again later.

    \b
    Examples:
      seg run 2026-01-12            one week (a Monday)
      seg run --all                 every week found in the landing zone (from SEG_FIRST_WEEK, if set)
    \b
    Exit codes:
      0  every week completed
      1  bad input (not a Monday, a week without landing files, a bad SEG_* setting)
      3  some week was blocked by a check (mass migration, volume drop, model gate), none failed
      4  some week failed (takes precedence over 3)
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.orchestration import run_weeks
    from seg_pipeline.week_calendar import landed_weeks

    settings = _settings(ctx)
    landed = landed_weeks(settings.landing_dir, settings.first_week)
    keys = _weeks_to_run(settings, landed, weeks, all_weeks)
    for note in landed.notes:
        _echo_step(f"note: {note}")
    _finish(run_weeks(settings, keys, progress=_echo_step))


def _weeks_to_run(settings: Settings, landed: "LandedWeeks", weeks: tuple[str, ...], all_weeks: bool) -> list[str]:
    """Validate the requested weeks against the landed ones; every refusal says which weeks exist."""
    from seg_pipeline.week_calendar import describe_weeks

    have = f"landed weeks: {describe_weeks(landed.weeks)}"
    if weeks and all_weeks:
        raise SegError("give weeks or --all, not both", f"`seg run --all`, or some of the {have}")
    asked = sorted({_monday(raw, have) for raw in weeks})
    if not landed.weeks:
        raise SegError(f"no landing files under {settings.landing_dir}",
                       "land your exports with `seg import EXPORT_DIR --mapping FILE` (or try `seg simulate`) first")
    if all_weeks:
        return landed.keys
    if not asked:
        raise SegError("no week given", f"`seg run --all`, or `seg run {landed.keys[-1]}` ({have})")
    for week in asked:
        if settings.first_week and week < settings.first_week:
            raise SegError(f"week {week} is before SEG_FIRST_WEEK={settings.first_week}",
                           f"pick a later week, or lower or unset SEG_FIRST_WEEK ({have})")
        if week not in landed.weeks:
            raise SegError(f"week {week} has no landing files under {settings.landing_dir}",
                           f"land its exports first (`seg import`), or pick one of the {have}")
    return [w.isoformat() for w in asked]


def _monday(raw: str, have: str) -> date:
    """Parse a week argument; a non-Monday date is refused with its Monday as the fix."""
    from seg_pipeline.weeks import parse_week, week_start_of

    try:
        return parse_week(raw)
    except ValueError as exc:
        try:
            fix = f"`seg run {week_start_of(date.fromisoformat(raw))}`"
        except ValueError:
            fix = "give the week's Monday as YYYY-MM-DD"
        raise SegError(str(exc), f"{fix} ({have})") from None


def _finish(runs: "list[WeekRun]") -> None:
    """Print every week's outcome as a table; exit 0 only when all completed, else 3 (blocked) or 4 (failed)."""
    from seg_pipeline.week_runs import week_table

    click.echo(week_table([r.to_dict() for r in runs]))
    failed = [r.week for r in runs if r.state == "failed"]
    blocked = [r.week for r in runs if r.state == "blocked"]
    if failed:
        raise WeeksFailed(
            f"{len(failed)} of {len(runs)} weeks failed ({', '.join(failed)}); the table above says why",
            f"fix the cause, then re-run them: `seg run {' '.join(failed)}` (each step's log: `seg ui`)",
        )
    if blocked:
        raise WeeksBlocked(
            f"{len(blocked)} of {len(runs)} weeks were blocked by a check ({', '.join(blocked)}); "
            "CRM write-back and alerts were held back for them",
            "read the check's reason above (or `seg status`); fix the data and re-run the week, or adjust the "
            "threshold (see README, Configuration) if the change is real",
        )


@main.command("import")
@click.argument("import_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Mapping YAML (default: SEG_MAPPINGS). See docs/mappings.example.yaml.")
@click.option("--week", default=None, help="Only import this week (a Monday, YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.pass_context
def import_cmd(ctx: click.Context, import_dir: Path, mapping: Path | None, week: str | None, as_json: bool) -> None:
    """Map your own exports (product usage or events, CRM, helpdesk) into the landing zone, then `seg run --all`.

    \b
    Examples:
      seg import ~/exports --mapping docs/mappings/sparse.yaml     CRM history + daily usage + tickets
      seg import ~/exports --mapping docs/mappings.example.yaml    Segment + Salesforce + Zendesk exports
      seg run --all
    Rows that cannot be mapped are kept for the loader to quarantine, or written to landing/import_rejects/ with
    a reason: nothing is dropped silently. See docs/byo_data.md.
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.sources.mappings import MappingError, import_exports, load_mapping
    from seg_pipeline.weeks import parse_week

    settings = _settings(ctx)
    path = mapping or settings.mappings_path
    if path is None:
        raise SegError("no mapping file given", "pass --mapping FILE or set SEG_MAPPINGS (see docs/byo_data.md)")
    try:
        week_start = parse_week(week) if week else None
    except ValueError as exc:
        raise SegError(f"--week: {exc}", "pass the Monday that starts the week, like 2026-01-05") from exc
    try:
        report = import_exports(load_mapping(path), import_dir, settings.landing_dir, week_start=week_start)
    except MappingError as exc:
        raise SegError(str(exc), "correct the mapping file or the export; docs/byo_data.md explains every key") \
            from exc
    except OSError as exc:
        raise SegError(f"cannot read {exc.filename or import_dir}: {exc.strerror or exc}",
                       "check that the export files exist and are readable") from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    click.echo(report.summary())
    if report.weeks:
        first, last = report.weeks[0], report.weeks[-1]
        span = str(first) if first == last else f"{first} .. {last}"
        click.echo(f"next: seg run --all   ({len(report.weeks)} week(s) landed: {span})")


@main.command()
@click.option("--accounts", default=2000, show_default=True, help="Accounts alive in the first week.")
@click.option("--weeks", default=8, show_default=True, help="Number of weeks to simulate and run.")
@click.option("--seed", default=7, show_default=True, help="Random seed.")
@click.option("--fresh/--keep", default=True, show_default=True,
              help="Start from an empty SEG_HOME (keeps dagster.yaml).")
@click.pass_context
def demo(ctx: click.Context, accounts: int, weeks: int, seed: int, fresh: bool) -> None:
    """Simulate a SaaS company, then run every week end to end through a real Dagster instance.

    \b
    Example:  seg demo --weeks 6 --accounts 1500
    Afterwards: `seg ui` shows the runs and lineage, `seg status` every week and the latest one in detail,
    `seg dashboard --open` the segment-health dashboard. Exit codes as `seg run`: 0 all weeks completed,
    3 some week blocked by a check, 4 some week failed.
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.orchestration import demo_summary, reset_home, run_weeks
    from seg_pipeline.sources.simulator import SimulationConfig
    from seg_pipeline.sources.simulator import simulate as run_simulation

    settings = _settings(ctx)
    if fresh:
        reset_home(settings)
    _echo_step(f"simulating {accounts:,} accounts x {weeks} weeks (seed {seed}) into {settings.landing_dir}")
    sim = run_simulation(
        SimulationConfig(accounts=accounts, weeks=weeks, seed=seed), settings.landing_dir, settings.truth_dir,
        progress=None,
    )
    summaries = run_weeks(settings, [str(w) for w in sim.weeks], progress=_echo_step)
    click.echo(demo_summary(settings, summaries))
    _finish(summaries)


@main.command()
@click.option("--port", default=3000, show_default=True, help="Port for dagster-webserver on 127.0.0.1.")
@click.option("--no-daemon", is_flag=True, help="Only the webserver (schedules and sensors will not tick).")
@click.pass_context
def ui(ctx: click.Context, port: int, no_daemon: bool) -> None:
    """Start dagster-webserver and dagster-daemon on 127.0.0.1 with this project's workspace and SEG_HOME.

    \b
    Example:  seg ui --port 3001     then open http://127.0.0.1:3001
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.process_group import run_until_stopped

    settings = _settings(ctx)
    env = {**os.environ, "DAGSTER_HOME": str(settings.home), "SEG_HOME": str(settings.home)}
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    bindir = Path(sys.executable).parent
    commands = [[str(bindir / "dagster-daemon"), "run", "-w", workspace]] if not no_daemon else []
    commands.append([str(bindir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace])
    # Ctrl-C, SIGTERM and SIGHUP stop the webserver, the daemon and their code servers, and free the port
    run_until_stopped(commands, env, on_started=lambda: click.echo(
        f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={settings.home}); Ctrl-C stops it."))


@main.command()
@click.option("--repair", is_flag=True, help="Fix what was found (only leftovers whose process is gone).")
@click.option("--run", "force_runs", multiple=True, metavar="RUN_ID",
              help="With --repair: also fail this unfinished run that `seg run` did not start (repeatable).")
@click.pass_context
def doctor(ctx: click.Context, repair: bool, force_runs: tuple[str, ...]) -> None:
    """List (and with --repair, fix) what a killed or crashed run left behind.

    \b
    Finds:  Dagster runs still STARTED whose process is gone, and the warehouse pool slots they hold
            MLflow runs still RUNNING whose process is gone              -> marked KILLED
            model versions whose MLflow run died or whose files are gone -> deleted (never the @champion)
    `seg run` already recovers dead Dagster runs before each week; this also cleans MLflow.
    \b
    Exit codes:  0 nothing left to fix   5 something needs --repair or you (see the table)
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.doctor import diagnose, report

    findings = diagnose(_settings(ctx), repair=repair, force_runs=force_runs)
    click.echo(report(findings, repair=repair))
    if any(not f.repaired for f in findings):
        ctx.exit(EXIT_UNHEALTHY)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show every week's state (ok, blocked, failed, not run) and why, then the latest week's details.

    The details are segments with sizes, confirmed migrations, drift, alerts and write-back.
    """
    from seg_pipeline.orchestration import status_summary

    settings = _settings(ctx)
    if not settings.warehouse_path.exists() and not any(settings.landing_dir.iterdir()):
        raise SegError(f"no warehouse at {settings.warehouse_path} and no landing files",
                       "run `seg demo`, or land your exports with `seg import` and run `seg run --all`")
    summary = status_summary(settings)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(summary["text"])


@main.command()
@click.pass_context
def features(ctx: click.Context) -> None:
    """List the documented features of features.account_features (the feature registry)."""
    from seg_pipeline.features.registry import SUMMARY_COLUMNS, registry_frame

    frame = registry_frame()[list(SUMMARY_COLUMNS)]
    with_width = frame.to_string(index=False, max_colwidth=70)
    click.echo(with_width)


@main.command("sql")
@click.argument("models", nargs=-1)
@click.option("--dialect", type=click.Choice(["duckdb", "spark", "snowflake", "bigquery"]), default="duckdb",
              show_default=True, help="Target SQL dialect (sqlglot transpiles the DuckDB files).")
@click.option("--week", default=None, help="Bind $week_start / $week_end to this Monday (YYYY-MM-DD).")
def sql_cmd(models: tuple[str, ...], dialect: str, week: str | None) -> None:
    """Print the SQL models (all, or MODELS by name or layer.name) in another warehouse's dialect."""
    from seg_pipeline.warehouse.sql_models import project_models, transpile

    known = project_models()
    chosen = [m for m in known if not models or m.name in models or ".".join(m.table) in models]
    missing = set(models) - {m.name for m in chosen} - {".".join(m.table) for m in chosen}
    if missing:
        names = ", ".join(m.name for m in known)
        raise click.UsageError(f"unknown model(s) {', '.join(sorted(missing))}; known: {names}")
    week_start = _monday(week, "a Monday") if week else None
    for model in chosen:
        click.echo(f"-- {'.'.join(model.table)} ({dialect}) from {model.path.relative_to(model.path.parents[2])}")
        click.echo(transpile(model, dialect, week_start=week_start) + ";\n")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def evaluate(ctx: click.Context, as_json: bool) -> None:
    """Compare the pipeline's segments and migrations with the simulator's planted truth.

    Reports the adjusted Rand index per week, migration precision/recall (segments mapped to personas), the
    weekly share of accounts without a planted move whose segment changed anyway, and for the alerts into
    at-risk segments planned for the account managers: precision (churn within 8 weeks), the share of
    churners alerted before churning and the median weeks from the alert to churn.
    """
    from seg_pipeline.orchestration import evaluate_home

    settings = _settings(ctx)
    if not (settings.truth_dir / "personas.parquet").exists():
        raise SegError(f"no simulator truth in {settings.truth_dir}", "run `seg demo` first")
    result = evaluate_home(settings)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    for row in result["per_week"]:
        click.echo(f"  {row['week_start']}  ARI {row['ari']:.3f}  (without outliers {row['ari_core']:.3f}, "
                   f"{row['n_accounts']:,} accounts)")

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    click.echo(f"mean ARI {fmt(result['mean_ari'])}; migrations: precision {fmt(result['precision'])}, "
               f"recall {fmt(result['recall'])} ({result['matched_migrations']} matched of "
               f"{result['predicted_migrations']} predicted / {result['true_migrations']} true)")
    click.echo(f"alerts into at-risk (planned for delivery): {result['alerts_into_at_risk']} of "
               f"{result['alerts_planned']}; precision {fmt(result['alert_precision'])} (churn within 8 weeks; "
               f"{fmt(result['alert_precision_followed_up'])} over the {result['alerts_into_at_risk_followed_up']} "
               f"with 8 weeks observed); churners alerted before churning: "
               f"{result['churners_alerted_before_churn']} of {result['churners_alertable']} "
               f"(recall {fmt(result['alert_recall'])}); median lead {result['median_alert_lead_weeks']} weeks")
    click.echo(f"unmoved accounts changing segment (no planted move within ±2 weeks): max "
               f"{fmt(result['unmoved_change_share_max'])}, mean {fmt(result['unmoved_change_share_mean'])} per week")


@main.command()
@click.option("--open", "open_browser", is_flag=True, help="Open it in the default browser.")
@click.option("--port", default=8050, show_default=True, help="Port on 127.0.0.1 (0 = any free port).")
@click.pass_context
def dashboard(ctx: click.Context, open_browser: bool, port: int) -> None:
    """Serve the latest segment-health dashboard on 127.0.0.1 (a static HTML file that also opens offline)."""
    from seg_pipeline.reports.serve import serve_dashboard

    settings = _settings(ctx)
    path = settings.dashboard_path
    if not path.exists():
        raise SegError(f"no dashboard at {path}", "run `seg demo` first; every week rebuilds it")
    server, url = serve_dashboard(path, port=port, open_browser=open_browser)
    click.echo(f"dashboard: {url}   (file: {path}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --------------------------------------------------------------------------------------------- ad hoc
@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--features", required=True, help="Comma-separated numeric columns to cluster on.")
@click.option("--id-col", default=None, help="Identifier column (default: row number).")
@click.option("--algorithm", type=click.Choice(["kmeans", "dbscan", "hdbscan", "hybrid"]), default="kmeans",
              show_default=True, help="hdbscan needs no --eps (scikit-learn's HDBSCAN).")
@click.option("--k", "k", default="auto", show_default=True, help="auto, or a fixed number of clusters.")
@click.option("--k-max", type=int, default=None,
              help="Largest k auto-k tries (default: SEG_K_MAX, else 10).")
@click.option("--scaler", type=click.Choice(["standard", "robust", "minmax", "none"]), default="standard",
              show_default=True)
@click.option("--eps", type=float, default=None,
              help="DBSCAN radius (default: the radius at which DBSCAN finds HDBSCAN's dense groups).")
@click.option("--min-samples", type=int, default=None, help="DBSCAN min_samples (default: 2 x features).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def segment(input_path: Path, features: str, id_col: str | None, algorithm: str, k: str, k_max: int | None,
            scaler: str, eps: float | None, min_samples: int | None, seed: int, out_dir: Path) -> None:
    """Segment any CSV or Parquet table; writes summary.json, assignments.csv and report.html to --out.

    \b
    Example (the Mall-customers study):
      seg segment Mall_Customers.csv --features "Annual Income (k$),Spending Score (1-100)" \\
          --id-col CustomerID --k 5 --scaler none --out mall/
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.segmentation.adhoc import InputError, run_segment

    k_value: str | int = k if k == "auto" else _int_option("--k", k)
    if k_max is None and os.environ.get("SEG_K_MAX"):
        try:
            k_max = Settings.from_env().k_max
        except ValueError as exc:
            raise SegError(str(exc), "correct SEG_K_MAX, or pass --k-max") from exc
    try:
        summary = run_segment(
            input_path, [f.strip() for f in features.split(",") if f.strip()], out_dir, id_col=id_col,
            algorithm=algorithm, k=k_value, scaler=scaler, eps=eps, min_samples=min_samples, k_max=k_max, seed=seed,
        )
    except InputError as exc:
        raise SegError(str(exc), "check the column names with `head -1` on the file") from exc
    click.echo(f"{summary['algorithm']}: k={summary['k']}, silhouette={summary.get('silhouette')}, "
               f"noise={summary.get('n_noise')}; wrote {out_dir}/summary.json, assignments.csv, report.html")
    for note in summary.get("warnings", []):
        click.echo(f"warning: {note}", err=True)


def _int_option(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise SegError(f"{name} {value!r} is not a whole number", f"use {name} auto or e.g. {name} 5") from exc


@main.command()
@click.argument("transactions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--customer-col", required=True)
@click.option("--invoice-col", default=None,
              help="Invoice/order id; without it a purchase is a customer's day and cancellations are not known.")
@click.option("--date-col", required=True)
@click.option("--amount-col", default=None, help="Line amount (instead of --quantity-col x --price-col).")
@click.option("--quantity-col", default=None)
@click.option("--price-col", default=None)
@click.option("--sep", default=None,
              help="Field separator (default: comma, tab for .tsv); e.g. ';', '|', tab, whitespace.")
@click.option("--k-max", type=click.IntRange(min=2), default=8, show_default=True,
              help="Largest k the K-means k selection tries.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Reference date: purchases on or after it are left out (default: the day after the last one).")
@click.option("--no-clv", is_flag=True, help="Skip the BG/NBD + Gamma-Gamma lifetime-value fit.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def rfm(transactions: Path, customer_col: str, invoice_col: str | None, date_col: str, amount_col: str | None,
        quantity_col: str | None, price_col: str | None, sep: str | None, k_max: int, as_of: datetime | None,
        no_clv: bool, seed: int, out_dir: Path) -> None:
    """RFM study of a transaction log: RF segments, K-means and DBSCAN, lifetime value (BG/NBD + Gamma-Gamma).

    Writes summary.json (with the fitted CLV parameters), customers.csv and report.html to --out.

    \b
    Examples:
      seg rfm online_retail.csv --customer-col CustomerID --invoice-col InvoiceNo --date-col InvoiceDate \\
          --quantity-col Quantity --price-col UnitPrice --out rfm/
      seg rfm cdnow.csv --customer-col customer_id --date-col date --amount-col dollar_value \\
          --as-of 1997-10-01 --out cdnow/          (the 39-week calibration of the published CDNOW fit)
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from seg_pipeline.segmentation.adhoc import InputError
    from seg_pipeline.segmentation.rfm import run_rfm

    as_of_day: date | None = as_of.date() if as_of else None
    try:
        summary = run_rfm(transactions, out_dir, customer_col=customer_col, invoice_col=invoice_col,
                          date_col=date_col, quantity_col=quantity_col, price_col=price_col, amount_col=amount_col,
                          sep=sep, k_max=k_max, as_of=as_of_day, seed=seed, clv=not no_clv)
    except InputError as exc:
        raise SegError(str(exc), "check the column options against the file's header") from exc
    rf_segments: dict[str, int] = summary["rf_segments"]
    click.echo(f"{summary['customers']:,} customers; RF segments: "
               + ", ".join(f"{k}={v}" for k, v in rf_segments.items()))
    if "clv" in summary:
        clv = summary["clv"]
        for key, label in (("bg_nbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma")):
            params = clv.get(key)
            click.echo(f"{label}: " + (", ".join(f"{k}={v:.4f}" for k, v in params.items()) if params
                                       else "not fitted"))
        if "clv_total" in clv:
            click.echo(f"12-month CLV: total {clv['clv_total']:,.2f}, mean {clv['clv_mean']:,.2f} per customer "
                       f"(time unit: week; purchases up to {clv['observation_end']})")
        for note in clv.get("notes", []):
            click.echo(f"note: {note}")
    click.echo(f"wrote {out_dir}/summary.json, customers.csv and report.html")


@main.group()
def sinks() -> None:
    """CRM write-back and alert delivery: resend what an outage or a rejected batch left behind."""


@sinks.command()
@click.option("--week", default=None, help="Only this week's rows (a Monday, YYYY-MM-DD); default every week.")
@click.option("--dead-letters", is_flag=True, help="Also resend dead-lettered rows (after fixing the receiver).")
@click.pass_context
def redrive(ctx: click.Context, week: str | None, dead_letters: bool) -> None:
    """Resend pending (and with --dead-letters, dead-lettered) CRM rows and alerts under their original keys.

    \b
    Example:  seg sinks redrive --week 2026-01-05 --dead-letters
    The receiver deduplicates by the original idempotency keys, so a redrive never applies anything twice.
    Exit code 4 when rows are still pending afterwards (the receiver is still failing).
    """  # noqa: D301 - click's \b no-rewrap marker must stay a real backspace
    from dataclasses import replace

    from seg_pipeline.defs.resources import build_resources
    from seg_pipeline.sinks.http import SinkStopError
    from seg_pipeline.sinks.redrive import redrive as run_redrive
    from seg_pipeline.weeks import parse_week

    settings = _settings(ctx)
    try:
        wk = parse_week(week) if week else None
    except ValueError as exc:
        raise SegError(f"--week {week!r} is not a week start: {exc}", "pass a Monday as YYYY-MM-DD") from exc
    resources: dict[str, Any] = build_resources(settings)
    crm = replace(resources["crm"].config(), token=settings.secret("crm_token"), dry_run=False)
    alerts = replace(resources["alerts"].config(), webhook_secret=settings.secret("webhook_secret"),
                     smtp_user=settings.secret("smtp_user"), smtp_password=settings.secret("smtp_password"),
                     dry_run=False)
    try:
        with settings.warehouse().connect() as con:
            result = run_redrive(con, crm, alerts, week=wk, dead_letters=dead_letters)
    except SinkStopError as exc:
        raise SegError(str(exc), "fix the receiver's credentials or address, then redrive again") from exc
    click.echo(result.summary())
    if any(r is not None and r.failed for r in (result.crm, result.alerts)):
        raise WeeksFailed("some rows are still pending: the receiver is still failing",
                          "check the receiver, then run `seg sinks redrive` again")


if __name__ == "__main__":  # pragma: no cover
    main()
