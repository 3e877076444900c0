"""Which weeks exist: the calendar comes from the landed data, not from a fixed start date or from today.

A week exists when the landing zone holds at least one file the raw stage would read for it (the file names of
the source contracts carry the day or the week). Weeks before ``SEG_FIRST_WEEK`` (or before 2000) are left out
with a note, so old partial history can be ignored without deleting it. Dagster-free: the CLI, the run path and
the Monday schedule all ask this module.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.weeks import ONE_WEEK, parse_week, week_start_of

EARLIEST_WEEK = date(2000, 1, 3)  # the first Monday of 2000: older dates are treated as typos, not history
_SHOW_ALL_UP_TO = 6  # describe_weeks lists this many weeks one by one, a range beyond
ACCOUNTS_SOURCE = "crm_accounts"  # a week without it has nobody to segment


@dataclass(frozen=True)
class LandedWeeks:
    """The weeks that have landing files, in order, plus notes on files that were left out and why."""

    weeks: list[date]
    notes: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """The weeks as partition keys (``YYYY-MM-DD``)."""
        return [w.isoformat() for w in self.weeks]


def first_week_setting(raw: str | None) -> date | None:
    """Validate ``SEG_FIRST_WEEK``: empty means "from the first landed week", else a Monday from 2000-01-03 on."""
    if raw is None or not raw.strip():
        return None
    try:
        week = parse_week(raw.strip())
    except ValueError as exc:
        raise ValueError(f"SEG_FIRST_WEEK={raw!r}: {exc}") from None
    if week < EARLIEST_WEEK:
        raise ValueError(f"SEG_FIRST_WEEK={raw!r} is before {EARLIEST_WEEK}, the earliest week the pipeline takes")
    return week


def _file_days(landing_dir: Path) -> dict[str, list[tuple[str, date]]]:
    """Per source: ``(relative path, date in the name)`` of every file matching the contract's name pattern."""
    out: dict[str, list[tuple[str, date]]] = {}
    for source, contract in CONTRACTS.items():
        folder, _, pattern = contract.file_glob.rpartition("/")
        name = re.compile(re.escape(pattern).replace(r"\*", r"(\d{4}-\d{2}-\d{2})") + r"\Z")
        found: list[tuple[str, date]] = []
        directory = landing_dir / folder
        for path in sorted(directory.glob(pattern)) if directory.is_dir() else []:
            m = name.match(path.name)
            if m is None:
                continue
            try:
                found.append((f"{folder}/{path.name}", date.fromisoformat(m.group(1))))
            except ValueError:
                continue  # e.g. events_2026-02-30.parquet: reported by _misnamed
        out[source] = found
    return out


def landed_weeks(landing_dir: Path, first_week: date | None = None) -> LandedWeeks:
    """Scan the landing zone's file names; return the weeks from ``first_week`` (or the first landed) to the last.

    Only weeks that have files are returned (a gap stays a gap); a weekly file not named by its Monday is
    reported, because the raw stage would never read it.
    """
    weeks: set[date] = set()
    notes: list[str] = []
    floor = max(first_week or EARLIEST_WEEK, EARLIEST_WEEK)
    ignored: set[date] = set()
    with_accounts: set[date] = set()
    for source, files in _file_days(Path(landing_dir)).items():
        cadence = CONTRACTS[source].cadence
        for rel, day in files:
            if cadence == "week" and day.weekday() != 0:
                notes.append(f"{rel} is not named by a Monday, so no week reads it (rename it to "
                             f"{rel.replace(day.isoformat(), week_start_of(day).isoformat())})")
                continue
            week = week_start_of(day)
            (weeks if week >= floor else ignored).add(week)
            if source == ACCOUNTS_SOURCE:
                with_accounts.add(week)
    if ignored:
        why = f"SEG_FIRST_WEEK={first_week}" if first_week and first_week > EARLIEST_WEEK else f"{EARLIEST_WEEK}"
        notes.append(f"ignored {len(ignored)} landed week(s) before {why} ({describe_weeks(sorted(ignored))})")
    if no_accounts := sorted(weeks - with_accounts):
        notes.append(f"{len(no_accounts)} week(s) have files but no {ACCOUNTS_SOURCE} snapshot, so no account to "
                     f"segment ({describe_weeks(no_accounts)}); land their CRM snapshot, or set SEG_FIRST_WEEK past "
                     "them")
    return LandedWeeks(sorted(weeks), notes)


def describe_weeks(weeks: list[date] | list[str]) -> str:
    """Say which weeks exist in a few words: the list when short, else first .. last, count and gaps."""
    days = sorted(parse_week(w) for w in weeks)
    if not days:
        return "none"
    if len(days) <= _SHOW_ALL_UP_TO:
        return ", ".join(d.isoformat() for d in days)
    span = (days[-1] - days[0]) // ONE_WEEK + 1
    gaps = f", {span - len(days)} without files in between" if span > len(days) else ""
    return f"{days[0]} .. {days[-1]} ({len(days)} weeks{gaps})"


def closed_week(moment: datetime) -> date:
    """Return the last week that has fully ended at ``moment`` (on Monday 06:00: the week that closed at 00:00)."""
    return week_start_of(moment.date()) - timedelta(days=7)
