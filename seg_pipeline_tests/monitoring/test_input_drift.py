"""The input-drift rule: a unit change, a NULL jump or a flat column is a break; accounts moving are not."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.monitoring.input_drift import (
    INPUT_DRIFT_GATE,
    InputDriftRule,
    input_breaks,
    input_drift_check,
    scale_factor,
)
from seg_pipeline.monitoring.stage import INPUT_COLUMNS, SIGNED_COLUMNS
from seg_pipeline_tests.segmentation.synthetic_features import PERSONAS, make_accounts

RULE = InputDriftRule()
WEEK = date(2026, 2, 2)


def _breaks(current: pd.DataFrame, reference: pd.DataFrame) -> list:
    return input_breaks(current, reference, INPUT_COLUMNS, RULE, signed=SIGNED_COLUMNS)


@pytest.fixture(scope="module")
def weeks() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two weeks of the same 2000 planted-persona accounts (fresh noise each week)."""
    return make_accounts(2000, seed=1)[0], make_accounts(2000, seed=2)[0]


def test_two_ordinary_weeks_have_no_break(weeks):
    assert _breaks(*weeks) == []


@pytest.mark.parametrize(("column", "factor"), [("mrr", 1000.0), ("weekly_active_users", 60.0),
                                                ("mrr", 0.01), ("seats", 10.0)])
def test_a_unit_change_names_the_feature_and_the_factor(weeks, column, factor):
    current, reference = weeks
    (brk,) = _breaks(current.assign(**{column: current[column] * factor}), reference)
    assert (brk.feature, brk.kind) == (column, "unit_change")
    assert brk.factor == pytest.approx(factor, rel=0.25)
    assert f"x{brk.factor:.3g}" in brk.detail


def test_a_column_gone_null_or_flat_is_a_break(weeks):
    current, reference = weeks
    renewal = 12.0 + 0 * reference["mrr"]
    (null,) = _breaks(current.assign(weeks_to_renewal=np.nan), reference.assign(weeks_to_renewal=renewal))
    assert (null.feature, null.kind, null.null_rate) == ("weeks_to_renewal", "null_rate", 1.0)
    assert "NULL rate 100%" in null.detail
    (flat,) = _breaks(current.assign(tickets_opened=0), reference)
    assert (flat.feature, flat.kind) == ("tickets_opened", "flat")


def test_a_genuine_population_change_is_not_a_break():
    """A third of the accounts migrate (their persona is drawn again) and usage grows 30 %: accounts moved."""
    reference, persona = make_accounts(2000, seed=1)
    current = make_accounts(2000, seed=2)[0]
    movers = np.random.default_rng(3).random(2000) < 0.35
    moved = make_accounts(2000, seed=4)[0]  # other personas for the movers
    current.loc[movers] = moved.loc[movers].to_numpy()
    current[["weekly_active_users", "exports"]] *= 1.3
    assert (persona.to_numpy()[movers] != make_accounts(2000, seed=4)[1].to_numpy()[movers]).mean() > 0.5
    assert _breaks(current, reference) == []


def test_a_whole_persona_appearing_is_not_a_unit_change():
    """Every account becomes a power user: a large real shift, but not one factor at every quantile."""
    reference = make_accounts(2000, seed=1)[0]
    current = make_accounts(2000, seed=2)[0]
    power = dict(zip(["weekly_active_users", "exports", "mrr", "seats"],
                     [PERSONAS["power_users"][i] for i in (0, 5, 15, 13)], strict=True))
    current = current.assign(**{c: current[c] * 0 + v * np.random.default_rng(5).lognormal(0, 0.25, 2000)
                                for c, v in power.items()})
    assert [b for b in _breaks(current, reference) if b.kind == "unit_change"] == []


def test_time_passing_is_not_a_unit_change():
    """Tenure grows by whole weeks: young accounts' tenure multiplies, old ones' barely moves."""
    rng = np.random.default_rng(0)
    tenure = pd.Series(rng.integers(1, 12, 500).astype(float))
    assert scale_factor(tenure + 20, tenure, RULE) is None
    assert scale_factor(tenure * 100, tenure, RULE) == pytest.approx(100)


def test_too_few_positive_values_say_nothing():
    assert scale_factor(pd.Series([0.0] * 100 + [5000.0] * 5), pd.Series([0.0] * 100 + [5.0] * 5), RULE) is None


def test_the_gate_blocks_with_an_engineer_alert_unless_overridden(weeks):
    current, reference = weeks
    breaks = _breaks(current.assign(mrr=current["mrr"] * 1000), reference)
    check = input_drift_check(WEEK, breaks, "last week 2026-01-26", RULE)
    assert (check.name, check.passed, check.error) == (INPUT_DRIFT_GATE, False, True)
    assert "mrr: values x99" in (check.description or "")  # x992: last week's accounts differ a little
    assert check.alert is not None
    assert check.alert.reason == "input_drift"
    assert "mrr" in check.alert.subject
    assert "SEG_SINKS_OVERRIDE=1" in check.alert.body
    overridden = input_drift_check(WEEK, breaks, "last week 2026-01-26", RULE, override=True)
    assert overridden.passed
    assert overridden.alert is None
    assert input_drift_check(WEEK, [], None, RULE).passed
