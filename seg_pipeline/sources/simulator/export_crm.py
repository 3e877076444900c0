"""The CRM as a billing system exports it: a static accounts table, subscriptions, subscription and churn events.

Built by diffing the weekly CRM snapshots the simulation produces anyway, so replaying the events as of any week's
end gives back that week's snapshot (plan, seats, MRR, churned or not): the importer can be checked against it.
A subscription's start state is its state at the end of the first week it is seen; changes inside that week fold
into it.
"""

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from seg_pipeline.sources.contracts import PLANS, REGIONS
from seg_pipeline.sources.simulator.accounts import INDUSTRIES, Accounts
from seg_pipeline.sources.simulator.arrays import iso_dates
from seg_pipeline.sources.simulator.config import days, rng

# ISO-2 countries per contract region; an account's country is fixed by its number (US weighs 3 in 4 of NA)
COUNTRIES: dict[str, tuple[str, ...]] = {
    "NA": ("US", "US", "US", "CA"), "EMEA": ("DE", "GB", "FR", "NL", "SE", "ES"),
    "APAC": ("JP", "AU", "SG", "IN"), "LATAM": ("BR", "MX", "AR", "CO"),
}
INDUSTRY_LABELS = tuple(i.replace("_", " ").title() for i in INDUSTRIES)
PLAN_TIERS = tuple(p.title() for p in PLANS)
CHURN_REASONS = ("Budget cuts", "Switched to competitor", "Low usage", "Missing features", "Poor support experience",
                 "Company closed")
CHURN_WEEKDAY = 4  # churners stop mid-week: events until Thursday, the churn is dated Friday
SUBSCRIPTION_MODULUS = 999_983  # prime: number -> number * 48271 mod p is a bijection, so ids never collide
_STATE = ["plan", "seats", "mrr"]


def subscription_numbers(account_numbers: np.ndarray) -> np.ndarray:
    """Subscription number of each account number: a fixed shuffle, so joining needs the subscriptions table."""
    nums = np.asarray(account_numbers, dtype=np.int64)
    if nums.size and (nums.min() < 1 or nums.max() >= SUBSCRIPTION_MODULUS):
        raise ValueError(f"account numbers must be in 1..{SUBSCRIPTION_MODULUS - 1} to get a subscription id")
    out: np.ndarray = nums * 48271 % SUBSCRIPTION_MODULUS
    return out


def subscription_ids(account_numbers: np.ndarray) -> list[str]:
    """``sub_000123``-style ids of the accounts' subscriptions."""
    return [f"sub_{x:06d}" for x in subscription_numbers(account_numbers).tolist()]


def _num(account_ids: pd.Index | pd.Series) -> np.ndarray:
    return np.array([int(a[4:]) for a in account_ids], dtype=np.int64)


@dataclass
class CrmHistory:
    """Subscription state per account across the weekly snapshots, and every change as an event."""

    seed: int
    starts: list[pd.DataFrame] = field(default_factory=list)
    events: list[pd.DataFrame] = field(default_factory=list)
    churns: list[pd.DataFrame] = field(default_factory=list)
    latest: pd.DataFrame | None = None  # last snapshot row of every account seen

    def observe(self, w: int, week: date, frame: pd.DataFrame) -> None:
        """Record week ``w``'s snapshot: new subscriptions, state changes, renewals and churns."""
        cur = frame.set_index("account_id")
        day0 = days(week)
        prev = self.latest if self.latest is not None else cur.iloc[:0]
        self.starts.append(cur.loc[cur.index.difference(prev.index)])
        common = cur.index.intersection(prev.index)
        old, new = prev.loc[common, _STATE], cur.loc[common, _STATE]
        moved = common[(old["plan"] != new["plan"]).to_numpy() | (old["seats"] != new["seats"]).to_numpy()]
        churn_day = np.where(cur["status"].to_numpy() == "churned", day0 + CHURN_WEEKDAY, day0 + 6)
        last_day = pd.Series(churn_day, index=cur.index)
        signup = pd.Series([days(date.fromisoformat(s)) for s in cur["signup_date"]], index=cur.index)
        gen = rng(self.seed, 12, w)
        change_day = pd.Series(np.clip(day0 + gen.integers(0, 7, moved.size), signup[moved], last_day[moved]),
                               index=moved, dtype=np.int64)
        kind = np.where(_rank(cur.loc[moved, "plan"]) > _rank(prev.loc[moved, "plan"]), "upgrade",
                        np.where(_rank(cur.loc[moved, "plan"]) < _rank(prev.loc[moved, "plan"]), "downgrade",
                                 "seat_change"))
        self.events.append(_event_rows(cur.loc[moved], change_day, kind))
        self.events.append(self._renewals(cur, prev, signup, last_day, change_day, day0))
        churned = cur.index[cur["status"].to_numpy() == "churned"]
        reasons = np.asarray(CHURN_REASONS, dtype=object)[gen.integers(0, len(CHURN_REASONS), churned.size)]
        self.churns.append(pd.DataFrame({"account_id": churned, "churn_day": last_day[churned].to_numpy(),
                                         "reason": reasons}))
        self.latest = pd.concat([prev.drop(index=cur.index, errors="ignore"), cur])

    @staticmethod
    def _renewals(cur: pd.DataFrame, prev: pd.DataFrame, signup: pd.Series, last_day: pd.Series,
                  change_day: pd.Series, day0: int) -> pd.DataFrame:
        """Yearly renewals (signup + k x 365 days, as the CRM's renewal_date) falling in this week."""
        years = np.maximum(np.ceil((day0 - signup.to_numpy()) / 365), 1)
        when = pd.Series(signup.to_numpy() + years * 365, index=cur.index).astype(np.int64)
        due = cur.index[(when >= day0).to_numpy() & (when <= last_day).to_numpy()]
        state = cur.loc[due].copy()
        # a renewal before this week's change carries the state before it
        before = due[due.isin(change_day.index) & (when[due] < change_day.reindex(due)).to_numpy()]
        state.loc[before, _STATE] = prev.loc[before, _STATE]
        return _event_rows(state, when[due], np.full(due.size, "renewal"))


def _rank(plans: pd.Series) -> np.ndarray:
    return np.array([PLANS.index(p) for p in plans], dtype=np.int64)


def _event_rows(state: pd.DataFrame, day: pd.Series, kind: np.ndarray) -> pd.DataFrame:
    """Subscription events carrying the full state after the change."""
    return pd.DataFrame({
        "account_num": _num(state.index), "event_day": day.reindex(state.index).to_numpy(dtype=np.int64),
        "event_type": kind, "plan": state["plan"].to_numpy(), "seats": state["seats"].to_numpy(),
        "mrr": state["mrr"].to_numpy(),
    })


def crm_tables(history: CrmHistory, acc: Accounts) -> dict[str, pd.DataFrame]:
    """``accounts``, ``subscriptions``, ``subscription_events`` and ``churn_events`` in export shape B."""
    latest = history.latest if history.latest is not None else pd.DataFrame()
    nums = _num(latest.index)
    row = nums - 1  # account numbers are 1-based row positions
    region = acc.region[row]
    accounts = pd.DataFrame({
        "account_id": latest.index, "company_name": latest["account_name"].to_numpy(),
        "industry": np.asarray(INDUSTRY_LABELS, dtype=object)[acc.industry[row]],
        "employee_count": acc.employees[row],
        "country": [COUNTRIES[REGIONS[r]][n % len(COUNTRIES[REGIONS[r]])] for r, n in zip(region, nums, strict=True)],
        "created_date": latest["signup_date"].to_numpy(), "owner_id": latest["account_manager_id"].to_numpy(),
        "owner_name": latest["account_manager_name"].to_numpy(),
        "owner_email": latest["account_manager_email"].to_numpy(),
    }).sort_values("account_id", kind="stable")
    churn = pd.concat(history.churns, ignore_index=True)
    churn_day = pd.Series(churn["churn_day"].to_numpy(), index=churn["account_id"])
    starts = pd.concat(history.starts)
    subs = pd.DataFrame({
        "subscription_id": subscription_ids(_num(starts.index)), "account_id": starts.index,
        "plan_tier": _tiers(starts["plan"]), "seats": starts["seats"].to_numpy(), "mrr_usd": starts["mrr"].to_numpy(),
        "start_date": starts["signup_date"].to_numpy(),
        "end_date": [iso_dates(np.array([churn_day[a]]))[0] if a in churn_day.index else "" for a in starts.index],
    }).sort_values("subscription_id", kind="stable")
    ev = pd.concat(history.events, ignore_index=True).sort_values(["event_day", "account_num"], kind="stable")
    events = pd.DataFrame({
        "subscription_id": subscription_ids(ev["account_num"].to_numpy()),
        "event_date": iso_dates(ev["event_day"].to_numpy()), "event_type": ev["event_type"].to_numpy(),
        "plan_tier": _tiers(ev["plan"]), "seats": ev["seats"].to_numpy(), "mrr_usd": ev["mrr"].to_numpy(),
    })
    churn_events = pd.DataFrame({"account_id": churn["account_id"],
                                 "churn_date": iso_dates(churn["churn_day"].to_numpy()), "reason": churn["reason"]})
    return {"accounts": accounts, "subscriptions": subs, "subscription_events": events,
            "churn_events": churn_events}


def _tiers(plans: pd.Series) -> np.ndarray:
    tiers: np.ndarray = np.asarray(PLAN_TIERS, dtype=object)[_rank(plans)]
    return tiers
