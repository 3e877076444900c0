"""Week partitions: Monday 00:00 UTC, half-open windows, agreeing with DuckDB's ``date_trunc('week', ...)``."""

import re
from datetime import date, datetime, timedelta

import dagster as dg

PARTITION_START = "2026-01-05"  # a Monday; the simulator's default first week
WEEKLY = dg.WeeklyPartitionsDefinition(start_date=PARTITION_START, day_offset=1, timezone="UTC")
_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def week_of(key: str) -> date:
    """Validate a partition key (``YYYY-MM-DD``, a Monday) before it reaches any SQL or path."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"partition key {key!r} is not a date like 2026-01-05")
    day = datetime.strptime(key, "%Y-%m-%d").date()
    if day.weekday() != 0:
        raise ValueError(f"partition key {key} is a {day:%A}; weeks start on Monday")
    return day


def week_window(week_start: date) -> tuple[date, date]:
    return week_start, week_start + timedelta(days=7)


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_check(name: str, *, asset: dg.AssetKey, **kwargs: object) -> dg.AssetCheckSpec:
    """A check spec evaluated per week, so the UI shows each week's result against its partition."""
    return dg.AssetCheckSpec(name, asset=asset, partitions_def=WEEKLY, **kwargs)  # type: ignore[arg-type]
