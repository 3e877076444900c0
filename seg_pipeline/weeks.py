"""The project's one notion of a week: Monday 00:00 UTC, half-open window ``[start, start + 7 days)``.

Dagster-free, so pure code, the CLI and the wiring validate week keys the same way, before a key reaches any
path or SQL. DuckDB's ``date_trunc('week', ts)`` agrees with :func:`week_start_of` (ISO weeks start on Monday).
"""

import re
from datetime import date, datetime, timedelta

_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only
ONE_WEEK = timedelta(days=7)


def parse_week(value: str | date | datetime) -> date:
    """Parse a week start given as ``YYYY-MM-DD``, date or datetime; raise ``ValueError`` unless it is a Monday."""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and _KEY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"week {value!r} is not a calendar date: {exc}") from None
    else:
        raise ValueError(f"week {value!r} is not a date like 2026-01-05")
    if day.weekday() != 0:
        monday = week_start_of(day)
        raise ValueError(f"week {day.isoformat()} is a {day:%A}; weeks start on Monday (try {monday.isoformat()})")
    return day


def week_start_of(day: date) -> date:
    """Return the Monday that starts the week containing ``day``."""
    return day - timedelta(days=day.weekday())


def week_window(week_start: date) -> tuple[date, date]:
    """Return the half-open window ``[week_start, week_start + 7 days)``."""
    return week_start, week_start + ONE_WEEK


def previous_week(week_start: date) -> date:
    """Return the Monday one week before ``week_start``."""
    return week_start - ONE_WEEK
