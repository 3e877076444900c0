"""Persona dynamics, once a week: transitions start, blend and settle; the truth flips; declining accounts churn."""

import numpy as np

from seg_pipeline.sources.simulator.accounts import Accounts
from seg_pipeline.sources.simulator.personas import (
    API,
    BLEND,
    BLEND_LEN_P,
    C_TREND,
    CHURN_AFTER_WEEKS,
    CHURN_RATE,
    DECLINING,
    DYN_FLOOR,
    GRADUATION_RATE,
    GRADUATION_TENURE,
    MIGRATION_RATE,
    NEW,
    OUTLIER,
    PROFILE,
    TRANSITIONS,
)

# (account numbers, week index, from persona, to persona) of the accounts whose truth changed that week
Migration = tuple[np.ndarray, int, np.ndarray, np.ndarray]


def blend_weight(acc: Accounts) -> np.ndarray:
    """Weight of the target persona's profile for each account this week (0 when not in a transition)."""
    w = np.zeros(acc.n)
    for length, weights in BLEND.items():
        sel = acc.blend_len == length
        if sel.any():
            w[sel] = np.asarray(weights)[np.minimum(acc.blend_step[sel], length - 1)]
    return w


def start_transitions(rng: np.random.Generator, acc: Accounts, alive: np.ndarray, week_day0: int) -> None:
    """Idle accounts start migrating (onboarding graduates after GRADUATION_TENURE weeks) to a drawn target."""
    tenure_w = (week_day0 + 7 - acc.signup_day) // 7
    idle = alive & (acc.blend_len == 0) & (acc.truth != API) & (acc.truth != OUTLIER)
    rate = np.where(acc.truth == NEW, np.where(tenure_w >= GRADUATION_TENURE, GRADUATION_RATE, 0.0),
                    MIGRATION_RATE)
    u = rng.random(acc.n)
    move = idle & (u < rate)
    idx = np.flatnonzero(move)
    if idx.size == 0:
        return
    cum = np.cumsum(TRANSITIONS[acc.truth[idx]], axis=1)
    target = (rng.random(idx.size)[:, None] * cum[:, -1:] > cum).sum(axis=1)
    acc.persona_from[idx] = acc.truth[idx]
    acc.persona_to[idx] = target
    acc.blend_len[idx] = rng.choice(3, idx.size, p=BLEND_LEN_P) + 1
    acc.blend_step[idx] = 0


def advance_truth(acc: Accounts, w: int, alive: np.ndarray) -> tuple[np.ndarray, Migration | None]:
    """Flip the truth of accounts past the middle of their transition: (this week's blend weight, migration)."""
    weight = blend_weight(acc)
    new_truth = np.where((acc.blend_len > 0) & (weight > 0.5), acc.persona_to, acc.persona_from)
    changed = alive & (new_truth != acc.truth)
    migration = (acc.num[changed], w, acc.truth[changed], new_truth[changed]) if changed.any() else None
    acc.weeks_in_truth = np.where(changed, 1, acc.weeks_in_truth + 1)
    acc.truth = np.where(alive, new_truth, acc.truth)
    return weight, migration


def churn(rng: np.random.Generator, acc: Accounts, w: int, alive: np.ndarray) -> None:
    """Accounts declining for CHURN_AFTER_WEEKS weeks churn with CHURN_RATE a week (they leave mid-week)."""
    at_risk = alive & (acc.truth == DECLINING) & (acc.weeks_in_truth >= CHURN_AFTER_WEEKS)
    acc.churn_week = np.where(at_risk & (rng.random(acc.n) < CHURN_RATE), w, acc.churn_week)


def week_profile(acc: Accounts, weight: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Return this week's (blended) behaviour profile per account; also move the activity trend one week on."""
    prof: np.ndarray = (1.0 - weight[:, None]) * PROFILE[acc.persona_from] + weight[:, None] * PROFILE[acc.persona_to]
    # activity trend: declines compound, stable personas relax back to their level
    trend = prof[:, C_TREND]
    steady = np.abs(trend - 1.0) < 1e-9
    acc.dyn = np.where(alive, np.where(steady, acc.dyn + (1.0 - acc.dyn) * 0.5,
                                       np.clip(acc.dyn * trend, DYN_FLOOR, 1.0)), acc.dyn)
    return prof


def settle_transitions(acc: Accounts, alive: np.ndarray) -> None:
    """Transitions move one step; finished ones settle on the new persona."""
    moving = alive & (acc.blend_len > 0)
    acc.blend_step = np.where(moving, acc.blend_step + 1, acc.blend_step)
    done = moving & (acc.blend_step >= acc.blend_len)
    acc.persona_from = np.where(done, acc.persona_to, acc.persona_from)
    acc.blend_len = np.where(done, 0, acc.blend_len)
    acc.blend_step = np.where(done, 0, acc.blend_step)
