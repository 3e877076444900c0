"""The migration ledger's shape (``monitoring.segment_migrations``) and how its keys compare.

Shared by the ledger's writer (:mod:`segment_moves`), its explanations and ``seg evaluate``, so every reader
agrees on the columns, the kinds, which segment ids are real segments and when two weeks are the same week.
"""

from typing import Any, SupportsInt, TypeGuard

import pandas as pd

LEDGER_COLUMNS = [
    "account_id", "week_start", "from_segment", "to_segment", "from_name", "to_name", "kind", "margin",
    "confirmed", "explanation",
]
KINDS = ("segment", "outlier_enter", "outlier_leave", "micro_change")


def to_week(values: pd.Series) -> pd.Series:
    """Normalize DATE / datetime / tz-aware values to naive midnight timestamps so weeks compare equal."""
    ts = pd.to_datetime(values)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.dt.normalize()


def valid_segment(seg: Any) -> TypeGuard[SupportsInt]:
    """Tell whether ``seg`` is a real segment id: set and >= 0 (negative ids are noise, never a move target)."""
    return seg is not None and not pd.isna(seg) and int(seg) >= 0


def valid_mask(segments: pd.Series) -> pd.Series:
    """:func:`valid_segment` for a whole column."""
    num = pd.to_numeric(segments, errors="coerce")
    return num.notna() & (num >= 0)
