import pandas as pd
import pytest

from seg_pipeline.segmentation.personas import (
    AT_RISK_NAMES,
    defined_columns,
    is_at_risk,
    is_into_at_risk,
    name_segments,
    risk_level,
)

NEUTRAL = {
    "weekly_active_users": 0.0, "active_days": 0.0, "feature_breadth": 0.0, "key_feature_adoption": 0.0,
    "api_share": 0.0, "wau_trend": 0.0, "tickets_opened": 0.0, "p1_tickets": 0.0, "open_backlog": 0.0,
    "seat_utilisation": 0.0, "tenure_weeks": 0.0, "activation_score": 0.0, "support_load_score": 0.0,
}


def _profile(**z: float) -> dict[str, float]:
    return {**NEUTRAL, **z}


CASES = {
    "API Integrators": _profile(api_share=4.0, feature_breadth=-1.0),
    "Dormant": _profile(weekly_active_users=-1.5, active_days=-1.6, activation_score=-1.4),
    "New & Onboarding": _profile(tenure_weeks=-1.8),
    "Support-Heavy Strugglers": _profile(support_load_score=2.0, tickets_opened=1.5, p1_tickets=1.0, open_backlog=1),
    "Declining / At-Risk": _profile(wau_trend=-1.6, weekly_active_users=-0.5),
    "Power Users": _profile(activation_score=1.2, feature_breadth=1.1, key_feature_adoption=1.0),
    "Expansion Candidates": _profile(seat_utilisation=1.6),
    "Steady Core": _profile(activation_score=0.2),
}


def test_each_rule_names_its_profile() -> None:
    frame = pd.DataFrame.from_dict(dict(enumerate(CASES.values())), orient="index")
    names = name_segments(frame)
    assert names == dict(enumerate(CASES))


def test_priority_declining_beats_support_heavy_and_expansion_beats_weak_power() -> None:
    frame = pd.DataFrame.from_dict(
        {
            # falling usage with many P1s (a larger support score) is an at-risk state first
            0: _profile(wau_trend=-0.5, p1_tickets=5.6, tickets_opened=2.5, support_load_score=2.1),
            # same tier: the stronger signal wins
            1: _profile(seat_utilisation=2.2, activation_score=1.0, feature_breadth=0.5, key_feature_adoption=0.6),
        },
        orient="index",
    )
    assert name_segments(frame) == {0: "Declining / At-Risk", 1: "Expansion Candidates"}


def test_duplicate_names_get_a_suffix_strongest_keeps_the_name() -> None:
    frame = pd.DataFrame.from_dict(
        {3: _profile(tenure_weeks=-1.2), 7: _profile(tenure_weeks=-2.5), 9: _profile(tenure_weeks=-1.1)},
        orient="index",
    )
    names = name_segments(frame)
    assert names == {7: "New & Onboarding", 3: "New & Onboarding 2", 9: "New & Onboarding 3"}
    assert len(set(names.values())) == 3


def test_names_stick_unless_the_profile_changed_materially() -> None:
    prev = pd.DataFrame.from_dict({1: _profile(seat_utilisation=1.0)}, orient="index")
    previous = {1: "Expansion Candidates"}
    drifted = pd.DataFrame.from_dict({1: _profile(seat_utilisation=0.7)}, orient="index")  # below the rule now
    assert name_segments(drifted, previous=previous, previous_profiles_z=prev) == {1: "Expansion Candidates"}
    changed = pd.DataFrame.from_dict({1: _profile(wau_trend=-3.0, seat_utilisation=-1.0)}, orient="index")
    assert name_segments(changed, previous=previous, previous_profiles_z=prev) == {1: "Declining / At-Risk"}


def test_a_more_urgent_state_renames_even_a_small_change() -> None:
    support = {"support_load_score": 2.0, "tickets_opened": 1.5, "p1_tickets": 3.0}
    prev = pd.DataFrame.from_dict({4: _profile(**support)}, orient="index")  # first week: no trend history
    now = pd.DataFrame.from_dict({4: _profile(**support, wau_trend=-0.6)}, orient="index")
    previous = {4: "Support-Heavy Strugglers"}
    assert name_segments(now, previous=previous, previous_profiles_z=prev) == {4: "Declining / At-Risk"}


def test_suffix_is_dropped_once_the_plain_name_is_free() -> None:
    prof = _profile(tenure_weeks=-1.5)
    prev = pd.DataFrame.from_dict({1: prof, 2: _profile(tenure_weeks=-1.4)}, orient="index")
    now = pd.DataFrame.from_dict({2: _profile(tenure_weeks=-1.4)}, orient="index")  # segment 1 retired
    names = name_segments(now, previous={1: "New & Onboarding", 2: "New & Onboarding 2"}, previous_profiles_z=prev)
    assert names == {2: "New & Onboarding"}


def test_a_kept_name_is_not_reused_by_another_segment() -> None:
    prev = pd.DataFrame.from_dict({1: _profile(tenure_weeks=-1.5)}, orient="index")
    now = pd.DataFrame.from_dict({1: _profile(tenure_weeks=-1.5), 2: _profile(tenure_weeks=-3.0)}, orient="index")
    names = name_segments(now, previous={1: "New & Onboarding"}, previous_profiles_z=prev)
    assert names == {1: "New & Onboarding", 2: "New & Onboarding 2"}


def test_missing_columns_are_neutral() -> None:
    assert name_segments(pd.DataFrame({"api_share": [3.0, 0.0]})) == {0: "API Integrators", 1: "Steady Core"}


@pytest.mark.parametrize(
    ("name", "at_risk"),
    [("Dormant", True), ("Dormant 2", True), ("Declining / At-Risk", True), ("Support-Heavy Strugglers", True),
     ("Power Users", False), ("Steady Core 2", False)],
)
def test_at_risk_names(name: str, at_risk: bool) -> None:
    assert is_at_risk(name) is at_risk
    assert (name in AT_RISK_NAMES) is (at_risk and not name[-1].isdigit())


def test_an_undefined_trend_fires_no_rule_and_escalations_name_a_declining_segment_from_week_one() -> None:
    """Week 1 has no trend history (wau_trend 0 everywhere); P1 escalations, not support load, say "declining"."""
    declining = {"p1_tickets_4w": 3.7, "support_load_score": 1.9, "tickets_opened": 1.9, "open_backlog": 0.7}
    struggling = {"p1_tickets_4w": -0.1, "support_load_score": 1.8, "tickets_opened": 1.6, "open_backlog": 2.1,
                  "activation_score": -0.7}
    week1 = pd.DataFrame.from_dict({1: _profile(**declining), 3: _profile(**struggling)}, orient="index")
    names1 = name_segments(week1)
    assert names1 == {1: "Declining / At-Risk", 3: "Support-Heavy Strugglers"}
    # week 2: the trend exists now and agrees; nobody is renamed
    week2 = pd.DataFrame.from_dict({1: _profile(**declining, wau_trend=-0.54),
                                    3: _profile(**struggling, wau_trend=0.03)}, orient="index")
    assert name_segments(week2, previous=names1, previous_profiles_z=week1) == names1
    # the trend appearing is not a profile change: the RMS test ignores a column that was undefined last week
    big_trend = week2.assign(wau_trend=[-0.1, 3.0])
    assert name_segments(big_trend, previous=names1, previous_profiles_z=week1) == names1


def test_a_constant_negative_trend_column_is_undefined() -> None:
    assert "wau_trend" not in defined_columns(pd.DataFrame({"wau_trend": [0.0, 0.0], "api_share": [1.0, -1.0]}))
    assert "wau_trend" in defined_columns(pd.DataFrame({"wau_trend": [-0.5, 0.4]}))


@pytest.mark.parametrize(
    ("frm", "to", "into"),
    [("Steady Core", "Declining / At-Risk", True), ("Support-Heavy Strugglers", "Declining / At-Risk 2", True),
     ("Declining / At-Risk", "Dormant", True), (None, "Dormant", True),
     ("Steady Core", "Support-Heavy Strugglers", True), ("Dormant", "Support-Heavy Strugglers", False),
     ("Dormant", "Declining / At-Risk", False), ("Declining / At-Risk", "Steady Core", False),
     ("Dormant", "Dormant 2", False), ("Power Users", "Steady Core", False)],
)
def test_into_at_risk_means_a_more_severe_at_risk_state(frm: str | None, to: str, into: bool) -> None:
    assert is_into_at_risk(frm, to) is into
    assert risk_level(to) > 0 or not into
