"""Monitoring stage: the migration ledger with the mass-migration gate, and weekly Evidently drift reports."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from seg_pipeline.defs.model.assets import serving_model
from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import column_schema, weekly_asset
from seg_pipeline.features import registry
from seg_pipeline.monitoring.drift import weekly_drift
from seg_pipeline.monitoring.segment_moves import detect_migrations
from seg_pipeline.partitions import week_of, weekly_check
from seg_pipeline.segmentation.tracking import TAG_WEEK, MlflowTracker
from seg_pipeline.sinks import send_engineer_alert
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition, table_exists

ASSIGNMENTS = dg.AssetKey(["assignments", "account_segments"])
FEATURES = dg.AssetKey(["features", "account_features"])
MIGRATIONS = dg.AssetKey(["monitoring", "segment_migrations"])
DRIFT = dg.AssetKey(["monitoring", "drift_report"])
EXPLAIN_FEATURES = registry.feature_names()
DRIFT_SUMMARY_COLUMNS = ["week_start", "reference", "n_features", "n_drifted", "share_drifted", "drifted_features",
                         "html_path", "json_path"]
DRIFT_COLUMNS = [f.name for f in registry.FEATURES if f.kind == "numeric"]


def _frame(con, sql: str, params: list) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return con.execute(sql, params).fetchdf()


@weekly_asset(
    "monitoring", "segment_migrations",
    deps=[ASSIGNMENTS, FEATURES],
    kinds={"duckdb", "pandas"},
    owners=["team:data-science"],
    description=(
        "The migration ledger: which accounts moved from last week's segment to another one, whether the move is "
        "confirmed (stayed N weeks, default 2, or a decisive margin - flapping accounts are confirmed at most "
        "once), and why, in words (the three features that pulled the account towards its new segment). Outliers "
        "entering/leaving and micro-community changes are recorded as their own kinds. The mass-migration check "
        "blocks CRM write-back and AM alerts when implausibly many accounts move at once."
    ),
    check_specs=[
        weekly_check(
            "mass_migration_gate",
            asset=MIGRATIONS,
            blocking=True,
            description="Confirmed-migration rate must stay below SEG_MASS_MIGRATION_THRESHOLD (default 15 %); "
            "otherwise sinks are blocked for the week and one engineer alert is sent instead. "
            "SEG_SINKS_OVERRIDE=1 re-runs the week's sinks deliberately.",
        )
    ],
)
def segment_migrations(
    context: dg.AssetExecutionContext, seg: SegResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    settings = seg.settings()
    week = week_of(context.partition_key)
    prev_week = week - timedelta(days=7)
    tracker = MlflowTracker.from_settings(settings)
    centroids_z = serving_model(settings, tracker, week)[0].profiles_z_frame()
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        cur = _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start = ?", [week])
        prev = _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start = ?", [prev_week])
        history = _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start < ?", [week])
        feats = _frame(con, "SELECT * FROM features.account_features WHERE week_start = ?", [week])
        feats_hist = _frame(
            con,
            "SELECT * FROM features.account_features WHERE week_start >= ? AND week_start < ?",
            [week - timedelta(days=28), week],
        )
        prior = (
            _frame(con, "SELECT * FROM monitoring.segment_migrations WHERE week_start < ?", [week])
            if table_exists(con, "monitoring", "segment_migrations")
            else None
        )
        result = detect_migrations(
            cur, prev, history=history, features_current=feats, features_history=feats_hist,
            centroids_z=centroids_z, week_start=week, confirm_weeks=settings.hysteresis_weeks,
            confirm_margin=settings.confirm_margin, prior_migrations=prior,
        )
        replace_partition(con, "monitoring", "segment_migrations", result.ledger, key=week)
        schema = column_schema(con, "monitoring", "segment_migrations")
        blocked = result.rate > settings.mass_migration_threshold and not settings.sinks_override
        if blocked:
            body = (
                f"{result.confirmed} of {result.accounts_both_weeks} accounts ({result.rate:.0%}) changed segment in "
                f"week {week}, above the {settings.mass_migration_threshold:.0%} threshold. CRM write-back and "
                "account-manager alerts are blocked for this week. Check the model run in MLflow and the drift "
                f"report; re-run the sinks deliberately with SEG_SINKS_OVERRIDE=1 seg run {week}."
            )
            send_engineer_alert(con, settings, week_start=week, subject=f"[seg_pipeline] mass migration in {week}",
                                body=body, reason="mass_migration")
            stats = pd.DataFrame([{"week_start": week, "channel": settings.alert_channel, "digests_planned": 0,
                                   "digests_sent": 0, "moves_alerted": 0, "dead_lettered": 0, "blocked": True}])
            replace_partition(con, "sinks", "alert_stats", stats, key=week)
    matrix = result.transition_matrix
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.ledger),
            "dagster/column_schema": schema,
            **{k: (float(v) if isinstance(v, float) else int(v)) for k, v in result.summary().items()},
            "transition_matrix": dg.MetadataValue.md(matrix.to_markdown() if len(matrix) else "(no moves)"),
            "sample_explanations": dg.MetadataValue.md(
                result.ledger.loc[result.ledger["confirmed"].astype(bool), ["account_id", "from_name", "to_name",
                                                                            "explanation"]]
                .head(10).to_markdown(index=False)
                if len(result.ledger)
                else "(none)"
            ),
        }
    )
    yield dg.AssetCheckResult(
        check_name="mass_migration_gate",
        passed=not blocked,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rate": float(result.rate), "threshold": settings.mass_migration_threshold,
                  "confirmed": int(result.confirmed), "override": settings.sinks_override},
        description=(f"{result.rate:.1%} of accounts confirmed a move (threshold "
                     f"{settings.mass_migration_threshold:.0%})" + ("; overridden" if settings.sinks_override else "")),
    )


@weekly_asset(
    "monitoring", "drift_report",
    deps=[ASSIGNMENTS, FEATURES, dg.AssetKey(["model", "segmentation_model"])],
    kinds={"evidently", "duckdb"},
    owners=["team:data-science"],
    description=(
        "Evidently data-drift reports for the week: features vs the previous week, vs the champion's training "
        "week, and per large segment; plus segment-share drift. HTML and JSON under SEG_HOME/reports/drift, "
        "logged to the week's MLflow run; the drifted share is plotted here week over week and a sensor requests "
        "an early retrain above SEG_DRIFT_RETRAIN_THRESHOLD."
    ),
)
def drift_report(context: dg.AssetExecutionContext, seg: SegResource) -> dg.MaterializeResult:
    settings = seg.settings()
    week = week_of(context.partition_key)
    prev_week = week - timedelta(days=7)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        feats = _frame(con, "SELECT * FROM features.account_features WHERE week_start = ?", [week])
        feats_prev = _frame(con, "SELECT * FROM features.account_features WHERE week_start = ?", [prev_week])
        asg = _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start = ?", [week])
        asg_prev = _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start = ?", [prev_week])
        train_week_row = con.execute(
            "SELECT max(week_start) FROM model.training_runs WHERE promoted AND week_start < ?", [week]
        ).fetchall()[0][0]
        feats_train = (
            _frame(con, "SELECT * FROM features.account_features WHERE week_start = ?", [train_week_row])
            if train_week_row is not None
            else None
        )
        out_dir = settings.reports_dir / "drift"
        summary = weekly_drift(
            feats, feats_prev if len(feats_prev) else None, feats_train, asg, asg_prev if len(asg_prev) else None,
            columns=DRIFT_COLUMNS, out_dir=out_dir, week_start=week, seed=settings.seed,
        )
        rows = pd.DataFrame(summary.get("rows", []), columns=DRIFT_SUMMARY_COLUMNS)
        replace_partition(con, "monitoring", "drift_summary", rows, key=week)  # also clears a rerun's old rows
    _log_to_mlflow(settings, week, rows)
    meta: dict[str, Any] = {"reports": len(rows)}
    for rec in rows.to_dict(orient="records"):
        ref = str(rec["reference"]).replace(":", "_")
        meta[f"share_drifted_{ref}"] = float(rec["share_drifted"])
        if rec["reference"] in ("previous_week", "training"):
            meta[f"drifted_features_{ref}"] = str(rec["drifted_features"]) or "(none)"
            meta[f"report_{ref}"] = dg.MetadataValue.path(str(rec["html_path"]))
    shares = summary.get("segment_shares") or {}
    if shares:
        meta["segment_share_tvd"] = float(shares.get("tvd", 0.0))
    main = rows[rows["reference"] == "previous_week"] if len(rows) else rows
    meta["share_drifted"] = float(main["share_drifted"].iloc[0]) if len(main) else 0.0
    return dg.MaterializeResult(metadata=meta)


def _log_to_mlflow(settings, week, rows: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """Attach the week's drift HTML/JSON to the week's MLflow run (if the model stage logged one)."""
    if not len(rows):
        return
    tracker = MlflowTracker.from_settings(settings)
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`{TAG_WEEK}` = '{week.isoformat()}'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    if not runs:
        return
    for rec in rows.to_dict(orient="records"):
        for key in ("html_path", "json_path"):
            tracker.client.log_artifact(runs[0].info.run_id, str(rec[key]), artifact_path="drift")
