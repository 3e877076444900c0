"""Daily usage rows that land on the same key are summed, not quarantined as conflicting duplicates.

An account with two subscriptions (a main plan and an add-on, or an old and a new one in the week it switched)
exports two rows for the same day and feature; after the join both carry the same account id. They are one
account's usage, so counts and durations add up. ``active_users`` takes the larger of the two: the contract
reads it as a lower bound of the day's distinct users, and users may hold seats on both subscriptions.
A row whose numbers did not parse is never merged: the loader must quarantine it with its reason.
"""

from dataclasses import replace
from typing import Any

from seg_pipeline.sources.mappings.rows import MappedRow

SUMMED = ("usage_count", "duration_seconds")
MAXED = ("active_users",)


def _numeric(row: MappedRow) -> bool:
    return all(row.values.get(c) is None or isinstance(row.values.get(c), int | float)
               for c in (*SUMMED, *MAXED))


def _combine(a: Any, b: Any, op: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return op(a, b)


def merge_usage(rows: list[MappedRow], key: tuple[str, ...]) -> tuple[list[MappedRow], int]:
    """Fold rows with equal ``key`` into the first of them (order kept); returns the rows and how many were folded."""
    out: list[MappedRow] = []
    position: dict[tuple[str, ...], int] = {}  # key -> index in ``out`` of the row others fold into
    for row in rows:
        k = tuple(str(row.values.get(c)) for c in key)
        at = position.get(k)
        if at is None or not (_numeric(out[at]) and _numeric(row)):
            if at is None and _numeric(row):
                position[k] = len(out)
            out.append(row)
            continue
        values = dict(out[at].values)
        for col in SUMMED:
            values[col] = _combine(values.get(col), row.values.get(col), lambda x, y: x + y)
        for col in MAXED:
            values[col] = _combine(values.get(col), row.values.get(col), max)
        out[at] = replace(out[at], values=values)
    return out, len(rows) - len(out)
