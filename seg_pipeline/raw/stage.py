"""The raw stage's week: read a source's landing files through its contract, replace ``raw.<source>``, check it."""

from datetime import date

from seg_pipeline.outcomes import CheckOutcome, Columns, EngineerAlert, Json, StageResult
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.raw.tables import key_violations, previous_week_rows, write_raw_week
from seg_pipeline.sources.landing import LoadResult, load_week
from seg_pipeline.warehouse.duck import table_columns
from seg_pipeline.warehouse.engine import Warehouse

VOLUME_CHECKED = frozenset({"product_events"})  # the feed whose collapse makes a week meaningless


def volume_check(source: str, week: date, loaded: int, previous: int, threshold: float) -> CheckOutcome:
    """Blocks the week when the feed is empty or dropped by more than ``threshold`` against last week."""
    if previous == 0:
        passed, drop = loaded > 0, 0.0
    else:
        drop = 1 - loaded / previous
        passed = drop <= threshold
    description = None if passed else f"{source}: {loaded} rows vs {previous} last week (drop {drop:.0%})"
    alert = None if passed else EngineerAlert(
        week_start=week, reason="data_volume", subject=f"[seg_pipeline] event volume check failed for {week}",
        body=f"{description}. Training, CRM write-back and alerts are blocked for this week; fix the feed and "
        "re-run the week.",
    )
    return CheckOutcome(
        "volume_vs_previous_week", passed,
        metadata={"rows": loaded, "previous_week_rows": previous, "drop": round(drop, 4), "threshold": threshold},
        description=description, alert=alert,
    )


def _metadata(result: LoadResult, columns: Columns) -> dict[str, object]:
    return {
        "dagster/row_count": len(result.rows),
        "dagster/column_schema": columns,
        "rows_in": result.rows_in,
        "loaded": len(result.rows),
        "quarantined": len(result.quarantine),
        "duplicates_dropped": result.duplicates_dropped,
        "quarantine_reasons": Json(result.reason_counts()),
        "files": Json(result.files),
        "table": "raw." + result.source,
    }


def run_week(source: str, week: date, warehouse: Warehouse, config: IngestConfig) -> tuple[StageResult, list[str]]:
    """Load ``source`` for ``week`` into the warehouse; returns the result and the loader's warnings.

    A contract violation that makes the week ambiguous (missing column, duplicated CRM id) raises before a
    byte is written, so the previous state of the week stays intact.
    """
    result = load_week(source, config.landing_dir, week, reject_rate=config.reject_rate)
    with warehouse.connect() as con:
        previous = previous_week_rows(con, source, week)
        write_raw_week(con, result)
        dups, nulls = key_violations(con, source, week)
        columns = Columns(tuple(table_columns(con, "raw", source)))
    checks = [
        CheckOutcome("keys_unique_not_null", dups == 0 and nulls == 0,
                     metadata={"duplicate_keys": dups, "null_keys": nulls}),
        CheckOutcome("reconciles", result.reconciled, metadata={
            "rows_in": result.rows_in, "loaded": len(result.rows), "quarantined": len(result.quarantine),
            "duplicates_dropped": result.duplicates_dropped,
        }),
    ]
    if source in VOLUME_CHECKED:
        checks.append(volume_check(source, week, len(result.rows), previous, config.volume_drop_threshold))
    return StageResult(_metadata(result, columns), checks), list(result.warnings)
