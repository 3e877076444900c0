"""CRM history as of a week: pure functions from dated lifecycle and state events to one weekly snapshot.

A CRM often exports a static accounts table (current attributes) plus subscriptions (state at their start),
subscription changes (the full state after each change) and churn events. The landing contract wants one
snapshot per week, taken at the week's END (``docs/contracts.md``): an account is in week ``W`` once it started
before ``W + 7 days``; a churn inside ``W`` keeps it with ``status = churned`` for that week only, after which it
disappears (until a later subscription starts it again). Nothing here reads files, so every rule is unit-tested.
"""

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from seg_pipeline.weeks import ONE_WEEK, week_start_of

START, CHURN = "start", "churn"


@dataclass(frozen=True)
class Interval:
    """One stretch of an account's life: from a start to the churn that ended it (``None`` while active)."""

    start: date
    churn: date | None = None


def lifetimes(events: Iterable[tuple[date, str]]) -> list[Interval]:
    """Turn start/churn events into presence intervals.

    On the same day a churn is applied before a start (a subscription replaced by a new one stays active); a
    churn while already churned, or a start while active, changes nothing (an end date and a churn event for the
    same loss count once).
    """
    out: list[Interval] = []
    since: date | None = None
    for day, kind in sorted(events, key=lambda e: (e[0], e[1] != CHURN)):
        if kind == START and since is None:
            since = day
        elif kind == CHURN and since is not None:
            out.append(Interval(since, day))
            since = None
    if since is not None:
        out.append(Interval(since))
    return out


def status_in_week(intervals: Iterable[Interval], week: date) -> str | None:
    """``active``, ``churned`` (churned inside ``week``) or ``None`` (not yet started, or gone) at the week's end."""
    end = week + ONE_WEEK
    status: str | None = None
    for iv in intervals:
        if iv.start >= end or (iv.churn is not None and iv.churn < week):
            continue
        if iv.churn is None or iv.churn >= end:
            return "active"
        status = "churned"
    return status


class StateTimeline:
    """An account's state (plan, seats, mrr, ...) over time: each change carries the state after it.

    A blank value in a change keeps the previous value, so a change table that only fills the columns it
    changed works as well as one that repeats the full state.
    """

    def __init__(self, changes: Iterable[tuple[date, int, Mapping[str, Any]]]) -> None:
        """Build the timeline from ``(date, order, values)``; ``order`` breaks ties (start before same-day change)."""
        ordered = sorted(changes, key=lambda c: (c[0], c[1]))
        self.dates = [c[0] for c in ordered]
        self.states: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        for _, _, values in ordered:
            current = {**current, **{k: v for k, v in values.items() if v is not None and v != ""}}
            self.states.append(current)

    def as_of(self, cutoff: date) -> tuple[int, dict[str, Any]]:
        """Return (index, state) of the last change strictly before ``cutoff``; ``(-1, {})`` before any."""
        i = bisect_left(self.dates, cutoff) - 1
        return (i, self.states[i]) if i >= 0 else (-1, {})


def week_range(first: date, last: date) -> list[date]:
    """Every Monday from the week of ``first`` to the week of ``last``, inclusive."""
    weeks, week = [], week_start_of(first)
    while week <= last:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks
