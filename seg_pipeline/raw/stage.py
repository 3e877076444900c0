"""The raw stage's week: read a source's landing files through its contract, replace ``raw.<source>``, check it."""

from datetime import date

from seg_pipeline.outcomes import CheckOutcome, Columns, EngineerAlert, Json, StageResult
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.orphans import ORPHAN_CHECKED, count_orphans, orphan_check
from seg_pipeline.raw.tables import (
    activity,
    key_violations,
    latest_active_week,
    write_feature_rules,
    write_staged_week,
    written_counts,
)
from seg_pipeline.sources.landing import StagedWeek, drop_staged, stage_week
from seg_pipeline.warehouse.duck import memory_limit, table_columns
from seg_pipeline.warehouse.engine import Warehouse

# The product-activity feeds: a company delivers raw events, daily per-feature counts, or both. Their collapse
# makes a week meaningless, so the volume check (on the events asset, which loads after daily usage) measures
# their sum: one shape missing is normal, a drop of both together is not.
ACTIVITY_SOURCES = ("product_events", "product_usage")
VOLUME_CHECKED = frozenset({"product_events"})


def volume_check(source: str, week: date, loaded: int, previous: int, threshold: float,
                 baseline: date | None = None) -> CheckOutcome:
    """Blocks the week when product activity is empty or dropped by more than ``threshold`` against ``baseline``.

    ``loaded`` and ``previous`` count activity: events plus the usage counts of daily aggregates; ``baseline`` is
    the latest earlier week with activity (``tables.latest_active_week``), usually last week.
    """
    if previous == 0:
        passed, drop = loaded > 0, 0.0
    else:
        drop = 1 - loaded / previous
        passed = drop <= threshold
    description = None if passed else (
        f"{source}: product activity {loaded} (events + daily usage counts) vs {previous} in "
        f"{'the week of ' + baseline.isoformat() if baseline else 'the last week'} (drop {drop:.0%})"
    )
    alert = None if passed else EngineerAlert(
        week_start=week, reason="data_volume", subject=f"[seg_pipeline] event volume check failed for {week}",
        body=f"{description}. Training, CRM write-back and alerts are blocked for this week; fix the feed and "
        "re-run the week.",
    )
    return CheckOutcome(
        "volume_vs_previous_week", passed,
        metadata={"rows": loaded, "previous_week_rows": previous, "baseline_week": str(baseline),
                  "drop": round(drop, 4), "threshold": threshold},
        description=description, alert=alert,
    )


FILES_CHECK = "landing_files_readable"


def files_check(source: str, week: date, problems: list[str]) -> CheckOutcome:
    """Blocks the week when a landing file gave no rows (empty, header only, not its format), naming each file.

    Without it such a week fails later for a misleading reason (no CRM snapshot, orphan ids, a volume drop).
    """
    passed = not problems
    description = None if passed else "; ".join(problems)
    alert = None if passed else EngineerAlert(
        week_start=week, reason=f"unreadable_file_{source}",
        subject=f"[seg_pipeline] unusable {source} landing file for {week}",
        body=f"{description}. Training, CRM write-back and alerts are blocked for this week; replace the file "
        "with a complete export and re-run the week (`seg run " + week.isoformat() + "`).",
    )
    return CheckOutcome(FILES_CHECK, passed, metadata={"unusable_files": len(problems)},
                        description=description, alert=alert)


def contract_alert(source: str, week: date, error: Exception) -> EngineerAlert:
    """Describe, for the engineers, a landing file that broke its contract and stopped the week (the error names it)."""
    return EngineerAlert(
        week_start=week, reason=f"contract_{source}",
        subject=f"[seg_pipeline] {source} landing file rejected for {week}",
        body=f"{error}. Nothing of the week was written; fix or replace the file and re-run the week "
        f"(`seg run {week.isoformat()}`).",
    )


def _metadata(result: StagedWeek, columns: Columns) -> dict[str, object]:
    return {
        "dagster/row_count": result.loaded,
        "dagster/column_schema": columns,
        "rows_in": result.rows_in,
        "loaded": result.loaded,
        "quarantined": result.quarantined,
        "duplicates_dropped": result.duplicates_dropped,
        "quarantine_reasons": Json(result.reasons),
        "files": Json(result.files),
        "unusable_files": Json(result.file_problems),
        "table": "raw." + result.source,
    }


def run_week(source: str, week: date, warehouse: Warehouse, config: IngestConfig) -> tuple[StageResult, list[str]]:
    """Load ``source`` for ``week`` into the warehouse; returns the result and the loader's warnings.

    The landing files are checked and staged by DuckDB SQL on the warehouse connection under the warehouse's
    memory cap (it spills to its temp directory beyond it), then moved into ``raw.*`` in one transaction. A
    contract violation that makes the week ambiguous (missing column, duplicated CRM id) raises before a byte is
    written, so the previous state of the week stays intact. ``reconciles`` counts what was actually written.
    """
    checks: list[CheckOutcome] = []
    with warehouse.connect() as con, memory_limit(con, warehouse.sql_memory_limit):
        result = stage_week(con, source, config.landing_dir, week, reject_rate=config.reject_rate)
        try:
            write_staged_week(con, result)
        finally:
            drop_staged(con, result)
        loaded, quarantined = written_counts(con, source, week)
        dups, nulls = key_violations(con, source, week)
        columns = Columns(tuple(table_columns(con, "raw", source)))
        if source in VOLUME_CHECKED:
            baseline = latest_active_week(con, week)
            before = activity(con, baseline) if baseline is not None else 0
            checks.append(volume_check(source, week, activity(con, week), before, config.volume_drop_threshold,
                                       baseline=baseline))
        if source in ORPHAN_CHECKED:
            checks.append(orphan_check(count_orphans(con, source, week), week, config.orphan_max_share))
    checks[:0] = [
        files_check(source, week, result.file_problems),
        CheckOutcome("keys_unique_not_null", dups == 0 and nulls == 0,
                     metadata={"duplicate_keys": dups, "null_keys": nulls}),
        CheckOutcome("reconciles", result.rows_in == loaded + quarantined + result.duplicates_dropped, metadata={
            "rows_in": result.rows_in, "loaded": loaded, "quarantined": quarantined,
            "duplicates_dropped": result.duplicates_dropped,
        }),
    ]
    return StageResult(_metadata(result, columns), checks), list(result.warnings)


def record_feature_rules(week: date, warehouse: Warehouse, config: IngestConfig) -> StageResult:
    """Record the week's feature rules (configured key features, top-N fallback) for the SQL models to read."""
    with warehouse.connect() as con:
        write_feature_rules(con, week, config.key_features, config.key_features_top_n)
    return StageResult({
        "key_features": Json(list(config.key_features)),
        "key_features_top_n": config.key_features_top_n,
        "table": "raw.feature_rules",
        "rule": "the configured key features that occur in the 4 weeks up to the week's end; when none does, "
                "the top-N product features by usage over those weeks",
    })
