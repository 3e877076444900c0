"""Ingest policy: when a file is rejected and when a week's volume blocks everything downstream."""

from dataclasses import dataclass
from pathlib import Path

from seg_pipeline.sources.contracts import KEY_FEATURES


@dataclass(frozen=True)
class IngestConfig:
    """Where the landing files are, and when a file or a week is rejected."""

    landing_dir: Path
    reject_rate: float = 0.2  # a file with a larger quarantined share is rejected as a whole
    volume_drop_threshold: float = 0.5  # week-over-week activity drop (events + daily usage) that blocks the week
    orphan_max_share: float = 0.2  # share of a feed's rows for accounts unknown to the CRM above which it blocks
    key_features: tuple[str, ...] = KEY_FEATURES  # () = pick the top-N features by usage
    key_features_top_n: int = 4  # key features when none of the configured names occurs

    def __post_init__(self) -> None:
        """Refuse settings no week could run with, naming the variable to fix."""
        if not 0.0 <= self.orphan_max_share <= 1.0:
            raise ValueError(f"SEG_ORPHAN_MAX_SHARE={self.orphan_max_share} must be within [0, 1], e.g. 0.2")
        if self.key_features_top_n < 1:
            raise ValueError(f"SEG_KEY_FEATURES_TOP_N={self.key_features_top_n} must be at least 1, e.g. 4")
