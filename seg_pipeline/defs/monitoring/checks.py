"""The input-drift gate: a blocking check on the week's features, upstream of the model, CRM write-back and alerts.

A feature broken upstream (a unit change, a NULL jump, a column gone flat) holds back every stage after the
features, so no wrong segment reaches the CRM or an account manager and no model trained on it takes @champion.
The rule lives in ``seg_pipeline.monitoring.input_drift``.
"""

import dagster as dg

from seg_pipeline.defs.resources import AlertChannelResource, PolicyResource, WarehouseResource
from seg_pipeline.defs.weekly import WEEKLY, check_result
from seg_pipeline.monitoring.input_drift import INPUT_DRIFT_GATE, InputDriftRule
from seg_pipeline.monitoring.stage import input_drift_week
from seg_pipeline.sinks.engineer import notify_engineers
from seg_pipeline.weeks import parse_week

FEATURES = dg.AssetKey(["features", "account_features"])


@dg.asset_check(
    asset=FEATURES,
    name=INPUT_DRIFT_GATE,
    blocking=True,
    partitions_def=WEEKLY,
    pool="warehouse",
    description="Input drift vs the champion's training week (else last week): a feature multiplied by one "
    "constant factor (x5 or more, the same at every quantile), a NULL rate up 20 points, or a varying column "
    "turned into one value blocks the week's model, CRM write-back and alerts and alerts the engineers. A real "
    "population change moves accounts, not a column's unit, and passes. SEG_SINKS_OVERRIDE=1 accepts a "
    "deliberate change.",
)
def input_drift_gate(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    policy: PolicyResource,
    alerts: AlertChannelResource,
) -> dg.AssetCheckResult:
    """Judge the week's features; a failure sends the engineer alert and blocks everything downstream."""
    week = parse_week(context.partition_key)
    engine = warehouse.engine()
    outcome = input_drift_week(week, engine, InputDriftRule(), override=policy.sinks_override)
    if not outcome.passed and outcome.alert is not None:
        notify_engineers(engine, alerts.config(), outcome.alert)
    return check_result(outcome)
