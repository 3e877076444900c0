"""Model stage wiring: retrain the segmentation every week, promote it only through the gate.

The logic lives in ``seg_pipeline.model``.
"""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import (
    AlertChannelResource,
    ModelRegistryResource,
    PolicyResource,
    WarehouseResource,
)
from seg_pipeline.defs.weekly import Event, emit, partition_week, weekly_asset, weekly_check
from seg_pipeline.model.stage import RETRAIN_RUN_TAG, run_week
from seg_pipeline.outcomes import Json
from seg_pipeline.segmentation.train import RETRAIN_MODES, WEEKLY
from seg_pipeline.sinks.engineer import notify_engineers

FEATURES = dg.AssetKey(["features", "account_features"])
KEY = dg.AssetKey(["model", "segmentation_model"])
RETRAIN_TAG = RETRAIN_RUN_TAG  # "structural" (set by the drift sensor) or "weekly" (the default)


def retrain_mode(tags: dict[str, str]) -> str:
    """Read the run's retrain mode from its tags; an unknown value fails the run with the allowed ones."""
    mode = tags.get(RETRAIN_TAG, WEEKLY)
    if mode not in RETRAIN_MODES:
        raise dg.Failure(description=f"run tag {RETRAIN_TAG}={mode!r} is not a retrain mode: use "
                         f"{' or '.join(RETRAIN_MODES)}")
    return mode


@weekly_asset(
    "model", "segmentation_model",
    deps=[FEATURES],
    kinds={"sklearn", "mlflow"},
    owners=["team:data-science"],
    description=(
        "This week's segmentation model, retrained on the week's feature snapshot: a fitted preprocessing "
        "pipeline (log1p, capping, scaling), k chosen from inertia-knee + silhouette / Calinski-Harabasz / "
        "Davies-Bouldin, K-means main segments and DBSCAN micro-communities and outliers inside each segment. "
        "Clusters are aligned to the previous champion (Hungarian matching) so segment ids stay stable. Logged to "
        "MLflow with params, metrics and artifacts; the registry alias @champion moves only when the quality gate "
        "passes, otherwise the week is assigned with the current champion. The weekly run is a warm refit (a "
        "settled champion's k is kept); a run tagged seg/retrain=structural (the drift sensor's) re-selects k "
        "from scratch with a fresh initialisation and re-aligns the result to the champion."
    ),
    check_specs=[
        weekly_check(
            "quality_gate",
            asset=KEY,
            blocking=True,
            description="Minimum segment share, silhouette floor and stability (ARI vs the champion) floor. A "
            "failure keeps the previous champion (warning); with no champion at all the week is blocked. A week "
            "with too few accounts, too few informative features or no k that keeps the minimum segment share "
            "trains no model and is judged the same way, with that reason.",
        ),
        weekly_check(
            "champion_integrity",
            asset=KEY,
            blocking=True,
            description="@champion's model file matches the SHA-256 in the registry and holds only allow-listed "
            "types. If not, the previous good version serves the week (warning) and the engineers are alerted; "
            "with no loadable good version the week is blocked.",
        ),
    ],
)
def segmentation_model(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_registry: ModelRegistryResource,
    policy: PolicyResource,
    alerts: AlertChannelResource,
) -> Iterator[Event]:
    """Retrain the week under the policy, tagging the MLflow run with the Dagster run and partition."""
    tags = {"dagster.run_id": context.run.run_id, "dagster.partition": context.partition_key}
    engine = warehouse.engine()
    retrain = retrain_mode(dict(context.run.tags))
    result = run_week(partition_week(context), engine, model_registry.tracker(), policy.training(), tags,
                      retrain=retrain)
    dropped = result.metadata.get("dropped_features")
    if isinstance(dropped, Json) and dropped.value:
        reasons = ", ".join(f"{c} ({why})" for c, why in dropped.value.items())
        context.log.warning(f"left out of this week's training (no information in them): {reasons}")
    if "blocked_reason" in result.metadata:
        context.log.warning(f"no model trained this week: {result.metadata['blocked_reason']}")
    yield from emit(result, notify=lambda alert: notify_engineers(engine, alerts.config(), alert))
