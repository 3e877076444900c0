"""The input-drift gate is wired where it can stop harm: a blocking check upstream of the model and both sinks."""

import dagster as dg

from seg_pipeline.definitions import defs as lazy_defs
from seg_pipeline.defs.monitoring.checks import input_drift_gate

FEATURES = dg.AssetKey(["features", "account_features"])


def test_the_gate_is_a_blocking_check_on_the_features():
    (spec,) = input_drift_gate.check_specs
    assert spec.asset_key == FEATURES
    assert spec.blocking


def test_the_model_and_both_sinks_are_downstream_of_the_gated_features():
    graph = lazy_defs().resolve_asset_graph()
    downstream = graph.get(FEATURES).child_keys
    seen, todo = set(), list(downstream)
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(graph.get(key).child_keys)
    for key in (["model", "segmentation_model"], ["sinks", "crm_writeback"], ["sinks", "am_alerts"]):
        assert dg.AssetKey(key) in seen
    assert dg.AssetCheckKey(FEATURES, "input_drift_gate") in graph.asset_check_keys
