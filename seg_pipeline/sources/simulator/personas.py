"""The planted latent personas: who they are, how each behaves, and how accounts move between them.

Accounts in a transition blend two rows of :data:`PROFILE` linearly; the truth flips once the new persona
weighs more than half (:data:`BLEND`).
"""

import numpy as np

from seg_pipeline.sources.contracts import FEATURE_NAMES, KEY_FEATURES

PERSONAS: tuple[str, ...] = (
    "power_users",
    "steady_core",
    "struggling_adopters",
    "declining_at_risk",
    "expansion_candidates",
    "new_onboarding",
    "dormant",
    "api_integrators",
    "outlier",
)
MAIN_PERSONAS = PERSONAS[:7]
(POWER, STEADY, STRUGGLING, DECLINING, EXPANSION, NEW, DORMANT, API, OUTLIER) = range(len(PERSONAS))

# Feature order of the adoption model: the key features first (adopted with probability C_KEY), then the rest in
# contract order (their share follows C_BREADTH).
FEATURES: tuple[str, ...] = KEY_FEATURES + tuple(f for f in FEATURE_NAMES if f not in KEY_FEATURES)

# Behaviour profile of each persona. Accounts in a transition blend two rows linearly.
_P = {
    #        util  days  epd   login feat  api   exp   inv   breadth key   trend tick  p1    slow  csat  stall
    POWER: (0.75, 5.5, 4.0, 0.17, 0.60, 0.12, 0.10, 0.01, 11.5, 1.00, 1.00, 0.05, 0.01, 0.6, 4.6, 0.02),
    STEADY: (0.50, 3.5, 2.5, 0.30, 0.64, 0.01, 0.04, 0.01, 5.0, 0.50, 1.00, 0.04, 0.01, 1.0, 4.3, 0.05),
    STRUGGLING: (0.22, 1.8, 1.8, 0.55, 0.43, 0.00, 0.01, 0.01, 1.5, 0.10, 1.00, 3.00, 0.02, 2.5, 2.4, 0.40),
    DECLINING: (0.45, 2.5, 2.2, 0.38, 0.58, 0.01, 0.025, 0.005, 5.0, 0.50, 0.85, 2.50, 0.70, 1.2, 2.8, 0.15),
    EXPANSION: (1.40, 4.5, 3.0, 0.25, 0.53, 0.01, 0.01, 0.20, 6.0, 0.65, 1.00, 0.04, 0.01, 0.8, 4.5, 0.03),
    NEW: (0.50, 3.0, 2.5, 0.33, 0.42, 0.00, 0.01, 0.24, 2.5, 0.25, 1.18, 1.00, 0.01, 0.3, 4.2, 0.05),
    DORMANT: (0.008, 1.0, 1.3, 0.70, 0.28, 0.00, 0.02, 0.00, 1.0, 0.10, 1.00, 0.01, 0.05, 1.0, 4.0, 0.10),
    API: (0.00, 7.0, 60.0, 0.005, 0.02, 0.97, 0.005, 0.0, 0.5, 0.25, 1.00, 0.03, 0.10, 1.0, 4.0, 0.05),
    OUTLIER: (0.75, 6.0, 4.0, 0.18, 0.62, 0.10, 0.08, 0.02, 11.0, 1.00, 1.00, 0.50, 0.10, 1.5, 3.0, 0.30),
}
PROFILE = np.array([_P[i] for i in range(len(PERSONAS))])
# Columns of PROFILE; C_TYPES is the event-type mix in the contract's EVENT_TYPES order.
(C_UTIL, C_DAYS, C_EPD, C_TYPES, C_BREADTH, C_KEY, C_TREND, C_TICKETS, C_P1, C_SLOW, C_CSAT, C_STALL) = (
    0, 1, 2, slice(3, 8), 8, 9, 10, 11, 12, 13, 14, 15)

# Weekly transition targets (row: from). Rows of api_integrators and outlier never migrate.
TRANSITIONS = np.array([
    (0.00, 0.50, 0.00, 0.10, 0.40, 0.00, 0.00, 0, 0),
    (0.20, 0.00, 0.05, 0.35, 0.30, 0.00, 0.10, 0, 0),
    (0.00, 0.40, 0.00, 0.40, 0.00, 0.00, 0.20, 0, 0),
    (0.00, 0.40, 0.30, 0.00, 0.00, 0.00, 0.30, 0, 0),
    (0.50, 0.50, 0.00, 0.00, 0.00, 0.00, 0.00, 0, 0),
    (0.15, 0.55, 0.12, 0.00, 0.10, 0.00, 0.08, 0, 0),  # onboarding graduates
    (0.00, 0.60, 0.40, 0.00, 0.00, 0.00, 0.00, 0, 0),
    (0, 0, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 0, 0, 0, 0, 0),
])
MIGRATION_RATE = 0.03
DYN_FLOOR = 0.4  # a long decline bottoms out here (below that it would look dormant)
GRADUATION_RATE = 0.30  # new_onboarding accounts with >= GRADUATION_TENURE weeks
GRADUATION_TENURE = 8
CHURN_AFTER_WEEKS = 3
CHURN_RATE = 0.30
# Blend weight of the new profile in each week of a 1-, 2- or 3-week transition; truth flips once > 0.5.
BLEND = {1: (1.0,), 2: (0.3, 1.0), 3: (0.2, 0.7, 1.0)}
BLEND_LEN_P = np.array([0.3, 0.4, 0.3])
