"""The features stage's week: build ``features.account_features``, check it, publish the registry next to it."""

from datetime import date

import duckdb

from seg_pipeline.features.checks import feature_checks
from seg_pipeline.features.registry import FEATURE_TABLE, registry_frame
from seg_pipeline.features.vocabulary import vocabulary_metadata
from seg_pipeline.outcomes import StageResult
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.sql_models import SqlModel, materialize_week


def publish_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Keep ``features.feature_registry`` queryable next to the features it documents."""
    con.register("_registry", registry_frame())
    try:
        con.execute("CREATE OR REPLACE TABLE features.feature_registry AS SELECT * FROM _registry")
    finally:
        con.unregister("_registry")


def run_week(model: SqlModel, week: date, warehouse: Warehouse) -> StageResult:
    """Run the feature SQL model for ``week``, check the week's rows and publish the registry (one connection).

    The checks only report: the blocking ``keys_unique_not_null`` is what stops training on a bad week.
    """
    if model.table != FEATURE_TABLE:
        raise ValueError(f"the features stage builds {'.'.join(FEATURE_TABLE)}, not {'.'.join(model.table)}")
    with warehouse.connect() as con:
        metadata = materialize_week(con, model, week, memory_limit=warehouse.sql_memory_limit, spark=warehouse.spark)
        metadata |= vocabulary_metadata(con, week)
        checks = feature_checks(con, week)
        publish_registry(con)
    return StageResult(metadata, checks)
