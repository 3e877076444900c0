"""Raw layer: one weekly asset per landing source, replaced with its quarantine rows in one transaction."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import column_schema, weekly_asset
from seg_pipeline.partitions import week_of, weekly_check
from seg_pipeline.sinks import send_engineer_alert
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.sources.landing import load_week
from seg_pipeline.warehouse.duck import connect, table_exists
from seg_pipeline.warehouse.raw import write_raw_week

_DESCRIPTIONS = {
    "product_events": (
        "Product-analytics events (logins, feature use, API calls, exports, invites) of one week, read from the "
        "daily Parquet files in the landing zone through the `product_events` contract. Rows that break the "
        "contract are in `raw.quarantine` with their reason; exact duplicate event ids are dropped and counted."
    ),
    "crm_accounts": (
        "The CRM's account snapshot at the end of the week (firmographics, plan, seats, MRR, renewal, account "
        "manager). A duplicated account id rejects the file: write-back would be ambiguous."
    ),
    "support_tickets": (
        "Support tickets created or updated during the week (JSON lines export), each row a ticket's state at "
        "that update; staging keeps the latest state as of each week's end."
    ),
}
RawEvent = dg.AssetCheckResult | dg.MaterializeResult
_KINDS = {"product_events": "parquet", "crm_accounts": "csv", "support_tickets": "json"}


def _volume_check(con, source: str, week, loaded: int, threshold: float) -> dg.AssetCheckResult:
    prev_week = week - timedelta(days=7)
    prev = 0
    if table_exists(con, "raw", source):
        row = con.execute(f'SELECT count(*) FROM raw."{source}" WHERE week_start = ?', [prev_week]).fetchall()[0]
        prev = int(row[0]) if row else 0
    if prev == 0:
        passed, drop = loaded > 0, 0.0
    else:
        drop = 1 - loaded / prev
        passed = drop <= threshold
    return dg.AssetCheckResult(
        check_name="volume_vs_previous_week",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows": loaded, "previous_week_rows": prev, "drop": round(drop, 4), "threshold": threshold},
        description=None if passed else f"{source}: {loaded} rows vs {prev} last week (drop {drop:.0%})",
    )


def build_raw_asset(source: str) -> dg.AssetsDefinition:
    contract = CONTRACTS[source]
    key = dg.AssetKey(["raw", source])
    check_specs = [
        weekly_check("keys_unique_not_null", asset=key, description="Contract key columns are unique and set."),
        weekly_check(
            "reconciles", asset=key, description="rows read = loaded + quarantined + duplicates dropped."
        ),
    ]
    if source == "product_events":
        check_specs.append(
            weekly_check(
                "volume_vs_previous_week",
                asset=key,
                blocking=True,
                description="Blocks the week when event volume drops more than the threshold (default 50 %) "
                "or the week is empty: training and sinks must not run on a broken feed.",
            )
        )

    @weekly_asset(
        "raw",
        source,
        kinds={"duckdb", _KINDS[source]},
        owners=["team:data-engineering"],
        description=_DESCRIPTIONS[source],
        check_specs=check_specs,
    )
    def _raw(context: dg.AssetExecutionContext, seg: SegResource) -> Iterator[RawEvent]:
        settings = seg.settings()
        week = week_of(context.partition_key)
        result = load_week(source, settings.landing_dir, week, reject_rate=settings.quarantine_reject_rate)
        for warning in result.warnings:
            context.log.warning(warning)
        with connect(settings.warehouse_path) as con:
            write_raw_week(con, result)
            keys = ", ".join(f'"{k}"' for k in contract.key)
            not_null = " OR ".join(f'"{k}" IS NULL' for k in contract.key)
            dup_row = con.execute(
                f'SELECT count(*) - count(DISTINCT ({keys})), count(*) FILTER (WHERE {not_null}) '
                f'FROM raw."{source}" WHERE week_start = ?',
                [week],
            ).fetchall()[0]
            schema = column_schema(con, "raw", source)
            volume = _volume_check(con, source, week, len(result.rows), settings.volume_drop_threshold)
            if source == "product_events" and not volume.passed:
                send_engineer_alert(
                    con, settings, week_start=week, reason="data_volume",
                    subject=f"[seg_pipeline] event volume check failed for {week}",
                    body=f"{volume.description}. Training, CRM write-back and alerts are blocked for this week; "
                    "fix the feed and re-run the week.",
                )
        dups, nulls = (int(dup_row[0]), int(dup_row[1])) if dup_row else (0, 0)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(result.rows),
                "dagster/column_schema": schema,
                "rows_in": result.rows_in,
                "loaded": len(result.rows),
                "quarantined": len(result.quarantine),
                "duplicates_dropped": result.duplicates_dropped,
                "quarantine_reasons": dg.MetadataValue.json(result.reason_counts()),
                "files": dg.MetadataValue.json(result.files),
                "table": "raw." + source,
            },
        )
        yield dg.AssetCheckResult(
            check_name="keys_unique_not_null",
            passed=dups == 0 and nulls == 0,
            metadata={"duplicate_keys": dups, "null_keys": nulls},
        )
        yield dg.AssetCheckResult(
            check_name="reconciles",
            passed=result.reconciled,
            metadata={
                "rows_in": result.rows_in,
                "loaded": len(result.rows),
                "quarantined": len(result.quarantine),
                "duplicates_dropped": result.duplicates_dropped,
            },
        )
        if source == "product_events":
            yield volume

    return _raw


raw_product_events = build_raw_asset("product_events")
raw_crm_accounts = build_raw_asset("crm_accounts")
raw_support_tickets = build_raw_asset("support_tickets")
