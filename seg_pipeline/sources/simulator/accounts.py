"""The customer base: column-oriented account state, firmographics, signups and weekly CRM changes.

Arrays are indexed by account row; account numbers are 1-based row positions (``acc_000001`` is row 0), so rows
are only ever appended (signups), never removed (churned accounts stay, with their ``churn_week``).
"""

from dataclasses import dataclass

import numpy as np

from seg_pipeline.sources.contracts import EMPLOYEE_BAND_EDGES, PLANS, REGIONS
from seg_pipeline.sources.simulator.config import (
    US_PER_DAY,
    US_PER_HOUR,
    WEEKDAY_WEIGHT,
    SimulationConfig,
    days,
    rng,
)
from seg_pipeline.sources.simulator.personas import (
    C_TREND,
    DECLINING,
    EXPANSION,
    FEATURES,
    NEW,
    PERSONAS,
    POWER,
    PROFILE,
    STEADY,
)

PLAN_PRICE = np.array([15.0, 30.0, 45.0, 60.0])  # USD per seat per month, by contract PLANS
PLAN_MAX_SEATS = np.array([5, 25, 150])  # seats above these thresholds need the next plan
INDUSTRIES: tuple[str, ...] = (
    "software", "fintech", "healthcare", "retail", "manufacturing", "education", "media", "logistics",
    "public_sector", "professional_services",
)
REGION_P = np.array([0.45, 0.30, 0.17, 0.08])  # by contract REGIONS
REGION_UTC_SHIFT_H = np.array([5.0, -1.0, -8.0, 3.0])  # local working hours -> UTC
ACCOUNT_MANAGERS: tuple[tuple[str, str], ...] = tuple(
    (f"am_{i + 1:02d}", name)
    for i, name in enumerate((
        "Ana Ribeiro", "Ben Carter", "Chloe Nguyen", "David Okafor", "Elena Rossi", "Farid Haddad",
        "Grace Kim", "Hugo Martin", "Isla Murphy", "Jonas Weber", "Keiko Tanaka", "Liam O'Brien",
    ))
)
_ADJ = ("Blue", "Bright", "Swift", "North", "Silver", "Quantum", "Green", "Iron", "Clear", "Bold", "Prime",
        "Urban", "Rapid", "Solid", "Lunar", "Polar", "Vivid", "Noble", "Summit", "Coastal")
_NOUN = ("Harbor", "Peak", "River", "Forge", "Field", "Orbit", "Pixel", "Stone", "Bridge", "Cloud", "Maple",
         "Falcon", "Signal", "Anchor", "Vertex", "Meadow", "Beacon", "Atlas", "Cedar", "Delta")
_SUFFIX = ("Labs", "Systems", "Group", "Analytics", "Logistics", "Health", "Retail", "Partners", "Works",
           "Holdings")

INITIAL_SHARE = np.array([0.12, 0.30, 0.12, 0.08, 0.10, 0.08, 0.17, 0.025, 0.005])  # by persona
SEATS_MEDIAN = np.array([32.0, 20.0, 18.0, 22.0, 14.0, 14.0, 10.0, 4.0, 10.0])
SEATS_SIGMA = 0.4
TENURE_MEDIAN_WEEKS = np.array([130.0, 100.0, 30.0, 110.0, 60.0, 4.0, 120.0, 60.0, 80.0])
SIGNUP_RATE = 0.012  # new accounts per week, relative to the starting base


@dataclass
class Accounts:
    """Column-oriented account state; rows are appended for signups and never removed."""

    num: np.ndarray  # account number -> acc_000123
    signup_day: np.ndarray  # days since epoch
    seats: np.ndarray
    plan: np.ndarray
    price_factor: np.ndarray
    am: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    band: np.ndarray
    employees: np.ndarray  # head count at signup (integer, inside ``band``); exports show it, the CRM the band
    name: np.ndarray  # index into the name grid
    persona_from: np.ndarray
    persona_to: np.ndarray
    blend_len: np.ndarray  # 0 = no transition under way
    blend_step: np.ndarray
    truth: np.ndarray
    weeks_in_truth: np.ndarray
    dyn: np.ndarray  # trend multiplier on activity (declines, onboarding ramps)
    activity: np.ndarray  # stable account-level random effect
    ticket_re: np.ndarray
    latent_features: np.ndarray  # (n, 12) uniforms: feature f adopted iff latent < adoption prob
    n_service: np.ndarray  # service users of api_integrators
    outlier_kind: np.ndarray  # 0 = events x50, 1 = 30 P1 tickets a week
    churn_week: np.ndarray  # -1 = alive

    @property
    def n(self) -> int:
        """Count the accounts."""
        return len(self.num)

    def extend(self, other: "Accounts") -> None:
        """Append ``other``'s accounts, field by field."""
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def alive(self, w: int, day0: int) -> np.ndarray:
        """Signed up by the end of week ``w`` (starting on day ``day0``) and not churned in an earlier week."""
        return (self.signup_day < day0 + 7) & ((self.churn_week < 0) | (self.churn_week >= w))


def account_name(i: int) -> str:
    """Name the company at position ``i`` of the adjective x noun x suffix grid."""
    n_adj, n_noun = len(_ADJ), len(_NOUN)
    return f"{_ADJ[i % n_adj]} {_NOUN[(i // n_adj) % n_noun]} {_SUFFIX[i // (n_adj * n_noun)]}"


def plan_for_seats(seats: np.ndarray) -> np.ndarray:
    """Return the index of the smallest plan that fits each seat count."""
    return np.searchsorted(PLAN_MAX_SEATS, seats, side="left")


def new_accounts(rng: np.random.Generator, first_num: int, persona: np.ndarray, signup_day: np.ndarray,
                 weeks_in_truth: np.ndarray, dyn: np.ndarray) -> Accounts:
    """Accounts of the given personas with random firmographics (keyword order is the random draw order)."""
    n = len(persona)
    seats = np.clip(np.round(SEATS_MEDIAN[persona] * rng.lognormal(0.0, SEATS_SIGMA, n)), 1, 2500).astype(np.int64)
    plan = plan_for_seats(seats)
    # some customers buy one plan above what their seat count needs
    plan = np.minimum(plan + (rng.random(n) < 0.15), len(PLANS) - 1)
    employees = seats * rng.lognormal(np.log(3.0), 0.6, n)
    return Accounts(
        num=np.arange(first_num, first_num + n, dtype=np.int64),
        signup_day=signup_day.astype(np.int64),
        seats=seats,
        plan=plan.astype(np.int64),
        price_factor=rng.lognormal(0.0, 0.08, n),
        am=rng.integers(0, len(ACCOUNT_MANAGERS), n),
        industry=rng.integers(0, len(INDUSTRIES), n),
        region=rng.choice(len(REGIONS), n, p=REGION_P),
        band=np.searchsorted(np.asarray(EMPLOYEE_BAND_EDGES), employees, side="left"),
        employees=np.ceil(employees).astype(np.int64),  # the ceiling stays in the band (edges are integers)
        name=rng.integers(0, len(_ADJ) * len(_NOUN) * len(_SUFFIX), n),
        persona_from=persona.copy(),
        persona_to=persona.copy(),
        blend_len=np.zeros(n, dtype=np.int64),
        blend_step=np.zeros(n, dtype=np.int64),
        truth=persona.copy(),
        weeks_in_truth=weeks_in_truth.astype(np.int64),
        dyn=dyn.astype(np.float64),
        activity=rng.lognormal(0.0, 0.15, n),
        ticket_re=rng.lognormal(0.0, 0.3, n),
        latent_features=rng.random((n, len(FEATURES))),
        n_service=rng.integers(1, 3, n),
        outlier_kind=(rng.random(n) < 0.4).astype(np.int64),
        churn_week=np.full(n, -1, dtype=np.int64),
    )


def initial_accounts(config: SimulationConfig) -> Accounts:
    """Draw the base at the start: persona quotas, a tenure per persona, declines and onboarding already under way."""
    gen = rng(config.seed, 0)
    n = config.accounts
    # exact quotas (then shuffled) so even small demos hold every persona, outliers included
    quota = np.maximum(np.floor(INITIAL_SHARE / INITIAL_SHARE.sum() * n).astype(np.int64), 1 if n >= 100 else 0)
    quota[STEADY] += n - quota.sum()
    persona = gen.permutation(np.repeat(np.arange(len(PERSONAS)), quota))
    tenure_w = TENURE_MEDIAN_WEEKS[persona] * gen.lognormal(0.0, 0.9, n)
    tenure_w = np.where(persona == NEW, gen.uniform(0.2, 8.0, n), np.maximum(tenure_w, 10.0))
    signup_day = days(config.start) - np.round(tenure_w * 7).astype(np.int64)
    weeks_in = gen.integers(0, 5, n)
    dyn = np.ones(n)
    dyn = np.where(persona == DECLINING, PROFILE[DECLINING, C_TREND] ** weeks_in, dyn)
    dyn = np.where(persona == NEW, np.minimum(0.45 * PROFILE[NEW, C_TREND] ** np.minimum(tenure_w, 10.0), 1.0), dyn)
    weeks_in = np.where(persona == NEW, np.floor(tenure_w), weeks_in)
    return new_accounts(gen, 1, persona, signup_day, weeks_in, dyn)


def sign_up(acc: Accounts, config: SimulationConfig, w: int, day0: int) -> None:
    """Draw the new onboarding accounts of week ``w``, spread over its weekdays."""
    gen = rng(config.seed, 1, w)
    n = int(gen.poisson(config.accounts * SIGNUP_RATE))
    if n == 0:
        return
    persona = np.full(n, NEW, dtype=np.int64)
    signup = day0 + np.sort(gen.choice(7, n, p=WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.sum()))
    acc.extend(new_accounts(gen, int(acc.num.max()) + 1, persona, signup, np.zeros(n), np.full(n, 0.45)))


def crm_changes(acc: Accounts, seed: int, w: int, alive: np.ndarray) -> None:
    """Seats grow with expansion, jitter elsewhere; plans follow seats; a few upgrades and AM reassignments."""
    gen = rng(seed, 3, w)
    n = acc.n
    expanding = alive & ((acc.truth == EXPANSION) | (acc.persona_to == EXPANSION))
    grow = expanding & (gen.random(n) < 0.25)
    acc.seats = np.where(grow, np.ceil(acc.seats * gen.uniform(1.1, 1.35, n)).astype(np.int64), acc.seats)
    # a few other accounts add or drop a seat or two
    jitter = alive & ~expanding & (gen.random(n) < 0.03)
    acc.seats = np.where(jitter, np.maximum(acc.seats + gen.integers(-2, 3, n), 1), acc.seats)
    acc.plan = np.maximum(acc.plan, plan_for_seats(acc.seats))
    upgrade = alive & (acc.truth == POWER) & (gen.random(n) < 0.01)
    acc.plan = np.where(upgrade, np.minimum(acc.plan + 1, len(PLANS) - 1), acc.plan)
    reassign = alive & (gen.random(n) < 0.004)
    acc.am = np.where(reassign, (acc.am + gen.integers(1, len(ACCOUNT_MANAGERS), n)) % len(ACCOUNT_MANAGERS),
                      acc.am)


def working_time_us(rng: np.random.Generator, n: int, region: np.ndarray, around_clock: np.ndarray) -> np.ndarray:
    """Microseconds into the UTC day: working-hours peak in local time, some evening/night noise."""
    local_h = np.where(rng.random(n) < 0.82, np.clip(rng.normal(13.0, 2.6, n), 6.0, 22.0),
                       rng.uniform(0.0, 24.0, n))
    local_h = np.where(around_clock, rng.uniform(0.0, 24.0, n), local_h)
    hours = np.mod(local_h + REGION_UTC_SHIFT_H[region], 24.0)
    us: np.ndarray = np.minimum((hours * US_PER_HOUR).astype(np.int64), US_PER_DAY - 1)
    return us
