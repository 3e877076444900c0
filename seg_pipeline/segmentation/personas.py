"""Human names for segments from their standardized centroid profiles.

Account managers read names, not ids, so names follow documented rules over z-scores (segment mean minus the
population mean, in population standard deviations) of the registry features, and a name stays with its
segment id from week to week unless the profile changed materially.
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

AT_RISK_NAMES: frozenset[str] = frozenset({AT_RISK, STRUGGLERS, DORMANT})
MATERIAL_CHANGE = 0.5  # RMS z-distance between this week's and last week's profile that allows a rename


def _mean(p: pd.Series, cols: list[str]) -> float:
    vals = [float(p[c]) for c in cols if c in p.index and pd.notna(p[c])]
    return float(np.mean(vals)) if vals else 0.0


# (name, tier, rule in words, score). A rule applies when its score is > 0; the applicable rule of the lowest
# tier wins and, within a tier, the highest score. Tiers put states that call for action (dormant, onboarding,
# declining) before traits (support load, adoption): a segment whose usage is falling and that files P1s is
# "Declining", not merely "Support-Heavy".
RULES: tuple[tuple[str, int, str, Callable[[pd.Series], float]], ...] = (
    (API, 0, "api_share z >= 1.5 (traffic is mostly API calls)", lambda p: _mean(p, ["api_share"]) - 1.5),
    (DORMANT, 1, "mean z of weekly_active_users, active_days, activation_score <= -1.0",
     lambda p: -1.0 - _mean(p, ["weekly_active_users", "active_days", "activation_score"])),
    (ONBOARDING, 2, "tenure_weeks z <= -1.0", lambda p: -1.0 - _mean(p, ["tenure_weeks"])),
    (AT_RISK, 3, "wau_trend z <= -0.4", lambda p: -0.4 - _mean(p, ["wau_trend"])),
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


def name_segments(
    profiles_z: pd.DataFrame,
    *,
    previous: dict[int, str] | None = None,
    previous_profiles_z: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Name each segment (index = stable segment id) from its standardized centroid profile.

    Rules in priority order (first that applies wins; Power/Expansion share a tier, higher score wins), else
    "Steady Core": API Integrators (api_share z ≥ 1.5); Dormant (usage z ≤ -1); New & Onboarding (tenure
    z ≤ -1); Declining / At-Risk (wau_trend z ≤ -0.4); Support-Heavy Strugglers (support z ≥ 0.75); Power Users
    (adoption z ≥ 0.6); Expansion Candidates (seat_utilisation z ≥ 0.75). A segment keeps its previous name
    when the RMS z-change of its profile is below 0.5, unless a higher-priority rule now applies. Names are
    unique: when two segments earn the same name the stronger keeps it and the next gets " 2".
    """
    previous = previous or {}
    names: dict[int, str] = {}
    for label, prof in profiles_z.iterrows():
        seg = int(cast(int, label))
        if seg in previous and previous_profiles_z is not None and seg in previous_profiles_z.index:
            cols = profiles_z.columns.intersection(previous_profiles_z.columns)
            if len(cols):
                diff = prof[cols].astype(float) - previous_profiles_z.loc[seg][cols].astype(float)
                small = float(np.sqrt(np.nanmean(diff.to_numpy() ** 2))) < MATERIAL_CHANGE
                # entering a more urgent state (e.g. usage now falling) is material however small the shift
                escalated = _tier(_rule_name(prof)[0]) < _tier(previous[seg])
                # a " 2" suffix is re-decided each week so it disappears once the plain name is free
                if small and not escalated and _base(previous[seg]) == previous[seg]:
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
