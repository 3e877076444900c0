"""One export record → one contract row (or the reason it is skipped/rejected), tallying coercions in the report."""

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from seg_pipeline.sources.contracts import FEATURE_NAMES
from seg_pipeline.sources.mappings.kinds import DEFAULT_KIND, KindClassifier
from seg_pipeline.sources.mappings.model import SourceMapping
from seg_pipeline.sources.mappings.report import SourceReport
from seg_pipeline.sources.mappings.targets import USAGE, contract_for
from seg_pipeline.sources.mappings.values import ColumnMapper, as_text, get_path, parse_date, parse_number, parse_ts

# The timestamp that picks a row's landing file, per source (CRM rows go to the snapshot of a given week).
PLACEMENT = {"product_events": "event_ts", "support_tickets": "updated_at", USAGE: "usage_date"}
# Same floor as the loader: earlier timestamps are broken clocks, and would only create stray 1970 landing files.
TS_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class MappedRow:
    """Contract values of one export record, and the timestamp that picks its landing file."""

    values: dict[str, Any]
    placed: datetime | None  # the timestamp that picks the landing file (events, tickets)
    origin: int = -1  # which export row it came from (a per-ticket row expands into two), for counting


class RowMapper:
    """Turns one export record into contract values, recording coercions and unmapped values in the report."""

    def __init__(self, mapping: SourceMapping, report: SourceReport, now: datetime,
                 window: tuple[datetime, datetime] | None) -> None:
        """Map with ``mapping`` into ``report``; ``window`` (when set) keeps only rows placed inside it."""
        self.mapping = mapping
        self.now = now
        self.window = window
        self.contract = contract_for(mapping.source)
        self.kinds = KindClassifier(mapping.feature_kinds)
        self.report = report
        self.tz = ZoneInfo(mapping.time_zone)
        # the simulator's feature names stay the events' conventional vocabulary (an open one: others are kept)
        conventional = {"feature_name": FEATURE_NAMES} if mapping.source == "product_events" else {}
        self.columns = {
            col.name: ColumnMapper(col, mapping.columns.get(col.name, ()), mapping.values.get(col.name, {}),
                                   mapping.defaults.get(col.name), conventional.get(col.name, ()))
            for col in self.contract.columns
        }

    def map(self, record: Mapping[str, Any]) -> tuple[MappedRow | None, str | None]:
        """Map one row to (mapped row, None) or (None, skip/reject reason); tallies only count rows that are written."""
        out: dict[str, Any] = {}
        states: dict[str, str] = {}
        for name, mapper in self.columns.items():
            out[name], states[name] = mapper.map(record)
        coerced: list[str] = []
        unmapped: list[tuple[str, str]] = []
        source = self.mapping.source
        if source == "product_events":
            skip = self._event_rules(record, out, states, coerced)
            if skip:
                return None, skip
        self._settle_states(out, states, coerced, unmapped)
        if source == "support_tickets" and self.mapping.one_row_per_ticket:
            out["status"] = "open"  # the first of the rows the importer derives (see tickets.expand_ticket)
        elif source == "support_tickets":
            self._ticket_rules(out, coerced)
        elif source == USAGE:
            out["event_type"] = DEFAULT_KIND if out["feature_name"] is None else self.kinds.kind_of(out["feature_name"])
        placed: datetime | None = None
        reason = self._parse_typed(out, unmapped)
        if reason is None:
            placed, reason = self._place(out)
        if reason is not None:
            return None, reason
        self.report.coerced.update(coerced)
        if source == USAGE and out["feature_name"] is not None:
            self.report.feature_kinds.setdefault(out["event_type"], set()).add(out["feature_name"])
        for name, value in unmapped:
            self.report.unmapped.setdefault(name, Counter())[value] += 1
        return MappedRow(out, placed), None

    def _settle_states(self, out: dict[str, Any], states: dict[str, str], coerced: list[str],
                       unmapped: list[tuple[str, str]]) -> None:
        """Unmapped values stay verbatim (the loader quarantines them), except nullable labels; defaults count."""
        for name, state in states.items():
            col = self.contract.column(name)
            if state == "unmapped":
                unmapped.append((name, str(out[name])))
                if col.nullable and col.allowed is not None:
                    # a nullable label we cannot place (a Zendesk "task") must not cost the whole ticket
                    coerced.append(f"unmapped_to_null:{name}")
                    out[name] = None
            elif state == "default":
                coerced.append(f"default:{name}")

    def _parse_typed(self, out: dict[str, Any], unmapped: list[tuple[str, str]]) -> str | None:
        """Parse numbers, dates and timestamps in place; an unparseable placement timestamp rejects the row."""
        key = PLACEMENT.get(self.mapping.source)
        for col in self.contract.columns:
            value = out[col.name]
            if value is None or col.dtype == "VARCHAR":
                continue
            fmt = self.mapping.formats.get(col.name)
            parsed: Any
            if col.dtype == "TIMESTAMPTZ":
                parsed = parse_ts(value, self.tz, fmt)
            elif col.dtype == "DATE":
                parsed = parse_date(value, self.tz, fmt)
            else:
                parsed = parse_number(value, col.dtype == "BIGINT")
            if parsed is None:
                if col.name == key:
                    return f"cast_error:{key}"  # cannot tell which landing file it belongs in
                unmapped.append((col.name, str(value)))
                continue  # verbatim: the loader quarantines it as cast_error:<col>
            out[col.name] = parsed
        return None

    def _place(self, out: dict[str, Any]) -> tuple[datetime | None, str | None]:
        """(placement timestamp, None), or (None, why the row cannot be placed / is outside the week)."""
        key = PLACEMENT.get(self.mapping.source)
        if key is None:
            return None, None
        placed = out[key]
        if placed is None:
            return None, f"null_key:{key}"
        if isinstance(placed, str):  # a DATE column (usage_date): its day starts at midnight UTC
            placed = datetime.fromisoformat(placed).replace(tzinfo=UTC)
        if not TS_FLOOR <= placed <= self.now:
            return None, "ts_out_of_range"
        if self.window is not None and not self.window[0] <= placed < self.window[1]:
            return None, "outside_week"
        return placed, None

    def _event_rules(self, record: Mapping[str, Any], out: dict[str, Any], states: dict[str, str],
                     coerced: list[str]) -> str | None:
        names = [as_text(get_path(record, p)) for p in self.mapping.columns.get("event_type", ())]
        if any(n is not None and n in self.mapping.ignore_events for n in names):
            return "ignored_event"
        if states["event_type"] == "unmapped" and self.mapping.unmapped_events == "skip":
            return "unmapped_event_type"
        kind, _, feature = (out["event_type"] or "").partition(":")
        if states["event_type"] == "ok" and feature:
            out["event_type"], out["feature_name"], states["feature_name"] = kind, feature, "ok"
        elif kind != "feature_use" and out["feature_name"] is not None:
            out["feature_name"], states["feature_name"] = None, "null"  # contract: set only for feature_use
        if out["event_id"] is None:
            digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode(), usedforsecurity=False)
            out["event_id"] = f"evt_{digest.hexdigest()[:20]}"
            coerced.append("derived:event_id")
        return None

    def _ticket_rules(self, out: dict[str, Any], coerced: list[str]) -> None:
        """Contract: resolved_at is null while open, csat only on solved/closed tickets."""
        if out["status"] in ("open", "pending"):
            for name in ("resolved_at", "csat"):
                if out[name] is not None:
                    out[name] = None
                    coerced.append(f"null_while_open:{name}")
