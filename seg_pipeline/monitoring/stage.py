"""The monitoring stage's weeks: the migration ledger with its mass-migration gate, and the drift reports.

Pure of Dagster: each function owns its table I/O and decisions and returns a :class:`StageResult`; the wiring
(``defs/monitoring``) only turns it into events. A blocked week carries its engineer alert in the check's outcome;
the sinks stage sends it.
"""

from datetime import date
from pathlib import Path

import pandas as pd

from seg_pipeline.features import registry
from seg_pipeline.model.serving import serving_model
from seg_pipeline.monitoring.config import DriftConfig, MigrationConfig
from seg_pipeline.monitoring.drift import weekly_drift
from seg_pipeline.monitoring.input_drift import InputDriftRule, input_breaks, input_drift_check
from seg_pipeline.monitoring.segment_moves import MigrationResult, detect_migrations
from seg_pipeline.monitoring.tables import (
    DRIFT_SUMMARY_COLUMNS,
    read_drift_inputs,
    read_input_reference,
    read_migration_inputs,
    write_drift_summary,
    write_ledger,
)
from seg_pipeline.outcomes import CheckOutcome, Columns, EngineerAlert, Markdown, MetadataValue, StageResult
from seg_pipeline.segmentation.tracking import TAG_WEEK, MlflowTracker
from seg_pipeline.warehouse.engine import Warehouse

MASS_MIGRATION_GATE = "mass_migration_gate"
DRIFT_COLUMNS = [f.name for f in registry.FEATURES if f.kind == "numeric"]
INPUT_COLUMNS = [f.name for f in registry.FEATURES if f.kind != "categorical"]
# features that can be negative are ratios of one column to itself (trends): a unit change cannot scale them
SIGNED_COLUMNS = [f.name for f in registry.FEATURES
                  if f.valid_range is not None and f.valid_range[0] is not None and f.valid_range[0] < 0]
SAMPLE_EXPLANATIONS = 10
DRIFT_REPORT_TAG = "seg.drift_report"  # MLflow run tag prefix: where the week's drift report is stored


# --- segment migrations ---------------------------------------------------------------------------------------


def mass_migration_alert(week: date, result: MigrationResult, config: MigrationConfig) -> EngineerAlert:
    """Write the engineers' message for a week the gate blocked: what happened, what is held back, how to re-run."""
    body = (
        f"{result.confirmed} of {result.accounts_both_weeks} accounts ({result.rate:.0%}) changed segment in "
        f"week {week}, above the {config.mass_migration_threshold:.0%} threshold. CRM write-back and "
        "account-manager alerts are blocked for this week. Check the model run in MLflow and the drift "
        f"report; re-run the sinks deliberately with SEG_SINKS_OVERRIDE=1 seg run {week}."
    )
    return EngineerAlert(week, reason="mass_migration", subject=f"[seg_pipeline] mass migration in {week}",
                         body=body)


def mass_migration_check(week: date, result: MigrationResult, config: MigrationConfig) -> CheckOutcome:
    """Blocks the week's sinks when implausibly many accounts confirmed a move (unless deliberately overridden).

    So many moves at once usually mean the model or the data moved, not the customers: CRM write-back and
    account-manager alerts wait for an engineer instead.
    """
    blocked = result.rate > config.mass_migration_threshold and not config.sinks_override
    return CheckOutcome(
        MASS_MIGRATION_GATE, not blocked,
        metadata={"rate": float(result.rate), "threshold": config.mass_migration_threshold,
                  "confirmed": int(result.confirmed), "override": config.sinks_override},
        description=(f"{result.rate:.1%} of accounts confirmed a move (threshold "
                     f"{config.mass_migration_threshold:.0%})" + ("; overridden" if config.sinks_override else "")),
        error=True,
        alert=mass_migration_alert(week, result, config) if blocked else None,
    )


def _sample_explanations(ledger: pd.DataFrame) -> str:
    if not len(ledger):
        return "(none)"
    confirmed = ledger.loc[ledger["confirmed"].astype(bool), ["account_id", "from_name", "to_name", "explanation"]]
    return str(confirmed.head(SAMPLE_EXPLANATIONS).to_markdown(index=False))


def migration_metadata(result: MigrationResult, columns: Columns) -> dict[str, MetadataValue]:
    """Build the ledger asset's metadata: size, schema, the week's counts, transition matrix, sample explanations."""
    matrix = result.transition_matrix
    return {
        "dagster/row_count": len(result.ledger),
        "dagster/column_schema": columns,
        **{k: (float(v) if isinstance(v, float) else int(v)) for k, v in result.summary().items()},
        "transition_matrix": Markdown(matrix.to_markdown() if len(matrix) else "(no moves)"),
        "sample_explanations": Markdown(_sample_explanations(result.ledger)),
    }


def migrations_week(week: date, warehouse: Warehouse, tracker: MlflowTracker, config: MigrationConfig) -> StageResult:
    """Replace the week's ledger in ``monitoring.segment_migrations`` and judge it with the mass-migration gate.

    Explanations are directed by the centroids of the model that assigned the week; raises
    ``NoChampionError`` (before writing anything) when no model may assign it.
    """
    centroids_z = serving_model(warehouse, tracker, week)[0].profiles_z_frame()
    with warehouse.connect() as con:
        inputs = read_migration_inputs(con, week)
        result = detect_migrations(
            inputs.current, inputs.previous, history=inputs.history, features_current=inputs.features,
            features_history=inputs.features_history, centroids_z=centroids_z, week_start=week,
            confirm_weeks=config.hysteresis_weeks, confirm_margin=config.confirm_margin,
            prior_migrations=inputs.prior, state=inputs.state,
        )
        columns = Columns(tuple(write_ledger(con, week, result.ledger, result.state)))
    return StageResult(migration_metadata(result, columns), [mass_migration_check(week, result, config)])


# --- drift ----------------------------------------------------------------------------------------------------


def drift_metadata(rows: pd.DataFrame, segment_shares: dict[str, float] | None) -> dict[str, MetadataValue]:
    """Per-reference drifted shares, the main reports' paths, and ``share_drifted`` (vs last week) for the sensor."""
    meta: dict[str, MetadataValue] = {"reports": len(rows)}
    for rec in rows.to_dict(orient="records"):
        ref = str(rec["reference"]).replace(":", "_")
        meta[f"share_drifted_{ref}"] = float(rec["share_drifted"])
        if rec["reference"] in ("previous_week", "training"):
            meta[f"drifted_features_{ref}"] = str(rec["drifted_features"]) or "(none)"
            meta[f"report_{ref}"] = Path(str(rec["html_path"]))
    if segment_shares:
        meta["segment_share_tvd"] = float(segment_shares.get("tvd", 0.0))
    main = rows[rows["reference"] == "previous_week"] if len(rows) else rows
    meta["share_drifted"] = float(main["share_drifted"].iloc[0]) if len(main) else 0.0
    return meta


def link_drift_reports(tracker: MlflowTracker, week: date, rows: pd.DataFrame) -> None:
    """Point the week's latest MLflow run at the drift reports: a path tag and the drifted share per reference.

    The reports are stored once, under the report store; MLflow keeps only where they are and the numbers
    (a copy of every report in MLflow doubled the disk use and grew the artifact store every week).
    """
    if not len(rows):
        return
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`{TAG_WEEK}` = '{week.isoformat()}'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    if not runs:
        return
    run_id = runs[0].info.run_id
    for rec in rows.to_dict(orient="records"):
        ref = str(rec["reference"]).replace(":", "_")
        tracker.client.log_metric(run_id, f"drift_share_{ref}", float(rec["share_drifted"]))
        if rec["reference"] in ("previous_week", "training"):
            tracker.client.set_tag(run_id, f"{DRIFT_REPORT_TAG}.{ref}", str(rec["html_path"]))


def drift_week(week: date, warehouse: Warehouse, tracker: MlflowTracker, config: DriftConfig) -> StageResult:
    """Write the week's drift reports, record their summary and link them from the week's MLflow run.

    Reports go under ``reports_dir/drift`` (one per reference: last week, with the largest segments inside it,
    and the champion's training week), the week's ``monitoring.drift_summary`` rows are replaced, and the
    MLflow run gets the reports' paths and drifted shares (not copies of the files).
    """
    with warehouse.connect() as con:
        inputs = read_drift_inputs(con, week)
        summary = weekly_drift(
            inputs.features, inputs.features_prev if len(inputs.features_prev) else None, inputs.features_train,
            inputs.assignments, inputs.assignments_prev if len(inputs.assignments_prev) else None,
            columns=DRIFT_COLUMNS, out_dir=config.reports_dir / "drift", week_start=week, seed=config.seed,
            assignments_train=inputs.assignments_train,
        )
        rows = pd.DataFrame(summary.get("rows", []), columns=DRIFT_SUMMARY_COLUMNS)
        write_drift_summary(con, week, rows)  # also clears a rerun's old rows
    link_drift_reports(tracker, week, rows)
    return StageResult(drift_metadata(rows, summary.get("segment_shares")))


# --- input drift ----------------------------------------------------------------------------------------------


def input_drift_week(week: date, warehouse: Warehouse, rule: InputDriftRule, *, override: bool) -> CheckOutcome:
    """Judge the week's features against the reference week with the input-drift rule (see ``input_drift``)."""
    with warehouse.connect() as con:
        current, reference, label = read_input_reference(con, week)
    if label is None or current.empty:
        return input_drift_check(week, [], None, rule, override=override)
    breaks = input_breaks(current, reference, INPUT_COLUMNS, rule, signed=SIGNED_COLUMNS)
    return input_drift_check(week, breaks, label, rule, override=override)
