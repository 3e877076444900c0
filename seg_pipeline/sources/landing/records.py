"""The JSON text kept in ``raw.quarantine.record``: what the file said, so a quarantined row can be inspected."""

import json
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

MAX_RECORD_CHARS = 10_000


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types; non-finite floats and unknown objects become text, never an error."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def dumps(obj: Any) -> str:
    """Serialise a quarantined record as JSON (non-ASCII kept readable)."""
    return json.dumps(jsonable(obj), ensure_ascii=False)


def line_record(raw: bytes) -> str:
    """Keep a line that could not be parsed as (bounded, lossless-ish) text."""
    return dumps({"line": raw[:MAX_RECORD_CHARS].decode("utf-8", errors="backslashreplace")})


def frame_records(frame: pd.DataFrame) -> Callable[[np.ndarray], list[str]]:
    """Build records of the rows at given positions, only for the rows that are quarantined."""

    def records(pos: np.ndarray) -> list[str]:
        sub = frame.iloc[pos]
        return [dumps(dict(zip(sub.columns, row, strict=True))) for row in sub.itertuples(index=False)]

    return records
