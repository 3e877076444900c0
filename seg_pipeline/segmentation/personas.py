"""Human names for segments from their standardized centroid profiles, and the one definition of "at-risk".

Account managers read names, not ids, so names follow documented rules over z-scores (segment mean minus the
population mean, in population standard deviations) of the registry features, and a name stays with its
segment id from week to week unless the profile changed materially.

Trend features (``wau_trend``) are undefined until an account has history: the column is then constant and
every segment's z is 0. A rule never reads an undefined trend, so the first week's names come from signals that
exist in that week (a declining segment is recognised by its P1 escalations) and are not renamed when the trend
appears a week later.
"""

from collections.abc import Callable
from typing import cast

import numpy as np
import pandas as pd

POWER_USERS = "Power Users"
STEADY_CORE = "Steady Core"
STRUGGLERS = "Support-Heavy Strugglers"
AT_RISK = "Declining / At-Risk"
EXPANSION = "Expansion Candidates"
ONBOARDING = "New & Onboarding"
DORMANT = "Dormant"
API = "API Integrators"

# "At-risk" (the one definition used by persona naming, AM alerts, `seg evaluate` and the dashboard): a persona
# that calls for a retention action, ranked by severity. A move is *into at-risk* when its target is at risk and
# more severe than where it came from (Steady Core -> Declining, Support-Heavy Strugglers -> Declining, Declining
# -> Dormant, a new account -> Dormant); a move to a less severe state (Dormant -> Support-Heavy Strugglers: an
# idle account coming back) or out of the at-risk personas is not.
AT_RISK_SEVERITY: dict[str, int] = {DORMANT: 3, AT_RISK: 2, STRUGGLERS: 1}
AT_RISK_NAMES: frozenset[str] = frozenset(AT_RISK_SEVERITY)
MATERIAL_CHANGE = 0.5  # RMS z-distance between this week's and last week's profile that allows a rename
TREND_FEATURES: tuple[str, ...] = ("wau_trend",)  # undefined (all-zero) until there is history
UNDEFINED_Z = 1e-9  # a feature whose |z| is below this in every segment was constant: it says nothing

def _mean(p: pd.Series, cols: list[str]) -> float:
    vals = [float(p[c]) for c in cols if c in p.index and pd.notna(p[c])]
    return float(np.mean(vals)) if vals else 0.0


def _declining(p: pd.Series) -> float:
    """Usage falling (wau_trend z <= -0.4, only where the trend is defined) or P1 escalations (z >= 1.5)."""
    scores = [_mean(p, ["p1_tickets_4w", "p1_tickets"]) - 1.5]
    if any(c in p.index and pd.notna(p[c]) for c in TREND_FEATURES):
        scores.append(-0.4 - _mean(p, list(TREND_FEATURES)))
    return max(scores)


# (name, tier, rule in words, score). A rule applies when its score is > 0; the applicable rule of the lowest
# tier wins and, within a tier, the highest score. Tiers put states that call for action (dormant, onboarding,
# declining) before traits (support load, adoption): a segment whose usage is falling and that files P1s is
# "Declining", not merely "Support-Heavy".
RULES: tuple[tuple[str, int, str, Callable[[pd.Series], float]], ...] = (
    (API, 0, "api_share z >= 1.5 (traffic is mostly API calls)", lambda p: _mean(p, ["api_share"]) - 1.5),
    (DORMANT, 1, "mean z of weekly_active_users, active_days, activation_score <= -1.0",
     lambda p: -1.0 - _mean(p, ["weekly_active_users", "active_days", "activation_score"])),
    (ONBOARDING, 2, "tenure_weeks z <= -1.0", lambda p: -1.0 - _mean(p, ["tenure_weeks"])),
    (AT_RISK, 3, "wau_trend z <= -0.4 (when the trend is defined) or P1 tickets z >= 1.5 (escalations)", _declining),
    (STRUGGLERS, 4, "mean z of support_load_score, tickets_opened, p1_tickets, open_backlog >= 0.75",
     lambda p: _mean(p, ["support_load_score", "tickets_opened", "p1_tickets", "open_backlog"]) - 0.75),
    (POWER_USERS, 5, "mean z of activation_score, feature_breadth, key_feature_adoption >= 0.6",
     lambda p: _mean(p, ["activation_score", "feature_breadth", "key_feature_adoption"]) - 0.6),
    (EXPANSION, 5, "seat_utilisation z >= 0.75 (using more of the plan than peers)",
     lambda p: _mean(p, ["seat_utilisation"]) - 0.75),
)


def persona_scores(profile: pd.Series) -> dict[str, float]:
    """Score of every rule for one standardized profile (> 0 means the rule applies)."""
    return {name: float(rule(profile)) for name, _, _, rule in RULES}


def _rule_name(profile: pd.Series) -> tuple[str, float]:
    applicable = [(tier, -float(rule(profile)), name) for name, tier, _, rule in RULES if float(rule(profile)) > 0]
    if not applicable:
        return STEADY_CORE, 0.0
    _, neg_score, name = min(applicable)
    return name, -neg_score


def _tier(name: str) -> int:
    return next((tier for rule_name, tier, _, _ in RULES if rule_name == _base(name)), len(RULES))


def _base(name: str) -> str:
    head, _, tail = name.rpartition(" ")
    return head if head and tail.isdigit() else name


def is_at_risk(name: object) -> bool:
    """Tell whether a persona is at risk, suffixed duplicates such as "Dormant 2" included (False for missing names)."""
    return isinstance(name, str) and _base(name) in AT_RISK_NAMES


def risk_level(name: object) -> int:
    """Severity of a persona: 3 Dormant, 2 Declining / At-Risk, 1 Support-Heavy Strugglers, 0 anything else."""
    return AT_RISK_SEVERITY.get(_base(name), 0) if isinstance(name, str) else 0


def is_into_at_risk(from_name: object, to_name: object) -> bool:
    """Tell whether a move lands in an at-risk persona more severe than its origin (a missing origin counts as 0)."""
    return risk_level(to_name) > risk_level(from_name)


def into_at_risk(from_names: pd.Series, to_names: pd.Series) -> pd.Series:
    """:func:`is_into_at_risk` per row of two aligned name columns (a boolean Series on ``to_names``' index)."""
    return pd.Series([is_into_at_risk(f, t) for f, t in zip(from_names, to_names, strict=True)],
                     index=to_names.index, dtype=bool)


def defined_columns(profiles_z: pd.DataFrame) -> list[str]:
    """Columns that carry information: a trend column that is ~0 in every segment was constant (no history yet)."""
    return [c for c in profiles_z.columns
            if c not in TREND_FEATURES or bool((profiles_z[c].astype(float).abs() > UNDEFINED_Z).any())]


def _kept_name(prof: pd.Series, prev_prof: pd.Series, previous_name: str, cols: list[str]) -> bool:
    """Keep last week's name: the profile moved less than MATERIAL_CHANGE and no more urgent rule applies now."""
    if not cols:
        return False
    diff = prof[cols].astype(float) - prev_prof[cols].astype(float)
    small = float(np.sqrt(np.nanmean(diff.to_numpy() ** 2))) < MATERIAL_CHANGE
    # entering a more urgent state (e.g. usage now falling) is material however small the shift
    escalated = _tier(_rule_name(prof)[0]) < _tier(previous_name)
    # a " 2" suffix is re-decided each week so it disappears once the plain name is free
    return small and not escalated and _base(previous_name) == previous_name


def name_segments(
    profiles_z: pd.DataFrame,
    *,
    previous: dict[int, str] | None = None,
    previous_profiles_z: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Name each segment (index = stable segment id) from its standardized centroid profile.

    Rules in priority order (first that applies wins; Power/Expansion share a tier, higher score wins), else
    "Steady Core": API Integrators (api_share z ≥ 1.5); Dormant (usage z ≤ -1); New & Onboarding (tenure
    z ≤ -1); Declining / At-Risk (wau_trend z ≤ -0.4 where the trend is defined, or P1 tickets z ≥ 1.5);
    Support-Heavy Strugglers (support z ≥ 0.75); Power Users (adoption z ≥ 0.6); Expansion Candidates
    (seat_utilisation z ≥ 0.75). An undefined trend column (~0 in every segment) is ignored by the rules and by
    the change test. A segment keeps its previous name when the RMS z-change of its profile is below 0.5,
    unless a higher-priority rule now applies. Names are unique: when two segments earn the same name the
    stronger keeps it and the next gets " 2".
    """
    previous = previous or {}
    profiles_z = profiles_z[defined_columns(profiles_z)]
    prev_z = previous_profiles_z[defined_columns(previous_profiles_z)] if previous_profiles_z is not None else None
    names: dict[int, str] = {}
    for label, prof in profiles_z.iterrows():
        seg = int(cast(int, label))
        if seg in previous and prev_z is not None and seg in prev_z.index:
            cols = list(profiles_z.columns.intersection(prev_z.columns))
            if _kept_name(prof, cast(pd.Series, prev_z.loc[seg]), previous[seg], cols):
                names[seg] = previous[seg]
    taken = set(names.values())
    proposals = []
    for label, prof in profiles_z.iterrows():
        if int(cast(int, label)) not in names:
            name, score = _rule_name(prof)
            proposals.append((name, -score, int(cast(int, label))))
    for name, _, seg in sorted(proposals):
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} {n}"
        names[seg] = candidate
        taken.add(candidate)
    return dict(sorted(names.items()))
