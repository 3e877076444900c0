"""A helpdesk export with one row per ticket → the contract's update rows (one per create/resolve).

The contract keys tickets by ``(ticket_id, updated_at)``: each week sees the tickets created or updated in it,
with the state as of that update. A static export (``created_at``, ``resolved_at``, no ``updated_at``) still
says two updates happened: the ticket was opened at ``created_at`` and, when ``resolved_at`` is set, solved then.
The satisfaction score belongs to the solved row only (it is given on resolution).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from seg_pipeline.sources.mappings.rows import TS_FLOOR, MappedRow


def expand_ticket(row: MappedRow, now: datetime) -> tuple[list[MappedRow], list[str]]:
    """Return the open row and, when resolved by ``now``, the solved row; plus the coercions to count."""
    values = row.values
    created, resolved, csat = values["created_at"], values["resolved_at"], values["csat"]
    opened = {**values, "updated_at": created, "status": "open", "resolved_at": None, "csat": None}
    rows = [MappedRow(opened, created, row.origin)]
    coerced: list[str] = []
    if isinstance(resolved, datetime) and TS_FLOOR <= resolved <= now:
        solved = {**values, "updated_at": resolved, "status": "solved", "resolved_at": resolved, "csat": csat}
        rows.append(MappedRow(solved, resolved, row.origin))
    elif resolved is not None:
        coerced.append("no_solved_row:resolved_at_unreadable_or_future")
    elif csat is not None:
        coerced.append("null_while_open:csat")
    return rows, coerced


def in_window(rows: Sequence[MappedRow], window: tuple[datetime, datetime] | None) -> list[MappedRow]:
    """Keep the derived rows placed inside ``window`` (all of them without one)."""
    if window is None:
        return list(rows)
    return [r for r in rows if r.placed is not None and window[0] <= r.placed < window[1]]


def clip_to_span(rows: Sequence[MappedRow], start: datetime, end: datetime) -> tuple[list[MappedRow], int]:
    """Keep the update rows inside ``[start, end)``: the weeks with product activity, the ones `seg run` runs.

    A ticket still open or pending at ``start`` keeps its state: its latest earlier row is carried to ``start``
    (``created_at`` unchanged, so "opened this week" stays right and the open backlog is complete). Returns the
    kept rows and how many were carried.
    """
    inside = [r for r in rows if r.placed is not None and start <= r.placed < end]
    at_start = {r.values["ticket_id"] for r in inside if r.placed == start}
    latest: dict[Any, MappedRow] = {}
    for r in rows:
        if r.placed is not None and r.placed < start:
            seen = latest.get(r.values["ticket_id"])
            if seen is None or (seen.placed is not None and seen.placed <= r.placed):
                latest[r.values["ticket_id"]] = r
    carried = [MappedRow({**r.values, "updated_at": start}, start, r.origin) for key, r in latest.items()
               if r.values["status"] in ("open", "pending") and key not in at_start]
    return carried + inside, len(carried)
