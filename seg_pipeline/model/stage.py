"""The model stage's week: retrain on the week's features, log to MLflow, decide who serves the week.

The decisions are small named functions so the policy reads (and is tested) on its own:

- a week older than the newest promoted one is a *backfill*: it never takes @champion from newer data;
- a model that passed its gate serves its own week (even in a backfill), else the current champion does;
- the ``quality_gate`` check is an ERROR (blocking the week) only when no model at all can serve it;
- a week whose data cannot give an acceptable model (too few accounts or informative features, no k that keeps
  the minimum segment share) trains nothing: it is judged like a failed gate, with that reason.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from seg_pipeline.assignments.tables import week_segments
from seg_pipeline.features.store import first_feature_week, load_week_features
from seg_pipeline.model.tables import latest_promoted_week, write_training_run
from seg_pipeline.outcomes import CheckOutcome, EngineerAlert, Json, Markdown, StageResult
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.tracking import ChampionLoad, MlflowTracker
from seg_pipeline.segmentation.train import (
    WEEKLY,
    GateResult,
    TrainConfig,
    TrainingBlockedError,
    TrainResult,
    train_week,
)
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.weeks import previous_week

# A champion trained in the first weeks of a company's history saw too little of it: with sparse activity most
# accounts have not been active yet, and the sustained usage features need several active weeks per account
# (at 30-50 % activity, 4 weeks show an account about 1.6 times). The stability floor is not applied against
# such a champion, so the first model that has seen the company can replace it.
WARMUP_WEEKS = 4
TAG_RETRAIN = "seg.retrain"  # MLflow tag: "weekly" (warm refit) or "structural" (drift-triggered)
RETRAIN_RUN_TAG = "seg/retrain"  # the orchestrator's run tag that asks for a structural retrain (drift sensor)


def is_backfill(week: date, latest_promoted: date | None) -> bool:
    """Re-running an older week must not hand @champion to a model trained on older data."""
    return latest_promoted is not None and week < latest_promoted


def should_promote(gate_passed: bool, backfill: bool) -> bool:
    """@champion moves only to a model that passed its gate, and never in a backfill."""
    return gate_passed and not backfill


def serving_after_gate(gate_passed: bool, candidate: str, champion: str | None) -> str | None:
    """Pick the version that assigns the week: its own model when it passed the gate, else the champion (maybe none)."""
    return candidate if gate_passed else champion


@dataclass(frozen=True)
class Decision:
    """What the gate's verdict means for the week; ``reasons`` is what ``model.training_runs`` records."""

    backfill: bool
    promoted: bool
    serving: str | None
    reasons: list[str]


def decide(
    week: date, gate: GateResult, candidate: str, champion: str | None, latest_promoted: date | None
) -> Decision:
    """Apply the champion/backfill policy to a trained candidate."""
    backfill = is_backfill(week, latest_promoted)
    reasons = list(gate.reasons)
    if backfill:
        reasons.append(f"backfill of {week}: @champion stays on the model of {latest_promoted}")
    return Decision(
        backfill=backfill,
        promoted=should_promote(gate.passed, backfill),
        serving=serving_after_gate(gate.passed, candidate, champion),
        reasons=reasons,
    )


def quality_gate_check(
    gate: GateResult, decision: Decision, candidate: str, champion: str | None, config: TrainConfig
) -> CheckOutcome:
    """Judge the ``quality_gate``: a failed gate is a warning while a champion serves the week, else an error."""
    no_model = decision.serving is None
    if gate.passed:
        description = "promoted to @champion" if decision.promoted else "passed; backfill week, @champion unchanged"
    else:
        prefix = "no champion to fall back to: " if no_model else f"kept champion v{champion}: "
        description = prefix + "; ".join(gate.reasons)
    return CheckOutcome(
        "quality_gate", gate.passed,
        metadata={
            "reasons": Json(gate.reasons),
            "candidate_version": str(candidate),
            "thresholds": Json({"min_segment_share": config.min_segment_share,
                                "silhouette_floor": config.silhouette_floor,
                                "stability_floor": config.stability_floor}),
        },
        description=description,
        error=no_model,
    )


def training_run_row(
    week: date, result: TrainResult, candidate: str, decision: Decision, accounts: int
) -> dict[str, object]:
    """Build the week's ``model.training_runs`` row."""
    m = result.metrics
    return {
        "week_start": week, "model_version": str(candidate), "serving_version": decision.serving,
        "promoted": decision.promoted, "gate_reasons": "; ".join(decision.reasons), "k": int(result.k_selection.k),
        "n_segments": int(m.get("n_segments", 0)), "silhouette": m.get("silhouette"),
        "calinski_harabasz": m.get("calinski_harabasz"), "davies_bouldin": m.get("davies_bouldin"),
        "inertia": m.get("inertia"), "noise_share": m.get("noise_share"), "stability_ari": m.get("stability_ari"),
        "changed_share": m.get("changed_share"), "accounts": accounts,
        "k_reason": f"{result.retrain} retrain: {result.k_selection.reason}",
    }


def _metadata(
    result: TrainResult, candidate: str, decision: Decision, accounts: int, tracking_uri: str
) -> dict[str, object]:
    return {
        "model_version": str(candidate),
        "retrain": result.retrain,
        "serving_version": str(decision.serving),
        "promoted": decision.promoted,
        "k": int(result.k_selection.k),
        "k_reason": result.k_selection.reason,
        "accounts": accounts,
        "training_features": Json(list(result.model.features) + list(result.model.categorical)),
        "dropped_features": Json(result.dropped_features),
        "k_selection": Markdown(result.k_selection.scores.round(4).to_markdown(index=False)),
        "segments": Json({str(k): v for k, v in result.model.segment_names.items()}),
        "mlflow_tracking_uri": tracking_uri,
        **{k: float(v) for k, v in result.metrics.items() if v is not None and pd.notna(v)},
    }


@dataclass(frozen=True)
class _Inputs:
    features: pd.DataFrame
    previous: pd.DataFrame | None  # last week's published segments, None when there are none
    latest_promoted: date | None
    first_week: date | None  # the first week of the company's feature history

    def provisional(self) -> bool:
        """Whether the champion was trained in the first ``WARMUP_WEEKS`` of the history (see there)."""
        if self.latest_promoted is None or self.first_week is None:
            return False
        return (self.latest_promoted - self.first_week).days < 7 * WARMUP_WEEKS


def _read_inputs(
    warehouse: Warehouse, week: date, config: TrainConfig, champion: SegmentationModel | None
) -> _Inputs:
    """Read the week's features (configured columns and the champion's), last week's segments, last promotion."""
    columns = [*config.features, *config.ordinal, *config.categorical]
    if champion is not None:
        columns += [*champion.features, *champion.categorical]
    with warehouse.connect() as con:
        features = load_week_features(con, week, list(dict.fromkeys(columns)))
        previous = week_segments(con, previous_week(week))
        latest = latest_promoted_week(con, week)
        first = first_feature_week(con)
    return _Inputs(features, previous if len(previous) else None, latest, first)


def blocked_week(
    week: date, reason: str, champion: str | None, accounts: int, warehouse: Warehouse, config: TrainConfig
) -> StageResult:
    """Record a week that trained no model: the champion serves it when there is one, else it is blocked."""
    gate = GateResult(passed=False, reasons=[reason])
    decision = Decision(backfill=False, promoted=False, serving=champion, reasons=[f"no model trained: {reason}"])
    row: dict[str, object] = {
        "week_start": week, "model_version": None, "serving_version": champion, "promoted": False,
        "gate_reasons": decision.reasons[0], "accounts": accounts,
    }
    with warehouse.connect() as con:
        write_training_run(con, week, row)
    metadata: dict[str, object] = {
        "model_version": "None", "serving_version": str(champion), "promoted": False, "accounts": accounts,
        "blocked_reason": reason,
    }
    return StageResult(metadata, [quality_gate_check(gate, decision, "none", champion, config)])


def champion_integrity_check(week: date, loaded: ChampionLoad | None) -> CheckOutcome:
    """Judge whether @champion loaded as recorded: a fallback warns, no loadable good version is an error.

    Either way the engineers get one alert for the week naming each refused version and why.
    """
    if loaded is None or not loaded.fell_back:
        ok = "@champion loaded and matched its registry hash" if loaded else "no champion yet"
        return CheckOutcome("champion_integrity", True, error=False, description=ok)
    refused = "; ".join(f"v{v}: {why}" for v, why in loaded.refused)
    if loaded.version is None:
        outcome = (f"no earlier good version loads either, so the week is blocked. Fix: restore the model files "
                   f"or point the @champion alias at a good version in MLflow (refused: {refused})")
    else:
        outcome = f"the week is served by the previous good version v{loaded.version} (refused: {refused})"
    description = f"@champion v{loaded.champion} could not be loaded safely; {outcome}"
    alert = EngineerAlert(week, reason="champion_integrity",
                          subject=f"[seg_pipeline] champion model v{loaded.champion} refused in {week}",
                          body=description)
    return CheckOutcome("champion_integrity", False, metadata={"refused": Json(dict(loaded.refused))},
                        description=description, error=loaded.version is None, alert=alert)


def run_week(
    week: date, warehouse: Warehouse, tracker: MlflowTracker, config: TrainConfig, run_tags: Mapping[str, str],
    *, retrain: str = WEEKLY,
) -> StageResult:
    """Train ``week``'s model against the champion, log it, promote it if the policy says so, record the run.

    ``run_tags`` (the Dagster run id and partition) go on the MLflow run, which makes logging idempotent per run.
    ``retrain`` is ``weekly`` (the warm refit) or ``structural`` (what the drift sensor requests; see
    ``segmentation.train.plan_retrain``); it is tagged on the MLflow run and starts ``k_reason``.
    A champion that fails to load is replaced by the previous good version (``champion_integrity`` check); with
    none the week is blocked. A week whose data cannot give an acceptable model is recorded by :func:`blocked_week`.
    """
    loaded = tracker.load_serving_champion()
    integrity = champion_integrity_check(week, loaded)
    if loaded is not None and loaded.model is None:
        blocked = blocked_week(week, integrity.description or "champion refused", None, 0, warehouse, config)
        blocked.checks.append(integrity)
        return blocked
    result = _train_against(week, warehouse, tracker, config, run_tags,
                            (loaded.model, str(loaded.version)) if loaded else None, retrain)
    result.checks.append(integrity)
    return result


def _train_against(
    week: date, warehouse: Warehouse, tracker: MlflowTracker, config: TrainConfig, run_tags: Mapping[str, str],
    champion: tuple[SegmentationModel, str] | None, retrain: str,
) -> StageResult:
    """Train, log, decide and record the week against ``champion`` (model, version) or none."""
    champion_model: SegmentationModel | None = champion[0] if champion else None
    champion_version = champion[1] if champion else None
    inputs = _read_inputs(warehouse, week, config, champion_model)
    if warehouse.spark is not None:  # SEG_ENGINE=spark: the fits run on Spark; the logged model is the same shape
        config = replace(config, spark=warehouse.spark)
    try:
        result = train_week(
            inputs.features, config, champion=champion_model, champion_assignments=inputs.previous, week_start=week,
            provisional_champion=inputs.provisional(), retrain=retrain,
        )
    except TrainingBlockedError as exc:
        return blocked_week(week, str(exc), champion_version, len(inputs.features), warehouse, config)
    candidate = tracker.log_week(result, week_start=week, tags={**run_tags, TAG_RETRAIN: retrain},
                                 features=inputs.features)
    decision = decide(week, result.gate, candidate, champion_version, inputs.latest_promoted)
    if decision.promoted:
        tracker.promote(candidate)
    accounts = len(inputs.features)
    with warehouse.connect() as con:
        write_training_run(con, week, training_run_row(week, result, candidate, decision, accounts))
    return StageResult(
        _metadata(result, candidate, decision, accounts, tracker.tracking_uri),
        [quality_gate_check(result.gate, decision, candidate, champion_version, config)],
    )
