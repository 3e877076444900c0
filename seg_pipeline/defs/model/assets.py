"""Model stage: retrain the segmentation every week, log it to MLflow, promote it only through the gate."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import weekly_asset
from seg_pipeline.partitions import week_of, weekly_check
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.segmentation.train import TrainConfig, train_week
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition, table_exists

FEATURES = dg.AssetKey(["features", "account_features"])
KEY = dg.AssetKey(["model", "segmentation_model"])


def serving_model(settings, tracker: MlflowTracker, week) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    """The model that assigns ``week``: the version recorded for it by the model stage, else @champion."""
    with connect(settings.warehouse_path) as con:
        rows = con.execute(
            "SELECT serving_version FROM model.training_runs WHERE week_start = ? AND serving_version IS NOT NULL",
            [week],
        ).fetchall()
    if rows:
        return tracker.load_version(str(rows[0][0])), str(rows[0][0])
    champion = tracker.load_champion()
    if champion is None:
        raise dg.Failure(description="no @champion model in MLflow yet: the first week's model failed its gate")
    return champion[0], str(champion[1])


def load_week_features(con, week, columns: list[str]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    cols = ", ".join(f'"{c}"' for c in ["account_id", *columns])
    return con.execute(
        f"SELECT {cols} FROM features.account_features WHERE week_start = ? ORDER BY account_id", [week]
    ).fetchdf()


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
        "passes, otherwise the week is assigned with the current champion."
    ),
    check_specs=[
        weekly_check(
            "quality_gate",
            asset=KEY,
            blocking=True,
            description="Minimum segment share, silhouette floor and stability (ARI vs the champion) floor. A "
            "failure keeps the previous champion (warning); with no champion at all the week is blocked.",
        )
    ],
)
def segmentation_model(
    context: dg.AssetExecutionContext, seg: SegResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    settings = seg.settings()
    week = week_of(context.partition_key)
    config = TrainConfig.from_settings(settings)
    tracker = MlflowTracker.from_settings(settings)
    champion = tracker.load_champion()
    champion_model, champion_version = champion if champion else (None, None)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        features = load_week_features(con, week, list(config.features))
        previous = None
        if table_exists(con, "assignments", "account_segments"):
            previous = con.execute(
                "SELECT account_id, segment_id FROM assignments.account_segments WHERE week_start = ?",
                [week - timedelta(days=7)],
            ).fetchdf()
        latest_promoted = con.execute(
            "SELECT max(week_start) FROM model.training_runs WHERE promoted AND week_start <> ?", [week]
        ).fetchall()[0][0]
    # re-running an older week (a backfill) must not hand @champion to a model trained on older data
    backfill = latest_promoted is not None and week < latest_promoted
    result = train_week(
        features, config, champion=champion_model,
        champion_assignments=previous if previous is not None and len(previous) else None, week_start=week,
    )
    version = tracker.log_week(
        result,
        week_start=week,
        tags={"dagster.run_id": context.run.run_id, "dagster.partition": context.partition_key},
        features=features,
    )
    promoted = result.gate.passed and not backfill
    if promoted:
        tracker.promote(version)
    # the week is assigned by its own model when it passed the gate (even in a backfill), else by the champion
    serving = version if result.gate.passed else champion_version
    reasons = list(result.gate.reasons)
    if backfill:
        reasons.append(f"backfill of {week}: @champion stays on the model of {latest_promoted}")
    m = result.metrics
    row = pd.DataFrame([{
        "week_start": week, "model_version": str(version), "serving_version": serving, "promoted": promoted,
        "gate_reasons": "; ".join(reasons), "k": int(result.k_selection.k),
        "n_segments": int(m.get("n_segments", 0)), "silhouette": m.get("silhouette"),
        "calinski_harabasz": m.get("calinski_harabasz"), "davies_bouldin": m.get("davies_bouldin"),
        "inertia": m.get("inertia"), "noise_share": m.get("noise_share"), "stability_ari": m.get("stability_ari"),
        "changed_share": m.get("changed_share"), "accounts": len(features), "k_reason": result.k_selection.reason,
    }])
    with connect(settings.warehouse_path) as con:
        replace_partition(con, "model", "training_runs", row, key=week)
    scores = result.k_selection.scores
    metadata: dict[str, Any] = {
        "model_version": str(version),
        "serving_version": str(serving),
        "promoted": promoted,
        "k": int(result.k_selection.k),
        "k_reason": result.k_selection.reason,
        "accounts": len(features),
        "k_selection": dg.MetadataValue.md(scores.round(4).to_markdown(index=False)),
        "segments": dg.MetadataValue.json({str(k): v for k, v in result.model.segment_names.items()}),
        "mlflow_tracking_uri": settings.tracking_uri,
        **{k: float(v) for k, v in m.items() if v is not None and pd.notna(v)},
    }
    yield dg.MaterializeResult(metadata=metadata)
    no_model = serving is None
    passed = result.gate.passed
    yield dg.AssetCheckResult(
        check_name="quality_gate",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if no_model else dg.AssetCheckSeverity.WARN,
        description=(
            ("promoted to @champion" if promoted else "passed; backfill week, @champion unchanged")
            if passed
            else ("no champion to fall back to: " if no_model else f"kept champion v{champion_version}: ")
            + "; ".join(result.gate.reasons)
        ),
        metadata={"reasons": dg.MetadataValue.json(result.gate.reasons), "candidate_version": str(version),
                  "thresholds": dg.MetadataValue.json({
                      "min_segment_share": config.min_segment_share, "silhouette_floor": config.silhouette_floor,
                      "stability_floor": config.stability_floor}),
                  },
    )
