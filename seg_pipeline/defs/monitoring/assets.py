"""Monitoring wiring: the migration ledger with the mass-migration gate, and weekly Evidently drift reports.

The logic lives in ``seg_pipeline.monitoring.stage``.
"""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import (
    AlertChannelResource,
    ModelRegistryResource,
    PolicyResource,
    ReportStoreResource,
    WarehouseResource,
)
from seg_pipeline.defs.weekly import Event, emit, fail_run_on, partition_week, weekly_asset, weekly_check
from seg_pipeline.model.serving import NoChampionError
from seg_pipeline.monitoring.stage import MASS_MIGRATION_GATE, drift_week, migrations_week
from seg_pipeline.sinks.engineer import notify_engineers

ASSIGNMENTS = dg.AssetKey(["assignments", "account_segments"])
FEATURES = dg.AssetKey(["features", "account_features"])
MODEL = dg.AssetKey(["model", "segmentation_model"])
MIGRATIONS = dg.AssetKey(["monitoring", "segment_migrations"])
DRIFT = dg.AssetKey(["monitoring", "drift_report"])


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
            MASS_MIGRATION_GATE,
            asset=MIGRATIONS,
            blocking=True,
            description="Confirmed-migration rate must stay below SEG_MASS_MIGRATION_THRESHOLD (default 15 %); "
            "otherwise sinks are blocked for the week and one engineer alert is sent instead. "
            "SEG_SINKS_OVERRIDE=1 re-runs the week's sinks deliberately.",
        )
    ],
)
def segment_migrations(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_registry: ModelRegistryResource,
    policy: PolicyResource,
    alerts: AlertChannelResource,
) -> Iterator[Event]:
    """Write the week's migration ledger; a failed mass-migration gate also alerts the engineers."""
    engine = warehouse.engine()
    with fail_run_on(NoChampionError):
        result = migrations_week(partition_week(context), engine, model_registry.tracker(), policy.migrations())
    yield from emit(result, notify=lambda alert: notify_engineers(engine, alerts.config(), alert),
                    table=("monitoring", "segment_migrations"))


@weekly_asset(
    "monitoring", "drift_report",
    deps=[ASSIGNMENTS, FEATURES, MODEL],
    kinds={"evidently", "duckdb"},
    owners=["team:data-science"],
    description=(
        "Evidently data-drift reports for the week: features vs the previous week, vs the champion's training "
        "week, and per large segment; plus segment-share drift. HTML and JSON under SEG_HOME/reports/drift, "
        "logged to the week's MLflow run; the drifted share is plotted here week over week and a sensor requests "
        "an early retrain above SEG_DRIFT_RETRAIN_THRESHOLD."
    ),
)
def drift_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_registry: ModelRegistryResource,
    policy: PolicyResource,
    reports: ReportStoreResource,
) -> Iterator[Event]:
    """Write the week's drift reports under the report store's ``drift`` folder."""
    config = policy.drift(reports.directory())
    result = drift_week(partition_week(context), warehouse.engine(), model_registry.tracker(), config)
    yield from emit(result)
