"""Ingest policy: when a file is rejected and when a week's volume blocks everything downstream."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IngestConfig:
    """Where the landing files are, and when a file or a week is rejected."""

    landing_dir: Path
    reject_rate: float = 0.2  # a file with a larger quarantined share is rejected as a whole
    volume_drop_threshold: float = 0.5  # week-over-week event drop that blocks the week
