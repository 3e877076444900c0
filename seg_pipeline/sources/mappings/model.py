"""A validated mapping: what the importer needs per source, with the preset already merged in."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Column path under which a join's looked-up value is handed to the row mapper (not a valid export header).
JOIN_PREFIX = "@join:"


@dataclass(frozen=True)
class Lookup:
    """A keyed export table other sources join against (``lookups:`` in the mapping file)."""

    name: str
    input: str
    key: str
    format: str | None = None


@dataclass(frozen=True)
class Join:
    """Fill contract column ``column`` with ``lookup[row[via]][take]``; an unmatched key rejects the row."""

    column: str
    lookup: str
    via: tuple[str, ...]
    take: str


@dataclass(frozen=True)
class KindRule:
    """One ``feature_kinds`` pattern: exact name, glob (``*?[``) or ``re:<regex>``, all case-insensitive."""

    kind: str
    pattern: str


@dataclass(frozen=True)
class HistoryTable:
    """One CRM history export: which columns carry the keys, the dates and the state it sets."""

    input: str
    format: str | None = None
    id: str | None = None  # subscriptions: the subscription id column
    account: tuple[str, ...] = ()
    subscription: tuple[str, ...] = ()
    date: tuple[str, ...] = ()  # subscriptions: start; changes/churn: the event date
    end: tuple[str, ...] = ()  # subscriptions only
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # contract column -> export paths
    date_format: str | None = None


@dataclass(frozen=True)
class CrmHistory:
    """Static accounts table + subscriptions (initial state) + change events + churn events."""

    subscriptions: HistoryTable
    changes: HistoryTable | None = None
    churn: HistoryTable | None = None

    def tables(self) -> dict[str, HistoryTable]:
        """Return the configured tables by role, in the order they are read."""
        found = {"subscriptions": self.subscriptions, "changes": self.changes, "churn": self.churn}
        return {role: t for role, t in found.items() if t is not None}


@dataclass(frozen=True)
class SourceMapping:
    """How one export becomes one landing source; the preset is already merged in."""

    source: str
    input: str
    preset: str | None = None
    format: str | None = None  # csv | json | jsonl; None = from the file extension
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    time_zone: str = "UTC"
    ignore_events: frozenset[str] = frozenset()
    unmapped_events: str = "keep"
    joins: tuple[Join, ...] = ()
    feature_kinds: tuple[KindRule, ...] = ()  # product_usage: feature name -> event_type
    history: CrmHistory | None = None  # crm_accounts: build weekly snapshots from change events
    one_row_per_ticket: bool = False  # support_tickets: derive the open/solved update rows


@dataclass(frozen=True)
class MappingConfig:
    """A validated mapping file: one :class:`SourceMapping` per configured source, and the shared lookups."""

    sources: Mapping[str, SourceMapping]
    path: Path | None = None
    lookups: Mapping[str, Lookup] = field(default_factory=dict)
