"""Staging layer wiring: one weekly asset per ``dbt_like_sql/staging/*.sql`` (logic in the SQL files)."""

from seg_pipeline.defs.sql_models import sql_model_asset
from seg_pipeline.warehouse.sql_models import layer_models

staging_assets = [sql_model_asset(model) for model in layer_models("staging")]
