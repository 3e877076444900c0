"""TEMPORARY shim while stages move to seg_pipeline.weeks / seg_pipeline.defs.weekly (removed by the refactor)."""

from seg_pipeline.defs.weekly import PARTITION_START, WEEKLY, weekly_check
from seg_pipeline.weeks import parse_week as week_of
from seg_pipeline.weeks import week_start_of, week_window

__all__ = ["PARTITION_START", "WEEKLY", "week_of", "week_start_of", "week_window", "weekly_check"]
