"""Drift sensor: request a structural retrain of a week whose features drifted beyond the threshold.

The weekly run is a warm refit that keeps the champion's k; re-running it would change nothing. The sensor's run
carries ``seg/retrain=structural``: k re-selected from scratch, fresh initialisation, re-aligned to the champion.
"""

from typing import cast

import dagster as dg

from seg_pipeline.defs.monitoring.assets import DRIFT
from seg_pipeline.defs.resources import PolicyResource
from seg_pipeline.defs.weekly import WEEKS_PARTITION_SET
from seg_pipeline.model.stage import RETRAIN_RUN_TAG
from seg_pipeline.segmentation.train import STRUCTURAL

retrain_job = dg.define_asset_job(
    "early_retrain",
    selection=dg.AssetSelection.assets(["model", "segmentation_model"]).downstream(),
    executor_def=dg.in_process_executor,
    description="Retrain the segmentation of a week structurally (k re-selected, fresh initialisation, aligned to "
    "the champion) and re-run everything downstream of the model.",
)


@dg.asset_sensor(
    asset_key=DRIFT,
    job=retrain_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads each new drift report's `share_drifted`; above SEG_DRIFT_RETRAIN_THRESHOLD (default 50 %) it "
    "requests one structural retrain of that week (run tag seg/retrain=structural; run key = week: the retrain's own "
    "drift report, which it re-creates, cannot trigger another one).",
)
def drift_retrain_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, policy: PolicyResource
) -> dg.RunRequest | dg.SkipReason:
    """Request one retrain of a week whose drifted share exceeds the policy's threshold."""
    threshold = policy.drift_retrain_threshold
    mat = asset_event.asset_materialization
    if mat is None or mat.partition is None:
        return dg.SkipReason("materialization without a partition")
    if not context.instance.has_dynamic_partition(WEEKS_PARTITION_SET, mat.partition):
        week = mat.partition
        return dg.SkipReason(f"week {week} is not in the partition set; run it first (`seg run {week}`)")
    value = mat.metadata.get("share_drifted")
    share = float(cast(float, value.value)) if value is not None else 0.0  # the stage writes it as a float
    if share <= threshold:
        return dg.SkipReason(f"week {mat.partition}: {share:.0%} of features drifted (threshold {threshold:.0%})")
    return dg.RunRequest(
        run_key=f"drift-retrain-{mat.partition}",
        partition_key=mat.partition,
        tags={"seg/reason": f"drift {share:.0%} > {threshold:.0%}", RETRAIN_RUN_TAG: STRUCTURAL},
    )
