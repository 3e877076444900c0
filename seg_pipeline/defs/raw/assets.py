"""Raw layer wiring: one weekly asset per landing source and the week's feature rules (logic: ``seg_pipeline.raw``)."""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import AlertChannelResource, LandingZoneResource, WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, partition_week, weekly_asset, weekly_check
from seg_pipeline.raw.orphans import ORPHAN_CHECKED
from seg_pipeline.raw.stage import FILES_CHECK, VOLUME_CHECKED, contract_alert, record_feature_rules, run_week
from seg_pipeline.sinks.engineer import notify_engineers
from seg_pipeline.sources.contracts import ContractError

_DESCRIPTIONS = {
    "product_events": (
        "Product-analytics events (logins, feature use, API calls, exports, invites) of one week, read from the "
        "daily Parquet files in the landing zone through the `product_events` contract. Rows that break the "
        "contract are in `raw.quarantine` with their reason; exact duplicate event ids are dropped and counted. "
        "A company may deliver daily usage counts instead (or as well): the volume check judges both together."
    ),
    "product_usage": (
        "Daily usage aggregates of one week (account, day, product feature, event type, count, duration, active "
        "users), the export most product-analytics tools give, read from the daily Parquet files through the "
        "`product_usage` contract. Any feature vocabulary is accepted; exact duplicate keys are dropped and "
        "counted, conflicting ones quarantined."
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
_KINDS = {"product_events": "parquet", "product_usage": "parquet", "crm_accounts": "csv", "support_tickets": "json"}
_CRM = dg.AssetKey(["raw", "crm_accounts"])
# the events asset runs after daily usage, so its volume check sees the week's whole product activity
_DEPS = {"product_events": [_CRM, dg.AssetKey(["raw", "product_usage"])], "product_usage": [_CRM],
         "support_tickets": [_CRM]}


def _check_specs(source: str) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(["raw", source])
    specs = [
        weekly_check(
            FILES_CHECK, asset=key, blocking=True,
            description="Blocks the week when a landing file gave no rows: zero bytes, a header only, or not the "
            "format its name says (garbage, truncated Parquet); the reason names the file. An empty file of a "
            "source that may be quiet (tickets, a day of events) only warns; a CRM snapshot never may be empty.",
        ),
        weekly_check("keys_unique_not_null", asset=key, description="Contract key columns are unique and set."),
        weekly_check("reconciles", asset=key, description="rows read = loaded + quarantined + duplicates dropped."),
    ]
    if source in VOLUME_CHECKED:
        specs.append(weekly_check(
            "volume_vs_previous_week", asset=key, blocking=True,
            description="Blocks the week when product activity (events + daily usage counts) drops more than the "
            "threshold (default 50 %) or is empty: training and sinks must not run on a broken feed.",
        ))
    if source in ORPHAN_CHECKED:
        specs.append(weekly_check(
            "orphan_ids", asset=key, blocking=True,
            description="Rows whose account_id is not in the week's CRM snapshot: a warning when a few, blocking "
            "when their share is credibly above SEG_ORPHAN_MAX_SHARE (default 20 %): a broken id mapping.",
        ))
    return specs


def build_raw_asset(source: str) -> dg.AssetsDefinition:
    """Build the weekly asset that loads ``source`` into ``raw.<source>``."""

    @weekly_asset(
        "raw", source,
        kinds={"duckdb", _KINDS[source]},
        owners=["team:data-engineering"],
        description=_DESCRIPTIONS[source],
        deps=_DEPS.get(source, ()),
        check_specs=_check_specs(source),
    )
    def _raw(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingZoneResource,
        alerts: AlertChannelResource,
    ) -> Iterator[Event]:
        engine, week = warehouse.engine(), partition_week(context)
        try:
            result, warnings = run_week(source, week, engine, landing.config())
        except ContractError as exc:  # the file is named in the message; the engineers hear of it like a block
            notify_engineers(engine, alerts.config(), contract_alert(source, week, exc))
            raise dg.Failure(description=str(exc)) from exc
        for warning in warnings:
            context.log.warning(warning)
        yield from emit(result, notify=lambda alert: notify_engineers(engine, alerts.config(), alert),
                        table=("raw", source))

    return _raw


raw_product_events = build_raw_asset("product_events")
raw_product_usage = build_raw_asset("product_usage")
raw_crm_accounts = build_raw_asset("crm_accounts")
raw_support_tickets = build_raw_asset("support_tickets")


@weekly_asset(
    "raw", "feature_rules",
    kinds={"duckdb"},
    owners=["team:data-science"],
    description="The feature rules in force for the week (SEG_KEY_FEATURES, SEG_KEY_FEATURES_TOP_N), recorded so "
    "the SQL models read them and a week's key features can be explained from the warehouse alone.",
)
def raw_feature_rules(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      landing: LandingZoneResource) -> Iterator[Event]:
    """Record the configured key features for the week."""
    yield from emit(record_feature_rules(partition_week(context), warehouse.engine(), landing.config()),
                    table=("raw", "feature_rules"))
