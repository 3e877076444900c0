"""Features layer wiring: the feature table with its checks and registry (logic in ``seg_pipeline.features``)."""

import dagster as dg

from seg_pipeline.defs.sql_models import sql_model_asset
from seg_pipeline.defs.weekly import weekly_check
from seg_pipeline.features.registry import FEATURE_TABLE, registry_markdown
from seg_pipeline.features.stage import run_week
from seg_pipeline.warehouse.sql_models import SqlModel, layer_models


def _check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        weekly_check("keys_unique_not_null", asset=key, blocking=True,
                     description="One row per (account_id, week_start), never a NULL id."),
        weekly_check("feature_ranges", asset=key, description="Features stay inside their documented range."),
        weekly_check("feature_null_rates", asset=key, description="No feature is NULL."),
    ]


def build_features_asset(model: SqlModel) -> dg.AssetsDefinition:
    """Build the feature table's asset (checked, documented by the registry); any other features model is plain SQL."""
    if model.table != FEATURE_TABLE:
        return sql_model_asset(model)
    return sql_model_asset(
        model,
        run=run_week,
        owners=["team:data-science"],
        check_specs=_check_specs(dg.AssetKey(list(model.table))),
        metadata={"feature_registry": dg.MetadataValue.md(registry_markdown())},
    )


features_assets = [build_features_asset(model) for model in layer_models("features")]
