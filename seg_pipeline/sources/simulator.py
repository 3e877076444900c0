"""Simulated B2B SaaS company: the embedded default data source of the demo and the benchmarks.

Accounts carry planted latent personas that drift week by week, so the pipeline has something real to
recover: landing files (product events, CRM snapshots, support tickets) follow ``docs/contracts.md`` and the
ground truth (persona per account-week, migrations, churn) goes to a separate directory the pipeline never
reads. Everything is vectorised with numpy per week/day and seeded, so the same config writes byte-identical
files and 100 k accounts x 8 weeks take about a minute.
"""

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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

FEATURE_NAMES: tuple[str, ...] = (
    "dashboards", "workflows", "integrations", "collaboration",  # the 4 key features first
    "reports", "alerts", "data_import", "mobile_app", "sso", "audit_log", "custom_fields", "ai_assistant",
)
KEY_FEATURES = FEATURE_NAMES[:4]
EVENT_TYPES: tuple[str, ...] = ("login", "feature_use", "api_call", "export", "invite")
FEATURE_USE = 1
EVENT_TYPE_ARRAY = pa.array(EVENT_TYPES, type=pa.string())
FEATURE_ARRAY = pa.array(FEATURE_NAMES, type=pa.string())
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
CATEGORIES: tuple[str, ...] = ("bug", "how_to", "billing", "integration", "performance", "feature_request")
PLANS: tuple[str, ...] = ("starter", "growth", "business", "enterprise")
PLAN_PRICE = np.array([15.0, 30.0, 45.0, 60.0])  # USD per seat per month
PLAN_MAX_SEATS = np.array([5, 25, 150])  # seats above these thresholds need the next plan
INDUSTRIES: tuple[str, ...] = (
    "software", "fintech", "healthcare", "retail", "manufacturing", "education", "media", "logistics",
    "public_sector", "professional_services",
)
REGIONS: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
REGION_P = np.array([0.45, 0.30, 0.17, 0.08])
REGION_UTC_SHIFT_H = np.array([5.0, -1.0, -8.0, 3.0])  # local working hours -> UTC
EMPLOYEE_BANDS: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
EMPLOYEE_EDGES = np.array([10, 50, 200, 1000, 5000])
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

WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.2, 0.15])  # Mon..Sun
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
EPOCH = date(1970, 1, 1)
# Calibrates the average volume to ~100 events per account-week at events_scale=1.
EVENTS_PER_USER_DAY_SCALE = 0.5

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
(C_UTIL, C_DAYS, C_EPD, C_TYPES, C_BREADTH, C_KEY, C_TREND, C_TICKETS, C_P1, C_SLOW, C_CSAT, C_STALL) = (
    0, 1, 2, slice(3, 8), 8, 9, 10, 11, 12, 13, 14, 15)
CATEGORY_MIX = np.array([
    (0.30, 0.10, 0.10, 0.15, 0.15, 0.20),
    (0.30, 0.25, 0.15, 0.10, 0.10, 0.10),
    (0.25, 0.45, 0.10, 0.08, 0.07, 0.05),
    (0.35, 0.10, 0.20, 0.10, 0.20, 0.05),
    (0.15, 0.10, 0.30, 0.10, 0.05, 0.30),
    (0.15, 0.55, 0.15, 0.10, 0.02, 0.03),
    (0.10, 0.20, 0.50, 0.10, 0.05, 0.05),
    (0.30, 0.05, 0.05, 0.50, 0.10, 0.00),
    (0.40, 0.05, 0.05, 0.10, 0.40, 0.00),
])
INITIAL_SHARE = np.array([0.12, 0.30, 0.12, 0.08, 0.10, 0.08, 0.17, 0.025, 0.005])
SEATS_MEDIAN = np.array([32.0, 20.0, 18.0, 22.0, 14.0, 14.0, 10.0, 4.0, 10.0])
SEATS_SIGMA = 0.4
TENURE_MEDIAN_WEEKS = np.array([130.0, 100.0, 30.0, 110.0, 60.0, 4.0, 120.0, 60.0, 80.0])
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
SIGNUP_RATE = 0.012  # new accounts per week, relative to the starting base
# Blend weight of the new profile in each week of a 1-, 2- or 3-week transition; truth flips once > 0.5.
BLEND = {1: (1.0,), 2: (0.3, 1.0), 3: (0.2, 0.7, 1.0)}
BLEND_LEN_P = np.array([0.3, 0.4, 0.3])
RESOLUTION_MEDIAN_H = np.array([4.0, 12.0, 30.0, 60.0])
CLOSE_AFTER_H = 72.0
# A company has support history before the first exported week: tickets raised in these earlier weeks are still
# being worked (and show up as updates) in week 0, so week-0 backlog and resolution times are not artificially empty.
TICKET_WARMUP_WEEKS = 6
SOURCES = ("product_events", "crm_accounts", "support_tickets")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same config always writes the same bytes."""

    accounts: int = 2000  # accounts alive at the start
    weeks: int = 8
    seed: int = 7
    start: date = date(2026, 1, 5)  # a Monday; week 0 = [start, start+7d)
    events_scale: float = 1.0  # multiplies event volume (benchmarks use it)

    def __post_init__(self) -> None:
        if self.accounts < 1 or self.weeks < 1:
            raise ValueError("accounts and weeks must be >= 1")
        if self.start.weekday() != 0:
            raise ValueError(f"start {self.start} is not a Monday (weeks start on Monday, UTC)")
        if not self.events_scale > 0:
            raise ValueError("events_scale must be > 0")


@dataclass(frozen=True)
class SimulationResult:
    """What was written: week starts, files per source and rows per source."""

    weeks: list[date]
    files: dict[str, list[Path]]
    counts: dict[str, int]
    truth_files: dict[str, Path] = field(default_factory=dict)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """Independent stream per (purpose, week), so changing one volume never reshuffles another."""
    return np.random.default_rng([seed, *stream])


def _days(d: date) -> int:
    return (d - EPOCH).days


@dataclass
class _Accounts:
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
        return len(self.num)

    def extend(self, other: "_Accounts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


def _plan_for_seats(seats: np.ndarray) -> np.ndarray:
    return np.searchsorted(PLAN_MAX_SEATS, seats, side="left")


def _new_accounts(rng: np.random.Generator, first_num: int, persona: np.ndarray, signup_day: np.ndarray,
                  weeks_in_truth: np.ndarray, dyn: np.ndarray) -> _Accounts:
    n = len(persona)
    seats = np.clip(np.round(SEATS_MEDIAN[persona] * rng.lognormal(0.0, SEATS_SIGMA, n)), 1, 2500).astype(np.int64)
    plan = _plan_for_seats(seats)
    # some customers buy one plan above what their seat count needs
    plan = np.minimum(plan + (rng.random(n) < 0.15), len(PLANS) - 1)
    employees = seats * rng.lognormal(np.log(3.0), 0.6, n)
    return _Accounts(
        num=np.arange(first_num, first_num + n, dtype=np.int64),
        signup_day=signup_day.astype(np.int64),
        seats=seats,
        plan=plan.astype(np.int64),
        price_factor=rng.lognormal(0.0, 0.08, n),
        am=rng.integers(0, len(ACCOUNT_MANAGERS), n),
        industry=rng.integers(0, len(INDUSTRIES), n),
        region=rng.choice(len(REGIONS), n, p=REGION_P),
        band=np.searchsorted(EMPLOYEE_EDGES, employees, side="left"),
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
        latent_features=rng.random((n, len(FEATURE_NAMES))),
        n_service=rng.integers(1, 3, n),
        outlier_kind=(rng.random(n) < 0.4).astype(np.int64),
        churn_week=np.full(n, -1, dtype=np.int64),
    )


def _initial_accounts(config: SimulationConfig) -> _Accounts:
    rng = _rng(config.seed, 0)
    n = config.accounts
    # exact quotas (then shuffled) so even small demos hold every persona, outliers included
    quota = np.maximum(np.floor(INITIAL_SHARE / INITIAL_SHARE.sum() * n).astype(np.int64), 1 if n >= 100 else 0)
    quota[STEADY] += n - quota.sum()
    persona = rng.permutation(np.repeat(np.arange(len(PERSONAS)), quota))
    tenure_w = TENURE_MEDIAN_WEEKS[persona] * rng.lognormal(0.0, 0.9, n)
    tenure_w = np.where(persona == NEW, rng.uniform(0.2, 8.0, n), np.maximum(tenure_w, 10.0))
    signup_day = _days(config.start) - np.round(tenure_w * 7).astype(np.int64)
    weeks_in = rng.integers(0, 5, n)
    dyn = np.ones(n)
    dyn = np.where(persona == DECLINING, PROFILE[DECLINING, C_TREND] ** weeks_in, dyn)
    dyn = np.where(persona == NEW, np.minimum(0.45 * PROFILE[NEW, C_TREND] ** np.minimum(tenure_w, 10.0), 1.0), dyn)
    weeks_in = np.where(persona == NEW, np.floor(tenure_w), weeks_in)
    return _new_accounts(rng, 1, persona, signup_day, weeks_in, dyn)


def _blend_weight(acc: _Accounts) -> np.ndarray:
    w = np.zeros(acc.n)
    for length, weights in BLEND.items():
        sel = acc.blend_len == length
        if sel.any():
            w[sel] = np.asarray(weights)[np.minimum(acc.blend_step[sel], length - 1)]
    return w


def _start_transitions(rng: np.random.Generator, acc: _Accounts, alive: np.ndarray, week_day0: int) -> None:
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


def _feature_mask(acc: _Accounts, prof: np.ndarray) -> np.ndarray:
    """Adopted features: a stable latent per account-feature against the (blended) adoption probability."""
    key_p = prof[:, C_KEY]
    other_p = np.clip((prof[:, C_BREADTH] - 4 * key_p) / 8, 0.0, 1.0)
    p = np.concatenate([np.repeat(key_p[:, None], 4, axis=1), np.repeat(other_p[:, None], 8, axis=1)], axis=1)
    mask = acc.latent_features < p
    # anyone who uses features at all uses at least their most likely one
    none = ~mask.any(axis=1)
    mask[none, np.argmin(acc.latent_features[none], axis=1)] = True
    return mask


def _working_time_us(rng: np.random.Generator, n: int, region: np.ndarray, around_clock: np.ndarray
                     ) -> np.ndarray:
    """Microseconds into the UTC day: working-hours peak in local time, some evening/night noise."""
    local_h = np.where(rng.random(n) < 0.82, np.clip(rng.normal(13.0, 2.6, n), 6.0, 22.0),
                       rng.uniform(0.0, 24.0, n))
    local_h = np.where(around_clock, rng.uniform(0.0, 24.0, n), local_h)
    hours = np.mod(local_h + REGION_UTC_SHIFT_H[region], 24.0)
    return np.minimum((hours * US_PER_HOUR).astype(np.int64), US_PER_DAY - 1)


def _fixed_ids(prefix: str, numbers: np.ndarray, digits: int) -> pa.Array:
    """``prefix`` + zero-padded numbers as a string array, built as one byte buffer (no Python per row)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and numbers.max() >= 10**digits:
        return pc.binary_join_element_wise(prefix, _padded_str(numbers, digits), "")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = head.size + digits
    buf = np.empty((numbers.size, width), dtype=np.uint8)
    buf[:, : head.size] = head
    for k in range(digits):
        buf[:, width - 1 - k] = 48 + (numbers // 10**k) % 10
    offsets = np.arange(numbers.size + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.string(), numbers.size, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _dict_array(indices: np.ndarray, dictionary: pa.Array, null: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary-encoded strings: Parquet stores them as dictionary pages without hashing 10 M values."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=null), dictionary)


def _write_parquet(table: pa.Table, path: Path) -> None:
    # store_schema=False: readers see plain strings and timestamp[us, UTC], not the in-memory dictionaries
    pq.write_table(table, path, compression="zstd", store_schema=False)


def _account_ids(nums: np.ndarray) -> pa.Array:
    return pa.array([f"acc_{x:06d}" for x in nums.tolist()], type=pa.string())


def _padded_str(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values, type=pa.int64()), pa.string()), width=width, padding="0")


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write beside the target, then rename: a crash never leaves a half-written landing file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


@dataclass
class _Tickets:
    """Every ticket ever created with its full planned timeline (us since epoch; -1 = never)."""

    num: list[np.ndarray] = field(default_factory=list)
    account: list[np.ndarray] = field(default_factory=list)
    created: list[np.ndarray] = field(default_factory=list)
    pending: list[np.ndarray] = field(default_factory=list)
    resolved: list[np.ndarray] = field(default_factory=list)
    closed: list[np.ndarray] = field(default_factory=list)
    priority: list[np.ndarray] = field(default_factory=list)
    category: list[np.ndarray] = field(default_factory=list)
    csat: list[np.ndarray] = field(default_factory=list)  # 0 = not rated

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in self.__dict__.items()}


class _Simulator:
    def __init__(self, config: SimulationConfig, landing_dir: Path, truth_dir: Path,
                 progress: Callable[[str], None] | None) -> None:
        self.config = config
        self.landing = Path(landing_dir)
        self.truth_dir = Path(truth_dir)
        self.progress = progress or (lambda _msg: None)
        self.acc = _initial_accounts(config)
        self.tickets = _Tickets()
        self.next_ticket = 1
        self.files: dict[str, list[Path]] = {s: [] for s in SOURCES}
        self.counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self.truth_rows: list[tuple[np.ndarray, int, np.ndarray]] = []
        self.migration_rows: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-writer")
        self.pending: list[Future[None]] = []

    # ------------------------------------------------------------------ weekly state
    def _signups(self, w: int, day0: int) -> None:
        rng = _rng(self.config.seed, 1, w)
        n = int(rng.poisson(self.config.accounts * SIGNUP_RATE))
        if n == 0:
            return
        persona = np.full(n, NEW, dtype=np.int64)
        signup = day0 + np.sort(rng.choice(7, n, p=WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.sum()))
        new = _new_accounts(rng, int(self.acc.num.max()) + 1, persona, signup, np.zeros(n), np.full(n, 0.45))
        self.acc.extend(new)

    def _advance_truth(self, w: int, alive: np.ndarray) -> None:
        acc = self.acc
        weight = _blend_weight(acc)
        new_truth = np.where((acc.blend_len > 0) & (weight > 0.5), acc.persona_to, acc.persona_from)
        changed = alive & (new_truth != acc.truth)
        if changed.any():
            self.migration_rows.append((acc.num[changed], w, acc.truth[changed], new_truth[changed]))
        acc.weeks_in_truth = np.where(changed, 1, acc.weeks_in_truth + 1)
        acc.truth = np.where(alive, new_truth, acc.truth)
        self._weight = weight

    def _churn(self, w: int, alive: np.ndarray) -> None:
        rng = _rng(self.config.seed, 2, w)
        acc = self.acc
        at_risk = alive & (acc.truth == DECLINING) & (acc.weeks_in_truth >= CHURN_AFTER_WEEKS)
        acc.churn_week = np.where(at_risk & (rng.random(acc.n) < CHURN_RATE), w, acc.churn_week)

    def _crm_changes(self, w: int, alive: np.ndarray) -> None:
        rng = _rng(self.config.seed, 3, w)
        acc = self.acc
        n = acc.n
        expanding = alive & ((acc.truth == EXPANSION) | (acc.persona_to == EXPANSION))
        grow = expanding & (rng.random(n) < 0.25)
        acc.seats = np.where(grow, np.ceil(acc.seats * rng.uniform(1.1, 1.35, n)).astype(np.int64), acc.seats)
        # a few other accounts add or drop a seat or two
        jitter = alive & ~expanding & (rng.random(n) < 0.03)
        acc.seats = np.where(jitter, np.maximum(acc.seats + rng.integers(-2, 3, n), 1), acc.seats)
        acc.plan = np.maximum(acc.plan, _plan_for_seats(acc.seats))
        upgrade = alive & (acc.truth == POWER) & (rng.random(n) < 0.01)
        acc.plan = np.where(upgrade, np.minimum(acc.plan + 1, len(PLANS) - 1), acc.plan)
        reassign = alive & (rng.random(n) < 0.004)
        acc.am = np.where(reassign, (acc.am + rng.integers(1, len(ACCOUNT_MANAGERS), n)) % len(ACCOUNT_MANAGERS),
                          acc.am)

    # ------------------------------------------------------------------ product events
    def _events(self, w: int, day0: int, alive: np.ndarray, prof: np.ndarray) -> None:
        cfg = self.config
        acc = self.acc
        rng = _rng(cfg.seed, 4, w)
        n = acc.n
        is_api = acc.truth == API
        target = prof[:, C_UTIL] * acc.seats * acc.dyn * acc.activity * rng.lognormal(0.0, 0.12, n)
        # stochastic rounding: weekly active users are a steady crowd, not independent arrivals
        wau = np.where(is_api, acc.n_service, np.floor(target + rng.random(n)).astype(np.int64))
        pool = np.ceil(acc.seats * 1.6).astype(np.int64) + 2
        wau = np.where(alive, np.minimum(wau, pool), 0)

        users_acc = np.repeat(np.arange(n), wau)
        starts = np.cumsum(wau) - wau
        users_idx = np.arange(users_acc.size) - np.repeat(starts, wau)
        # active days: weekday-heavy Bernoulli per user-day, at least one day, none before signup
        days_mean = np.clip(prof[users_acc, C_DAYS] * np.sqrt(acc.dyn[users_acc]), 0.5, 7.0)
        p_day = np.clip(days_mean[:, None] / 7.0 * WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.mean(), 0.0, 1.0)
        active = rng.random(p_day.shape) < p_day
        none = ~active.any(axis=1)
        active[none, rng.choice(7, int(none.sum()), p=WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.sum())] = True
        active &= (day0 + np.arange(7))[None, :] >= acc.signup_day[users_acc][:, None]
        # the churn week is the last one with events: the account stops mid-week
        churning = acc.churn_week[users_acc] == w
        active &= ~(churning[:, None] & (np.arange(7)[None, :] >= 4))

        epd = prof[:, C_EPD] * np.sqrt(acc.dyn) * acc.activity * EVENTS_PER_USER_DAY_SCALE * cfg.events_scale
        epd = np.where((acc.truth == OUTLIER) & (acc.outlier_kind == 0), epd * 50, epd)
        types_cum = np.cumsum(prof[:, C_TYPES], axis=1)
        types_cum /= types_cum[:, -1:]
        fmask = _feature_mask(acc, prof)
        forder = np.argsort(~fmask, axis=1, kind="stable")
        fcount = fmask.sum(axis=1)
        # weekly user dictionary; each day's file references the users active that day
        week_users = pc.binary_join_element_wise(
            pc.take(pa.array([f"u_{x:06d}_" for x in acc.num.tolist()], type=pa.string()), pa.array(users_acc)),
            _padded_str(users_idx, 3), "")
        cum_flat = (types_cum + np.arange(n)[:, None]).ravel()

        out_dir = self.landing / "product_events"
        out_dir.mkdir(parents=True, exist_ok=True)
        for d in range(7):
            day = day0 + d
            sel = np.flatnonzero(active[:, d])
            ua = users_acc[sel]
            mean = epd[ua]
            # heavy-tailed events per user-day: 1 + gamma-poisson
            n_ev = 1 + rng.poisson(rng.gamma(2.0, np.maximum(mean - 1.0, 0.0) / 2.0 + 1e-9))
            ea = np.repeat(ua, n_ev)
            eu = np.repeat(np.arange(sel.size), n_ev)  # position among the day's active users
            m = ea.size
            # per-account categorical draw without an (events x types) matrix: offset each account's CDF
            etype = np.searchsorted(cum_flat, ea + rng.random(m), side="right") - ea * len(EVENT_TYPES)
            etype = np.clip(etype, 0, len(EVENT_TYPES) - 1)
            pick = np.minimum((rng.random(m) * fcount[ea]).astype(np.int64), fcount[ea] - 1)
            feat = forder[ea, np.maximum(pick, 0)]
            ts_ms = (day * US_PER_DAY + _working_time_us(rng, m, acc.region[ea], is_api[ea])) // 1000
            # events are already ordered by (account, user); a unique key keeps that order among equal times
            order = np.argsort(ts_ms * m + np.arange(m))
            ea, eu, etype, feat, ts_ms = ea[order], eu[order], etype[order], feat[order], ts_ms[order]
            day_accounts, acc_pos = np.unique(ea, return_inverse=True)
            day_date = EPOCH + timedelta(days=int(day))
            table = pa.table({
                "event_id": _fixed_ids(f"evt_{day_date:%Y%m%d}_", np.arange(m), 8),
                "account_id": _dict_array(acc_pos, _fixed_ids("acc_", acc.num[day_accounts], 6)),
                "user_id": _dict_array(eu, week_users.take(pa.array(sel))),
                "event_type": _dict_array(etype, EVENT_TYPE_ARRAY),
                "feature_name": _dict_array(feat, FEATURE_ARRAY, null=etype != FEATURE_USE),
                "event_ts": pa.array(ts_ms * 1000, type=pa.timestamp("us", tz="UTC")),
            })
            path = out_dir / f"events_{day_date.isoformat()}.parquet"
            self._write_async(path, table)
            self.files["product_events"].append(path)
            self.counts["product_events"] += m

    def _ticket_warmup(self) -> None:
        """Tickets of the weeks before the start, from each account's starting persona (never written as files)."""
        acc = self.acc
        start = _days(self.config.start)
        prof = PROFILE[acc.persona_from]
        for k in range(TICKET_WARMUP_WEEKS, 0, -1):
            day0 = start - 7 * k
            self._new_tickets(-k, day0, acc.signup_day < day0 + 7, prof, rng=_rng(self.config.seed, 7, k))

    def _write_async(self, path: Path, table: pa.Table) -> None:
        """Write Parquet on a worker thread (pyarrow releases the GIL) while the next day is generated."""
        while len(self.pending) >= 2:
            self.pending.pop(0).result()
        self.pending.append(self.writer.submit(_atomic_write, path, partial(_write_parquet, table)))

    # ------------------------------------------------------------------ support tickets
    def _new_tickets(self, w: int, day0: int, alive: np.ndarray, prof: np.ndarray,
                     rng: np.random.Generator | None = None) -> None:
        rng = rng or _rng(self.config.seed, 5, w)
        acc = self.acc
        n = acc.n
        ramp = np.clip(1.0 / acc.dyn, 1.0, 3.0) ** 0.7  # declining and onboarding accounts ask for more help
        mean = prof[:, C_TICKETS] * (acc.seats / 15.0) ** 0.3 * acc.ticket_re * ramp
        count = rng.poisson(rng.gamma(4.0, mean / 4.0 + 1e-12))
        storm = (acc.truth == OUTLIER) & (acc.outlier_kind == 1)
        count = np.where(storm, 30 + rng.poisson(3.0, n), count)
        count = np.where(alive, count, 0)
        ta = np.repeat(np.arange(n), count)
        m = ta.size
        if m == 0:
            return
        first_day = np.clip(acc.signup_day[ta] - day0, 0, 6)
        # churners raise tickets only before they leave mid-week
        last_day = np.where((acc.churn_week[ta] == w) & (w >= 0), 3, 6)
        first_day = np.minimum(first_day, last_day)
        day = first_day + np.floor(rng.random(m) * (last_day - first_day + 1)).astype(np.int64)
        created = (day0 + day) * US_PER_DAY + _working_time_us(rng, m, acc.region[ta], np.zeros(m, bool))
        created -= created % 1_000_000
        p1 = np.where(storm[ta], 1.0, prof[ta, C_P1])
        prio = np.where(rng.random(m) < p1, 0, 1 + rng.choice(3, m, p=[0.25, 0.45, 0.30]))
        cat_cum = np.cumsum(CATEGORY_MIX[acc.truth[ta]], axis=1)
        category = np.minimum((rng.random(m)[:, None] > cat_cum).sum(axis=1), len(CATEGORIES) - 1)
        hours = RESOLUTION_MEDIAN_H[prio] * prof[ta, C_SLOW] * rng.lognormal(0.0, 0.7, m)
        hours = np.where(rng.random(m) < prof[ta, C_STALL], hours * 8.0, hours)
        hours = np.maximum(hours, 0.25)
        resolved = created + (hours * US_PER_HOUR).astype(np.int64)
        resolved -= resolved % 1_000_000
        pending = np.where(hours > 8.0, created + (np.minimum(hours * 0.3, 24.0) * US_PER_HOUR).astype(np.int64),
                           -1)
        pending = np.where(pending > 0, pending - pending % 1_000_000, -1)
        closed = resolved + int(CLOSE_AFTER_H * US_PER_HOUR)
        score = np.rint(rng.normal(prof[ta, C_CSAT] - 0.15 * (prio == 0) - 0.1 * np.log1p(hours / 24), 0.8))
        csat = np.where(rng.random(m) < 0.6, np.clip(score, 1, 5), 0).astype(np.int64)
        t = self.tickets
        t.num.append(np.arange(self.next_ticket, self.next_ticket + m))
        t.account.append(acc.num[ta])
        t.created.append(created)
        t.pending.append(pending)
        t.resolved.append(resolved)
        t.closed.append(closed)
        t.priority.append(prio)
        t.category.append(category)
        t.csat.append(csat)
        self.next_ticket += m

    def _write_tickets(self, week: date, day0: int) -> None:
        t = self.tickets.arrays()
        lo, hi = day0 * US_PER_DAY, (day0 + 7) * US_PER_DAY
        rows = ""
        if t["num"].size:
            # a churned account's tickets stop changing when it leaves
            churn_week = self.acc.churn_week[t["account"] - 1]  # account numbers are 1-based row positions
            cutoff = np.where(churn_week >= 0, (_days(self.config.start) + 7 * (churn_week + 1)) * US_PER_DAY,
                              np.iinfo(np.int64).max)
            changes = np.stack([t["created"], t["pending"], t["resolved"], t["closed"]])
            changes = np.where(changes < cutoff, changes, -1)
            t["pending"], t["resolved"], t["closed"] = changes[1], changes[2], changes[3]
            in_week = (changes >= lo) & (changes < hi)
            touched = np.flatnonzero(in_week.any(axis=0))
            last = np.where(in_week[:, touched], changes[:, touched], -1).max(axis=0)
            order = np.lexsort((t["num"][touched], last))
            i, upd = touched[order], last[order]
            res = t["resolved"][i]
            solved = (res >= 0) & (res <= upd)
            closed = (t["closed"][i] >= 0) & (t["closed"][i] <= upd)
            pending = (t["pending"][i] >= 0) & (t["pending"][i] <= upd)
            status = np.where(closed, "closed", np.where(solved, "solved", np.where(pending, "pending", "open")))
            csat = pd.array(t["csat"][i], dtype="Int64")
            csat[~solved | (t["csat"][i] <= 0)] = pd.NA
            frame = pd.DataFrame({
                "ticket_id": _fixed_ids("tkt_", t["num"][i], 7).to_pandas(),
                "account_id": _fixed_ids("acc_", t["account"][i], 6).to_pandas(),
                "created_at": _iso_array(t["created"][i]),
                "updated_at": _iso_array(upd),
                "resolved_at": np.where(solved, _iso_array(np.where(solved, res, 0)), None),  # type: ignore[call-overload]
                "priority": np.asarray(PRIORITIES, dtype=object)[t["priority"][i]],
                "category": np.asarray(CATEGORIES, dtype=object)[t["category"][i]],
                "status": status.astype(object),
                "csat": csat,
            })
            rows = frame.to_json(orient="records", lines=True) if len(frame) else ""
        out_dir = self.landing / "support_tickets"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"tickets_{week.isoformat()}.jsonl"
        text = rows if not rows or rows.endswith("\n") else rows + "\n"
        _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8", newline="\n"))
        self.files["support_tickets"].append(path)
        self.counts["support_tickets"] += text.count("\n")

    # ------------------------------------------------------------------ CRM snapshot
    def _write_crm(self, w: int, week: date, day0: int, in_snapshot: np.ndarray) -> None:
        acc = self.acc
        idx = np.flatnonzero(in_snapshot)
        week_end = day0 + 7
        signup = acc.signup_day[idx]
        years = (week_end - signup) // 365 + 1
        renewal = signup + years * 365
        n_adj, n_noun = len(_ADJ), len(_NOUN)
        name_i = acc.name[idx]
        names = [f"{_ADJ[a % n_adj]} {_NOUN[(a // n_adj) % n_noun]} {_SUFFIX[a // (n_adj * n_noun)]}"
                 for a in name_i.tolist()]
        am = acc.am[idx]
        mrr = np.round(acc.seats[idx] * PLAN_PRICE[acc.plan[idx]] * acc.price_factor[idx], 2)
        frame = pd.DataFrame({
            "account_id": [f"acc_{x:06d}" for x in acc.num[idx].tolist()],
            "account_name": names,
            "industry": np.asarray(INDUSTRIES, dtype=object)[acc.industry[idx]],
            "employee_band": np.asarray(EMPLOYEE_BANDS, dtype=object)[acc.band[idx]],
            "region": np.asarray(REGIONS, dtype=object)[acc.region[idx]],
            "plan": np.asarray(PLANS, dtype=object)[acc.plan[idx]],
            "seats": acc.seats[idx],
            "mrr": mrr,
            "signup_date": _iso_dates(signup),
            "renewal_date": _iso_dates(renewal),
            "account_manager_id": [ACCOUNT_MANAGERS[a][0] for a in am.tolist()],
            "account_manager_name": [ACCOUNT_MANAGERS[a][1] for a in am.tolist()],
            "account_manager_email": [_am_email(a) for a in am.tolist()],
            "status": np.where(acc.churn_week[idx] == w, "churned", "active"),
        })
        out_dir = self.landing / "crm_accounts"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"accounts_{week.isoformat()}.csv"
        _atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.2f", lineterminator="\n"))
        self.files["crm_accounts"].append(path)
        self.counts["crm_accounts"] += len(frame)

    # ------------------------------------------------------------------ driver
    def run(self) -> SimulationResult:
        try:
            return self._run()
        finally:
            for future in self.pending:
                future.result()
            self.writer.shutdown(wait=True)

    def _run(self) -> SimulationResult:
        cfg = self.config
        weeks = [cfg.start + timedelta(weeks=w) for w in range(cfg.weeks)]
        self._ticket_warmup()
        for w, week in enumerate(weeks):
            day0 = _days(week)
            self._signups(w, day0)
            acc = self.acc
            # alive = signed up by the week's end and not churned in an earlier week
            alive = (acc.signup_day < day0 + 7) & ((acc.churn_week < 0) | (acc.churn_week >= w))
            _start_transitions(_rng(cfg.seed, 6, w), acc, alive, day0)
            self._advance_truth(w, alive)
            self._churn(w, alive)
            self._crm_changes(w, alive)
            weight = self._weight[:, None]
            prof = (1.0 - weight) * PROFILE[acc.persona_from] + weight * PROFILE[acc.persona_to]
            # activity trend: declines compound, stable personas relax back to their level
            trend = prof[:, C_TREND]
            steady = np.abs(trend - 1.0) < 1e-9
            acc.dyn = np.where(alive, np.where(steady, acc.dyn + (1.0 - acc.dyn) * 0.5,
                                               np.clip(acc.dyn * trend, DYN_FLOOR, 1.0)), acc.dyn)
            self._events(w, day0, alive, prof)
            self._new_tickets(w, day0, alive, prof)
            self._write_tickets(week, day0)
            self._write_crm(w, week, day0, alive)
            self.truth_rows.append((acc.num[alive], w, acc.truth[alive]))
            # transitions move one step; finished ones settle on the new persona
            moving = alive & (acc.blend_len > 0)
            acc.blend_step = np.where(moving, acc.blend_step + 1, acc.blend_step)
            done = moving & (acc.blend_step >= acc.blend_len)
            acc.persona_from = np.where(done, acc.persona_to, acc.persona_from)
            acc.blend_len = np.where(done, 0, acc.blend_len)
            acc.blend_step = np.where(done, 0, acc.blend_step)
            self.progress(f"week {week}: {int(alive.sum())} accounts, "
                          f"{self.counts['product_events']} events so far")
        truth_files = self._write_truth(weeks)
        return SimulationResult(weeks=weeks, files=self.files, counts=self.counts, truth_files=truth_files)

    def _write_truth(self, weeks: Sequence[date]) -> dict[str, Path]:
        self.truth_dir.mkdir(parents=True, exist_ok=True)
        week_arr = np.asarray([_days(w) for w in weeks], dtype=np.int32)
        names = pa.array(PERSONAS, type=pa.string())

        def acc_ids(nums: list[np.ndarray]) -> pa.Array:
            return _account_ids(np.concatenate(nums)) if nums else pa.array([], type=pa.string())

        def week_col(ws: list[np.ndarray]) -> pa.Array:
            return pa.array(np.concatenate(ws) if ws else np.zeros(0, np.int32), type=pa.int32()).cast(pa.date32())

        def persona_col(ps: list[np.ndarray]) -> pa.Array:
            return pc.take(names, pa.array(np.concatenate(ps) if ps else np.zeros(0, np.int64)))

        personas = pa.table({
            "account_id": acc_ids([r[0] for r in self.truth_rows]),
            "week_start": week_col([np.full(len(r[0]), week_arr[r[1]]) for r in self.truth_rows]),
            "persona": persona_col([r[2] for r in self.truth_rows]),
        })
        migrations = pa.table({
            "account_id": acc_ids([r[0] for r in self.migration_rows]),
            "week_start": week_col([np.full(len(r[0]), week_arr[r[1]]) for r in self.migration_rows]),
            "from_persona": persona_col([r[2] for r in self.migration_rows]),
            "to_persona": persona_col([r[3] for r in self.migration_rows]),
        })
        churned = np.flatnonzero(self.acc.churn_week >= 0)
        churn = pa.table({
            "account_id": acc_ids([self.acc.num[churned]]),
            "churn_week": week_col([week_arr[self.acc.churn_week[churned]]]),
        })
        out: dict[str, Path] = {}
        for name, table in (("personas", personas), ("migrations", migrations), ("churn", churn)):
            path = self.truth_dir / f"{name}.parquet"
            _atomic_write(path, partial(_write_parquet, table))
            out[name] = path
        return out


def _iso_array(us: np.ndarray) -> np.ndarray:
    """ISO-8601 with an explicit UTC offset, as the ticket contract asks (``2026-01-05T10:00:00+00:00``)."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="s")
    return np.char.add(text, "+00:00").astype(object)


def _iso_dates(days: np.ndarray) -> list[str]:
    return [(EPOCH + timedelta(days=int(d))).isoformat() for d in days.tolist()]


def _am_email(i: int) -> str:
    first, last = ACCOUNT_MANAGERS[i][1].lower().replace("'", "").split(" ", 1)
    return f"{first}.{last}@example.com"


def simulate(config: SimulationConfig, landing_dir: Path, truth_dir: Path,
             progress: Callable[[str], None] | None = None) -> SimulationResult:
    """Write ``config.weeks`` weeks of landing files plus ground truth; rerunning overwrites the same files.

    Landing: ``product_events/events_<day>.parquet`` (one per UTC day), ``crm_accounts/accounts_<week>.csv``
    and ``support_tickets/tickets_<week>.jsonl``. Truth (evaluation only): ``personas``, ``migrations`` and
    ``churn`` Parquet files in ``truth_dir``, which must not be inside the landing zone.
    """
    landing_dir, truth_dir = Path(landing_dir).resolve(), Path(truth_dir).resolve()
    if truth_dir == landing_dir or truth_dir.is_relative_to(landing_dir):
        raise ValueError("truth_dir must not be inside landing_dir (the pipeline must never read the truth)")
    return _Simulator(config, landing_dir, truth_dir, progress).run()
