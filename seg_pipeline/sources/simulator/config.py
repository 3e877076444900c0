"""What to simulate, what was written, and the clock and random streams every part of the simulation shares."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

EPOCH = date(1970, 1, 1)
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.2, 0.15])  # Mon..Sun


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same config always writes the same bytes."""

    accounts: int = 2000  # accounts alive at the start
    weeks: int = 8
    seed: int = 7
    start: date = date(2026, 1, 5)  # a Monday; week 0 = [start, start+7d)
    events_scale: float = 1.0  # multiplies event volume (benchmarks use it)
    # Sparse activity: each account gets a propensity drawn uniformly in [lo, hi] and has product events only in
    # the weeks its independent weekly draw falls below it. None = every alive account is active every week.
    active_share: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        """Refuse an empty simulation, a start that is not a Monday, or a non-positive event scale."""
        if self.accounts < 1 or self.weeks < 1:
            raise ValueError("accounts and weeks must be >= 1")
        if self.start.weekday() != 0:
            raise ValueError(f"start {self.start} is not a Monday (weeks start on Monday, UTC)")
        if not self.events_scale > 0:
            raise ValueError("events_scale must be > 0")
        if self.active_share is not None:
            lo, hi = self.active_share
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"active_share {self.active_share} must be (lo, hi) with 0 < lo <= hi <= 1")


@dataclass(frozen=True)
class SimulationResult:
    """What was written: week starts, files per source and rows per source."""

    weeks: list[date]
    files: dict[str, list[Path]]
    counts: dict[str, int]
    truth_files: dict[str, Path] = field(default_factory=dict)


def rng(seed: int, *stream: int) -> np.random.Generator:
    """Independent stream per (purpose, week), so changing one volume never reshuffles another.

    Purposes: 0 initial accounts, 1 signups, 2 churn, 3 CRM changes, 4 events, 5 tickets, 6 transitions,
    7 ticket warm-up, 8 activity propensities, 9 weekly activity draws, 10+ export shaping.
    """
    return np.random.default_rng([seed, *stream])


def days(d: date) -> int:
    """Days since the epoch: the simulation's day number."""
    return (d - EPOCH).days


def day_date(day: int) -> date:
    """Return the calendar date of an epoch day."""
    return EPOCH + timedelta(days=int(day))
