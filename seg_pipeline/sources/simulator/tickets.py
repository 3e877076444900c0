"""Support tickets: each ticket is drawn once with its whole planned timeline, then exported week by week.

A week's file holds one row per ticket that changed that week (created, pending, solved or closed), with its
status as of its last change — the shape of a helpdesk's incremental export.
"""

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from seg_pipeline.sources.contracts import CONTRACTS, TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_STATUSES
from seg_pipeline.sources.simulator.accounts import Accounts, working_time_us
from seg_pipeline.sources.simulator.arrays import fixed_ids, iso_timestamps
from seg_pipeline.sources.simulator.config import US_PER_DAY, US_PER_HOUR, SimulationConfig, days, rng
from seg_pipeline.sources.simulator.personas import C_CSAT, C_P1, C_SLOW, C_STALL, C_TICKETS, OUTLIER, PROFILE

OPEN, PENDING, SOLVED, CLOSED = TICKET_STATUSES
COLUMNS = CONTRACTS["support_tickets"].names
# Ticket category mix by persona (rows) in the contract's TICKET_CATEGORIES order.
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
RESOLUTION_MEDIAN_H = np.array([4.0, 12.0, 30.0, 60.0])  # by TICKET_PRIORITIES
CLOSE_AFTER_H = 72.0
# A company has support history before the first exported week: tickets raised in these earlier weeks are still
# being worked (and show up as updates) in week 0, so week-0 backlog and resolution times are not artificially empty.
TICKET_WARMUP_WEEKS = 6


@dataclass
class TicketLog:
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

    @property
    def next_number(self) -> int:
        """Tickets are numbered 1, 2, ... in creation order."""
        return 1 + sum(len(a) for a in self.num)

    def arrays(self) -> dict[str, np.ndarray]:
        """Each timeline column over all tickets so far."""
        out = {}
        for f in fields(self):
            parts: list[np.ndarray] = getattr(self, f.name)
            out[f.name] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return out


def warm_up(log: TicketLog, acc: Accounts, config: SimulationConfig) -> None:
    """Tickets of the weeks before the start, from each account's starting persona (never written as files)."""
    start = days(config.start)
    prof = PROFILE[acc.persona_from]
    for k in range(TICKET_WARMUP_WEEKS, 0, -1):
        day0 = start - 7 * k
        raise_tickets(log, acc, rng(config.seed, 7, k), -k, day0, acc.signup_day < day0 + 7, prof)


def _ticket_accounts(gen: np.random.Generator, acc: Accounts, alive: np.ndarray, prof: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(account row of each new ticket, whether the account is a P1 storm outlier)."""
    ramp = np.clip(1.0 / acc.dyn, 1.0, 3.0) ** 0.7  # declining and onboarding accounts ask for more help
    mean = prof[:, C_TICKETS] * (acc.seats / 15.0) ** 0.3 * acc.ticket_re * ramp
    count = gen.poisson(gen.gamma(4.0, mean / 4.0 + 1e-12))
    storm = (acc.truth == OUTLIER) & (acc.outlier_kind == 1)
    count = np.where(storm, 30 + gen.poisson(3.0, acc.n), count)
    count = np.where(alive, count, 0)
    return np.repeat(np.arange(acc.n), count), storm


def raise_tickets(log: TicketLog, acc: Accounts, gen: np.random.Generator, w: int, day0: int, alive: np.ndarray,
                  prof: np.ndarray) -> None:
    """Draw week ``w``'s new tickets (creation, priority, category, resolution, CSAT) into ``log``."""
    ta, storm = _ticket_accounts(gen, acc, alive, prof)
    m = ta.size
    if m == 0:
        return
    first_day = np.clip(acc.signup_day[ta] - day0, 0, 6)
    # churners raise tickets only before they leave mid-week
    last_day = np.where((acc.churn_week[ta] == w) & (w >= 0), 3, 6)
    first_day = np.minimum(first_day, last_day)
    day = first_day + np.floor(gen.random(m) * (last_day - first_day + 1)).astype(np.int64)
    created = (day0 + day) * US_PER_DAY + working_time_us(gen, m, acc.region[ta], np.zeros(m, bool))
    created -= created % 1_000_000
    p1 = np.where(storm[ta], 1.0, prof[ta, C_P1])
    prio = np.where(gen.random(m) < p1, 0, 1 + gen.choice(3, m, p=[0.25, 0.45, 0.30]))
    cat_cum = np.cumsum(CATEGORY_MIX[acc.truth[ta]], axis=1)
    category = np.minimum((gen.random(m)[:, None] > cat_cum).sum(axis=1), len(TICKET_CATEGORIES) - 1)
    hours = RESOLUTION_MEDIAN_H[prio] * prof[ta, C_SLOW] * gen.lognormal(0.0, 0.7, m)
    hours = np.where(gen.random(m) < prof[ta, C_STALL], hours * 8.0, hours)
    hours = np.maximum(hours, 0.25)
    resolved = created + (hours * US_PER_HOUR).astype(np.int64)
    resolved -= resolved % 1_000_000
    pending = np.where(hours > 8.0, created + (np.minimum(hours * 0.3, 24.0) * US_PER_HOUR).astype(np.int64),
                       -1)
    pending = np.where(pending > 0, pending - pending % 1_000_000, -1)
    closed = resolved + int(CLOSE_AFTER_H * US_PER_HOUR)
    score = np.rint(gen.normal(prof[ta, C_CSAT] - 0.15 * (prio == 0) - 0.1 * np.log1p(hours / 24), 0.8))
    csat = np.where(gen.random(m) < 0.6, np.clip(score, 1, 5), 0).astype(np.int64)
    first = log.next_number
    for name, values in (("num", np.arange(first, first + m)), ("account", acc.num[ta]), ("created", created),
                         ("pending", pending), ("resolved", resolved), ("closed", closed), ("priority", prio),
                         ("category", category), ("csat", csat)):
        getattr(log, name).append(values)


def week_jsonl(log: TicketLog, acc: Accounts, start_day: int, day0: int) -> str:
    """Render the JSON lines of the week starting on ``day0``: tickets that changed, ordered by last change then id."""
    t = log.arrays()
    if not t["num"].size:
        return ""
    i, upd = _changed_in_week(t, acc, start_day, day0)
    res = t["resolved"][i]
    solved = (res >= 0) & (res <= upd)
    closed = (t["closed"][i] >= 0) & (t["closed"][i] <= upd)
    pending = (t["pending"][i] >= 0) & (t["pending"][i] <= upd)
    status = np.where(closed, CLOSED, np.where(solved, SOLVED, np.where(pending, PENDING, OPEN)))
    csat = pd.array(t["csat"][i], dtype="Int64")
    csat[~solved | (t["csat"][i] <= 0)] = pd.NA
    resolved_at = iso_timestamps(np.where(solved, res, 0))
    resolved_at[~solved] = None
    frame = pd.DataFrame({
        "ticket_id": fixed_ids("tkt_", t["num"][i], 7).to_pandas(),
        "account_id": fixed_ids("acc_", t["account"][i], 6).to_pandas(),
        "created_at": iso_timestamps(t["created"][i]),
        "updated_at": iso_timestamps(upd),
        "resolved_at": resolved_at,
        "priority": np.asarray(TICKET_PRIORITIES, dtype=object)[t["priority"][i]],
        "category": np.asarray(TICKET_CATEGORIES, dtype=object)[t["category"][i]],
        "status": status.astype(object),
        "csat": csat,
    })[list(COLUMNS)]
    return frame.to_json(orient="records", lines=True) if len(frame) else ""


def _changed_in_week(t: dict[str, np.ndarray], acc: Accounts, start_day: int, day0: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(ticket positions changed in the week, their last change in it), ordered by that change then number.

    Updates this drops (a churned account's tickets stop changing when it leaves) are removed from ``t``.
    """
    lo, hi = day0 * US_PER_DAY, (day0 + 7) * US_PER_DAY
    churn_week = acc.churn_week[t["account"] - 1]  # account numbers are 1-based row positions
    cutoff = np.where(churn_week >= 0, (start_day + 7 * (churn_week + 1)) * US_PER_DAY, np.iinfo(np.int64).max)
    changes = np.stack([t["created"], t["pending"], t["resolved"], t["closed"]])
    changes = np.where(changes < cutoff, changes, -1)
    t["pending"], t["resolved"], t["closed"] = changes[1], changes[2], changes[3]
    in_week = (changes >= lo) & (changes < hi)
    touched = np.flatnonzero(in_week.any(axis=0))
    last = np.where(in_week[:, touched], changes[:, touched], -1).max(axis=0)
    order = np.lexsort((t["num"][touched], last))
    return touched[order], last[order]
