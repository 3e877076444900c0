"""Monitoring policy: when a move counts as confirmed, when moves are too many to deliver, when drift retrains."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MigrationConfig:
    """When a segment move counts as confirmed, and how many confirmed moves block the sinks."""

    hysteresis_weeks: int = 2  # weeks in the new segment before a move is confirmed
    confirm_margin: float = 1.0  # ... or a margin this decisive confirms it at once
    mass_migration_threshold: float = 0.15  # confirmed-move rate that blocks the sinks
    sinks_override: bool = False  # deliberately deliver a week above the threshold


@dataclass(frozen=True)
class DriftConfig:
    """Where the drift reports go, and the seed of their sampling."""

    reports_dir: Path
    seed: int = 7
