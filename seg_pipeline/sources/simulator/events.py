"""Product events of one week: who is active on which day, how much they do, and one Arrow table per UTC day.

One random stream per week (purpose 4) is drawn in a fixed order — users, active days, then day by day — so
the same config gives the same events.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seg_pipeline.sources.contracts import CONTRACTS, EVENT_TYPES
from seg_pipeline.sources.simulator.accounts import Accounts, working_time_us
from seg_pipeline.sources.simulator.arrays import dict_array, fixed_ids, padded_str
from seg_pipeline.sources.simulator.config import US_PER_DAY, WEEKDAY_WEIGHT, SimulationConfig, day_date, rng
from seg_pipeline.sources.simulator.personas import (
    API,
    C_BREADTH,
    C_DAYS,
    C_EPD,
    C_KEY,
    C_TYPES,
    C_UTIL,
    FEATURES,
    OUTLIER,
)

# Calibrates the average volume to ~100 events per account-week at events_scale=1.
EVENTS_PER_USER_DAY_SCALE = 0.5
FEATURE_USE = EVENT_TYPES.index("feature_use")
EVENT_TYPE_ARRAY = pa.array(EVENT_TYPES, type=pa.string())
FEATURE_ARRAY = pa.array(FEATURES, type=pa.string())
COLUMNS = CONTRACTS["product_events"].names


@dataclass
class _Week:
    """Per-week inputs of the daily draws: active users (rows of ``users_acc``) and per-account rates."""

    users_acc: np.ndarray  # account row of each active user
    active: np.ndarray  # (users, 7) active on weekday d
    epd: np.ndarray  # mean events per user-day, by account
    cum_flat: np.ndarray  # each account's event-type CDF, offset by its row (see _day_table)
    forder: np.ndarray  # adopted features first, by account
    fcount: np.ndarray  # number of adopted features, by account
    week_users: pa.Array  # user ids, one per active user
    is_api: np.ndarray


def feature_mask(acc: Accounts, prof: np.ndarray) -> np.ndarray:
    """Adopted features: a stable latent per account-feature against the (blended) adoption probability."""
    key_p = prof[:, C_KEY]
    other_p = np.clip((prof[:, C_BREADTH] - 4 * key_p) / 8, 0.0, 1.0)
    p = np.concatenate([np.repeat(key_p[:, None], 4, axis=1), np.repeat(other_p[:, None], 8, axis=1)], axis=1)
    mask = acc.latent_features < p
    # anyone who uses features at all uses at least their most likely one
    none = ~mask.any(axis=1)
    mask[none, np.argmin(acc.latent_features[none], axis=1)] = True
    return mask


def week_events(acc: Accounts, config: SimulationConfig, w: int, day0: int, alive: np.ndarray,
                prof: np.ndarray) -> Iterator[tuple[date, pa.Table]]:
    """``(day, events table)`` for each of the 7 days of week ``w``, drawn lazily so writing overlaps drawing."""
    gen = rng(config.seed, 4, w)
    week = _plan_week(gen, acc, config, w, day0, alive, prof)
    for d in range(7):
        day = day0 + d
        yield day_date(day), _day_table(gen, acc, week, d, day)


def _weekly_active_users(gen: np.random.Generator, acc: Accounts, alive: np.ndarray, prof: np.ndarray
                         ) -> np.ndarray:
    """Weekly active users per account: utilisation x seats x trend, capped by a pool of 1.6 x seats."""
    target = prof[:, C_UTIL] * acc.seats * acc.dyn * acc.activity * gen.lognormal(0.0, 0.12, acc.n)
    # stochastic rounding: weekly active users are a steady crowd, not independent arrivals
    wau = np.where(acc.truth == API, acc.n_service, np.floor(target + gen.random(acc.n)).astype(np.int64))
    pool = np.ceil(acc.seats * 1.6).astype(np.int64) + 2
    return np.where(alive, np.minimum(wau, pool), 0)


def _active_days(gen: np.random.Generator, acc: Accounts, users_acc: np.ndarray, w: int, day0: int,
                 prof: np.ndarray) -> np.ndarray:
    """Active days: weekday-heavy Bernoulli per user-day, at least one day, none before signup."""
    days_mean = np.clip(prof[users_acc, C_DAYS] * np.sqrt(acc.dyn[users_acc]), 0.5, 7.0)
    p_day = np.clip(days_mean[:, None] / 7.0 * WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.mean(), 0.0, 1.0)
    active: np.ndarray = gen.random(p_day.shape) < p_day
    none = ~active.any(axis=1)
    active[none, gen.choice(7, int(none.sum()), p=WEEKDAY_WEIGHT / WEEKDAY_WEIGHT.sum())] = True
    active &= (day0 + np.arange(7))[None, :] >= acc.signup_day[users_acc][:, None]
    # the churn week is the last one with events: the account stops mid-week
    churning = acc.churn_week[users_acc] == w
    active &= ~(churning[:, None] & (np.arange(7)[None, :] >= 4))
    return active


def _plan_week(gen: np.random.Generator, acc: Accounts, config: SimulationConfig, w: int, day0: int,
               alive: np.ndarray, prof: np.ndarray) -> _Week:
    n = acc.n
    wau = _weekly_active_users(gen, acc, alive, prof)
    users_acc = np.repeat(np.arange(n), wau)
    starts = np.cumsum(wau) - wau
    users_idx = np.arange(users_acc.size) - np.repeat(starts, wau)
    active = _active_days(gen, acc, users_acc, w, day0, prof)
    epd = prof[:, C_EPD] * np.sqrt(acc.dyn) * acc.activity * EVENTS_PER_USER_DAY_SCALE * config.events_scale
    epd = np.where((acc.truth == OUTLIER) & (acc.outlier_kind == 0), epd * 50, epd)
    types_cum = np.cumsum(prof[:, C_TYPES], axis=1)
    types_cum /= types_cum[:, -1:]
    fmask = feature_mask(acc, prof)
    # weekly user dictionary; each day's file references the users active that day
    week_users = pc.binary_join_element_wise(
        pc.take(pa.array([f"u_{x:06d}_" for x in acc.num.tolist()], type=pa.string()), pa.array(users_acc)),
        padded_str(users_idx, 3), "")
    return _Week(users_acc=users_acc, active=active, epd=epd,
                 cum_flat=(types_cum + np.arange(n)[:, None]).ravel(),
                 forder=np.argsort(~fmask, axis=1, kind="stable"), fcount=fmask.sum(axis=1),
                 week_users=week_users, is_api=acc.truth == API)


def _day_table(gen: np.random.Generator, acc: Accounts, week: _Week, d: int, day: int) -> pa.Table:
    """Generate the events of weekday ``d`` (epoch day ``day``), ordered by time, in the contract's column order."""
    sel = np.flatnonzero(week.active[:, d])
    ua = week.users_acc[sel]
    mean = week.epd[ua]
    # heavy-tailed events per user-day: 1 + gamma-poisson
    n_ev = 1 + gen.poisson(gen.gamma(2.0, np.maximum(mean - 1.0, 0.0) / 2.0 + 1e-9))
    ea = np.repeat(ua, n_ev)
    eu = np.repeat(np.arange(sel.size), n_ev)  # position among the day's active users
    m = ea.size
    # per-account categorical draw without an (events x types) matrix: offset each account's CDF
    etype = np.searchsorted(week.cum_flat, ea + gen.random(m), side="right") - ea * len(EVENT_TYPES)
    etype = np.clip(etype, 0, len(EVENT_TYPES) - 1)
    pick = np.minimum((gen.random(m) * week.fcount[ea]).astype(np.int64), week.fcount[ea] - 1)
    feat = week.forder[ea, np.maximum(pick, 0)]
    ts_ms = (day * US_PER_DAY + working_time_us(gen, m, acc.region[ea], week.is_api[ea])) // 1000
    # events are already ordered by (account, user); a unique key keeps that order among equal times
    order = np.argsort(ts_ms * m + np.arange(m))
    ea, eu, etype, feat, ts_ms = ea[order], eu[order], etype[order], feat[order], ts_ms[order]
    day_accounts, acc_pos = np.unique(ea, return_inverse=True)
    table = pa.table({
        "event_id": fixed_ids(f"evt_{day_date(day):%Y%m%d}_", np.arange(m), 8),
        "account_id": dict_array(acc_pos, fixed_ids("acc_", acc.num[day_accounts], 6)),
        "user_id": dict_array(eu, week.week_users.take(pa.array(sel))),
        "event_type": dict_array(etype, EVENT_TYPE_ARRAY),
        "feature_name": dict_array(feat, FEATURE_ARRAY, null=etype != FEATURE_USE),
        "event_ts": pa.array(ts_ms * 1000, type=pa.timestamp("us", tz="UTC")),
    })
    return table.select(list(COLUMNS))
