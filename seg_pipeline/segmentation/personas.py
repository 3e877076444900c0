"""Human names for segments from their standardized centroid profiles.

Account managers read names, not ids, so names follow documented rules over z-scores (segment mean minus the
population mean, in population standard deviations) of the registry features, and a name stays with its
segment id from week to week unless the profile changed materially.
"""

from collections.abc import Callable

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


# Each rule scores a profile; it applies when the score is > 0 and the highest score wins (order breaks ties).
RULES: tuple[tuple[str, str, Callable[[pd.Series], float]], ...] = (
    (API, "api_share z >= 1.5 (traffic is mostly API calls)", lambda p: _mean(p, ["api_share"]) - 1.5),
    (DORMANT, "mean z of weekly_active_users, active_days, activation_score <= -1.0",
     lambda p: -1.0 - _mean(p, ["weekly_active_users", "active_days", "activation_score"])),
    (ONBOARDING, "tenure_weeks z <= -1.0", lambda p: -1.0 - _mean(p, ["tenure_weeks"])),
    (STRUGGLERS, "mean z of support_load_score, tickets_opened, p1_tickets, open_backlog >= 0.75",
     lambda p: _mean(p, ["support_load_score", "tickets_opened", "p1_tickets", "open_backlog"]) - 0.75),
    (AT_RISK, "wau_trend z <= -0.75", lambda p: -0.75 - _mean(p, ["wau_trend"])),
    (POWER_USERS, "mean z of activation_score, feature_breadth, key_feature_adoption >= 0.6",
     lambda p: _mean(p, ["activation_score", "feature_breadth", "key_feature_adoption"]) - 0.6),
    (EXPANSION, "seat_utilisation z >= 0.75 (using more of the plan than peers)",
     lambda p: _mean(p, ["seat_utilisation"]) - 0.75),
)


def persona_scores(profile: pd.Series) -> dict[str, float]:
    """Score of every rule for one standardized profile (> 0 means the rule applies)."""
    return {name: float(rule(profile)) for name, _, rule in RULES}


def _rule_name(profile: pd.Series) -> tuple[str, float]:
    best, best_score = STEADY_CORE, 0.0
    for name, _, rule in RULES:
        score = float(rule(profile))
        if score > best_score:
            best, best_score = name, score
    return best, best_score


def _base(name: str) -> str:
    head, _, tail = name.rpartition(" ")
    return head if head and tail.isdigit() else name


def is_at_risk(name: str) -> bool:
    """True for at-risk personas, including suffixed duplicates such as "Dormant 2"."""
    return _base(name) in AT_RISK_NAMES


def name_segments(
    profiles_z: pd.DataFrame,
    *,
    previous: dict[int, str] | None = None,
    previous_profiles_z: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Name each segment (index = stable segment id) from its standardized centroid profile.

    Rules, highest positive score wins, else "Steady Core": API Integrators (api_share z ≥ 1.5); Dormant
    (usage z ≤ -1); New & Onboarding (tenure z ≤ -1); Support-Heavy Strugglers (support z ≥ 0.75);
    Declining / At-Risk (wau_trend z ≤ -0.75); Power Users (adoption z ≥ 0.6); Expansion Candidates
    (seat_utilisation z ≥ 0.75). A segment keeps its previous name when the RMS z-change of its profile is below
    0.5. Names are unique: when two segments earn the same name the stronger keeps it and the next gets " 2".
    """
    previous = previous or {}
    names: dict[int, str] = {}
    for seg, prof in profiles_z.iterrows():
        seg = int(seg)
        if seg in previous and previous_profiles_z is not None and seg in previous_profiles_z.index:
            cols = profiles_z.columns.intersection(previous_profiles_z.columns)
            if len(cols):
                diff = prof[cols].astype(float) - previous_profiles_z.loc[seg, cols].astype(float)
                if float(np.sqrt(np.nanmean(diff.to_numpy() ** 2))) < MATERIAL_CHANGE:
                    names[seg] = previous[seg]
    taken = set(names.values())
    proposals = []
    for seg, prof in profiles_z.iterrows():
        if int(seg) not in names:
            name, score = _rule_name(prof)
            proposals.append((name, -score, int(seg)))
    for name, _, seg in sorted(proposals):
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} {n}"
        names[seg] = candidate
        taken.add(candidate)
    return dict(sorted(names.items()))
