"""The model stage's champion/backfill policy and its quality_gate severity, on the pure functions."""

from datetime import date

import pytest

from seg_pipeline.model.stage import (
    decide,
    is_backfill,
    quality_gate_check,
    serving_after_gate,
    should_promote,
)
from seg_pipeline.outcomes import Json
from seg_pipeline.segmentation.train import GateResult, TrainConfig

WEEK = date(2026, 1, 12)
PASSED = GateResult(passed=True, reasons=[])
FAILED = GateResult(passed=False, reasons=["silhouette 0.010 below the floor 0.050"])


@pytest.mark.parametrize(
    ("latest_promoted", "expected"),
    [(None, False), (date(2026, 1, 5), False), (WEEK, False), (date(2026, 1, 19), True)],
)
def test_only_a_week_older_than_the_latest_promotion_is_a_backfill(latest_promoted, expected) -> None:
    assert is_backfill(WEEK, latest_promoted) is expected


def test_promotion_needs_a_passed_gate_outside_a_backfill() -> None:
    assert should_promote(True, False)
    assert not should_promote(True, True)
    assert not should_promote(False, False)


def test_serving_version_is_the_candidate_only_when_its_gate_passed() -> None:
    assert serving_after_gate(True, "5", "3") == "5"
    assert serving_after_gate(False, "5", "3") == "3"
    assert serving_after_gate(False, "5", None) is None


def test_backfill_keeps_champion_but_serves_its_own_passed_model() -> None:
    decision = decide(WEEK, PASSED, "5", "4", latest_promoted=date(2026, 1, 19))
    assert decision.backfill
    assert not decision.promoted
    assert decision.serving == "5"
    assert decision.reasons == ["backfill of 2026-01-12: @champion stays on the model of 2026-01-19"]
    check = quality_gate_check(PASSED, decision, "5", "4", TrainConfig())
    assert check.passed
    assert check.description == "passed; backfill week, @champion unchanged"


def test_passed_gate_promotes_the_candidate() -> None:
    decision = decide(WEEK, PASSED, "5", "4", latest_promoted=date(2026, 1, 5))
    assert decision.promoted
    assert not decision.backfill
    assert decision.serving == "5"
    assert decision.reasons == []
    check = quality_gate_check(PASSED, decision, "5", "4", TrainConfig())
    assert check.passed
    assert check.description == "promoted to @champion"


def test_failed_gate_serves_the_champion_as_a_warning() -> None:
    decision = decide(WEEK, FAILED, "5", "4", latest_promoted=date(2026, 1, 5))
    assert not decision.promoted
    assert decision.serving == "4"
    assert decision.reasons == FAILED.reasons
    config = TrainConfig(silhouette_floor=0.05)
    check = quality_gate_check(FAILED, decision, "5", "4", config)
    assert not check.passed
    assert check.error is False  # WARN: the champion assigns the week
    assert check.description == "kept champion v4: silhouette 0.010 below the floor 0.050"
    assert check.metadata["candidate_version"] == "5"
    assert check.metadata["reasons"] == Json(FAILED.reasons)
    thresholds = check.metadata["thresholds"]
    assert isinstance(thresholds, Json)
    assert thresholds.value["silhouette_floor"] == 0.05


def test_failed_gate_without_a_champion_is_an_error() -> None:
    decision = decide(WEEK, FAILED, "1", None, latest_promoted=None)
    assert decision.serving is None
    assert not decision.promoted
    check = quality_gate_check(FAILED, decision, "1", None, TrainConfig())
    assert not check.passed
    assert check.error is True  # ERROR: no model can assign the week, downstream is blocked
    assert check.description == "no champion to fall back to: silhouette 0.010 below the floor 0.050"
