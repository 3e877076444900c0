"""Assignments stage wiring: every active account gets this week's stable segment.

The logic lives in ``seg_pipeline.assignments``.
"""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.assignments.stage import run_week
from seg_pipeline.defs.resources import ModelRegistryResource, WarehouseResource
from seg_pipeline.defs.weekly import Event, emit, fail_run_on, partition_week, weekly_asset
from seg_pipeline.model.serving import NoChampionError

MODEL = dg.AssetKey(["model", "segmentation_model"])


@weekly_asset(
    "assignments", "account_segments",
    deps=[MODEL],
    kinds={"duckdb", "mlflow"},
    owners=["team:data-science"],
    description=(
        "One row per active account per week: stable segment id and persona name, DBSCAN micro-community, "
        "outlier flag (noise is never silently assigned to a segment), margin (distance gap to the second-nearest "
        "centroid; small = borderline) and the model version that assigned it - the @champion after this week's "
        "gate. Also maintains assignments.segment_catalog (id, name, first/last week, active/retired)."
    ),
)
def account_segments(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, model_registry: ModelRegistryResource
) -> Iterator[Event]:
    """Assign the week with the serving model; no champion to serve fails the run with the reason."""
    with fail_run_on(NoChampionError):
        result = run_week(partition_week(context), warehouse.engine(), model_registry.tracker(), context.run.run_id)
    yield from emit(result, table=("assignments", "account_segments"))
