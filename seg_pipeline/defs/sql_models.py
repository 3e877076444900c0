"""Shared wiring (not a stage): one weekly asset per SQL model file, with lineage parsed from its SQL.

The staging, intermediate and features wiring each build their own layer's assets with :func:`sql_model_asset`;
the week itself is a stage function (``run_sql_model`` by default) that takes a ``Warehouse``.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import dagster as dg

from seg_pipeline.defs.resources import WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, partition_week, weekly_asset
from seg_pipeline.outcomes import StageResult
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.sql_models import SqlModel, run_sql_model

ModelRun = Callable[[SqlModel, date, Warehouse], StageResult]
DATA_ENGINEERING = ("team:data-engineering",)


def sql_model_asset(
    model: SqlModel,
    *,
    run: ModelRun = run_sql_model,
    owners: Iterable[str] = DATA_ENGINEERING,
    check_specs: Iterable[dg.AssetCheckSpec] = (),
    metadata: Mapping[str, Any] | None = None,
) -> dg.AssetsDefinition:
    """Build the weekly asset that materializes ``model`` with ``run``; key, deps and code version come from the SQL."""

    @weekly_asset(
        model.layer,
        model.name,
        deps=[dg.AssetKey([schema, table]) for schema, table in model.deps],
        code_version=model.code_version,
        kinds={"duckdb", "sql"},
        owners=owners,
        description=model.description or f"SQL model {model.layer}.{model.name}",
        metadata={
            "sql_file": dg.MetadataValue.path(str(model.path)),
            "table": ".".join(model.table),
            **(metadata or {}),
        },
        check_specs=check_specs,
    )
    def _model(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[Event]:
        yield from emit(run(model, partition_week(context), warehouse.engine()), table=model.table)

    return _model
