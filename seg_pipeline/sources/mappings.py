"""Bring your own data: map common SaaS exports onto the landing contracts, configured in one YAML file.

Users rarely have files in our landing shape; they have a Segment/Amplitude/Mixpanel event export, a Salesforce or
HubSpot account export and a Zendesk or Intercom ticket export. :func:`import_exports` turns those into
contract-shaped landing files, so :func:`seg_pipeline.sources.landing.load_week` stays the only place that
validates and quarantines. The importer only translates: names, values, event types, time zones, epochs.

Nothing is lost silently. Every export row is exactly one of

- **written** to a landing file — values that did not map are kept verbatim, so the loader quarantines them with
  its own reason (``out_of_domain:event_type``) and the record shows what the export said;
- **rejected** — the row cannot be placed in any landing file (malformed line, no parseable timestamp); it goes
  to ``import_rejects/<source>.jsonl`` with a reason;
- **skipped** — deliberately not imported (``ignore_events``, ``unmapped_events: skip``, outside ``week_start``).

``SourceReport.reconciled`` checks ``in = written + rejected + skipped``.
"""

import csv
import gzip
import hashlib
import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from seg_pipeline.sources.contracts import (
    EVENT_TYPES,
    FEATURE_NAMES,
    SOURCES,
    Column,
    Contract,
    get_contract,
    validate_week_key,
)

__all__ = [
    "PRESETS",
    "ImportReport",
    "MappingConfig",
    "MappingError",
    "SourceMapping",
    "SourceReport",
    "import_exports",
    "load_mapping",
    "parse_mapping",
]

REJECTS_DIR = "import_rejects"
UNMAPPED_EVENTS = ("keep", "skip")
FILE_FORMATS = ("csv", "json", "jsonl")
# Bands used by the simulator and the dashboards; a numeric head-count export is bucketed onto them.
EMPLOYEE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000"),
)
EMPLOYEE_BAND_TOP = "5000+"

_SOURCE_KEYS = frozenset({
    "preset", "input", "format", "columns", "values", "defaults", "formats", "time_zone",
    "event_types", "feature_from", "ignore_events", "unmapped_events",
})
_EVENT_ONLY_KEYS = ("event_types", "feature_from", "ignore_events", "unmapped_events")
_SKIP_REASONS = ("ignored_event", "unmapped_event_type", "outside_week")
_PLACEMENT = {"product_events": "event_ts", "support_tickets": "updated_at"}
_NUMERIC_TEXT = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
_CURRENCY = re.compile(r"^[$€£¥]\s*|\s*(USD|EUR|GBP)$", re.IGNORECASE)
_EPOCH_MS = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)
_EPOCH_US = 1e14
# Same floor as the loader: earlier timestamps are broken clocks, and would only create stray 1970 landing files.
TS_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)

# Country (ISO alpha-2 or common English name, case-insensitive) -> the region labels the simulator uses.
_COUNTRY_REGION: dict[str, str] = {}
for _region, _names in {
    "NA": ("us", "usa", "united states", "united states of america", "ca", "canada"),
    "LATAM": ("mx", "mexico", "br", "brazil", "ar", "argentina", "cl", "chile", "co", "colombia", "pe", "peru"),
    "EMEA": ("gb", "uk", "united kingdom", "ie", "ireland", "de", "germany", "fr", "france", "es", "spain",
             "it", "italy", "nl", "netherlands", "be", "belgium", "ch", "switzerland", "at", "austria",
             "se", "sweden", "no", "norway", "dk", "denmark", "fi", "finland", "pl", "poland", "pt", "portugal",
             "il", "israel", "ae", "united arab emirates", "za", "south africa", "ng", "nigeria", "eg", "egypt"),
    "APAC": ("au", "australia", "nz", "new zealand", "jp", "japan", "cn", "china", "in", "india", "sg",
             "singapore", "kr", "south korea", "hk", "hong kong", "id", "indonesia", "ph", "philippines"),
}.items():
    _COUNTRY_REGION.update(dict.fromkeys(_names, _region))

# Event names that mean the same thing in most tracking plans; a config's event_types extends/overrides them.
_COMMON_EVENT_TYPES: dict[str, str] = {
    "Signed In": "login", "Logged In": "login", "User Logged In": "login", "Login": "login",
    "session_start": "login", "Feature Used": "feature_use", "API Call": "api_call", "API Request": "api_call",
    "Export": "export", "Exported": "export", "Data Exported": "export",
    "Invite Sent": "invite", "User Invited": "invite", "Invited User": "invite",
}

# Built-in presets: the column paths of each export (a list = first non-empty wins; "a.b" also walks JSON objects).
PRESETS: dict[str, dict[str, Any]] = {
    "segment": {
        "source": "product_events",
        "columns": {
            "event_id": ["messageId", "message_id"],
            "account_id": ["context.groupId", "properties.account_id", "context.traits.account_id"],
            "user_id": ["userId", "user_id", "anonymousId"],
            "event_type": ["event"],
            "feature_name": ["properties.feature"],
            "event_ts": ["timestamp", "originalTimestamp", "sentAt"],
        },
        "event_types": _COMMON_EVENT_TYPES,
    },
    "amplitude": {
        "source": "product_events",
        "columns": {
            "event_id": ["$insert_id", "uuid"],
            "account_id": ["groups.account", "user_properties.account_id", "event_properties.account_id"],
            "user_id": ["user_id", "device_id"],
            "event_type": ["event_type"],
            "feature_name": ["event_properties.feature"],
            "event_ts": ["event_time"],  # naive "2026-01-05 10:00:00.123000", UTC
        },
        "event_types": _COMMON_EVENT_TYPES,
        "time_zone": "UTC",
    },
    "mixpanel": {
        "source": "product_events",
        "columns": {
            "event_id": ["properties.$insert_id"],
            "account_id": ["properties.account_id", "properties.$groups.account_id"],
            "user_id": ["properties.distinct_id", "properties.$user_id"],
            "event_type": ["event"],
            "feature_name": ["properties.feature"],
            "event_ts": ["properties.time"],  # epoch seconds (ms in newer exports; both detected)
        },
        "event_types": _COMMON_EVENT_TYPES,
    },
    "salesforce": {
        "source": "crm_accounts",
        "columns": {
            "account_id": ["Id"],
            "account_name": ["Name"],
            "industry": ["Industry"],
            "employee_band": ["NumberOfEmployees"],
            "region": ["Region__c", "BillingCountry"],
            "plan": ["Plan__c"],
            "seats": ["Seats__c"],
            "mrr": ["MRR__c"],
            "signup_date": ["CreatedDate"],
            "renewal_date": ["Renewal_Date__c"],
            "account_manager_id": ["OwnerId"],
            "account_manager_name": ["Owner.Name"],
            "account_manager_email": ["Owner.Email"],
            "status": ["Status__c", "IsDeleted"],
        },
        "values": {
            "status": {"Active": "active", "Customer": "active", "Churned": "churned", "Cancelled": "churned",
                       "Canceled": "churned", "true": "churned", "false": "active"},
        },
    },
    "hubspot": {
        "source": "crm_accounts",
        "columns": {
            "account_id": ["Record ID"],
            "account_name": ["Company name"],
            "industry": ["Industry"],
            "employee_band": ["Number of Employees"],
            "region": ["Region", "Country/Region"],
            "plan": ["Plan"],
            "seats": ["Seats"],
            "mrr": ["MRR"],
            "signup_date": ["Create Date"],
            "renewal_date": ["Renewal Date"],
            "account_manager_id": ["Company owner ID", "HubSpot Owner ID", "Company owner"],
            "account_manager_name": ["Company owner"],
            "account_manager_email": ["Company owner email", "Owner email"],
            "status": ["Lifecycle Stage"],
        },
        "values": {
            "status": {"customer": "active", "evangelist": "active", "churned": "churned",
                       "former customer": "churned"},
        },
    },
    "zendesk": {
        "source": "support_tickets",
        "columns": {
            "ticket_id": ["id"],
            "account_id": ["organization.external_id", "external_account_id", "organization_id"],
            "created_at": ["created_at"],
            "updated_at": ["updated_at"],
            "resolved_at": ["solved_at", "metric_set.solved_at"],
            "priority": ["priority"],
            "category": ["tags", "type"],
            "status": ["status"],
            "csat": ["satisfaction_rating.score"],
        },
        "values": {
            "priority": {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"},
            "status": {"new": "open", "open": "open", "pending": "pending", "hold": "pending",
                       "solved": "solved", "closed": "closed"},
            "category": {"problem": "bug", "incident": "bug", "question": "how_to", "howto": "how_to",
                         "bug": "bug", "billing": "billing", "invoice": "billing", "integration": "integration",
                         "api": "integration", "performance": "performance", "slow": "performance",
                         "feature_request": "feature_request", "feature-request": "feature_request"},
            "csat": {"good": 5, "bad": 1, "offered": None, "unoffered": None},
        },
    },
    "intercom": {
        "source": "support_tickets",
        "columns": {
            "ticket_id": ["id"],
            "account_id": ["company_id", "custom_attributes.account_id", "companies.companies.id"],
            "created_at": ["created_at"],
            "updated_at": ["updated_at"],
            "resolved_at": ["statistics.last_close_at"],
            "priority": ["priority"],
            "category": ["custom_attributes.category", "custom_attributes.Category"],
            "status": ["state"],
            "csat": ["conversation_rating.rating"],
        },
        "values": {
            "priority": {"priority": "P2", "not_priority": "P3"},
            "status": {"open": "open", "snoozed": "pending", "closed": "closed"},
        },
    },
}


class MappingError(ValueError):
    """A mapping file or an export is unusable as configured; the message names the file and the key."""


# --------------------------------------------------------------------------------------------- config


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


@dataclass(frozen=True)
class MappingConfig:
    """A validated mapping file: one :class:`SourceMapping` per configured source."""

    sources: Mapping[str, SourceMapping]
    path: Path | None = None


def load_mapping(path: Path | str) -> MappingConfig:
    """Read and validate a mapping YAML file (``SEG_MAPPINGS``); errors name the file and the offending key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read mapping file: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError(f"{path}: invalid YAML{where}: {problem}") from exc
    return parse_mapping(doc, origin=str(path), path=path)


def parse_mapping(doc: Any, *, origin: str = "<mapping>", path: Path | None = None) -> MappingConfig:
    """Validate an already-parsed mapping document (what :func:`load_mapping` does after YAML)."""
    if not isinstance(doc, dict) or not doc:
        raise MappingError(f"{origin}: expected a mapping with at least one of {', '.join(SOURCES)}")
    version = doc.get("version", 1)
    if version != 1:
        raise MappingError(f"{origin}: version: unsupported mapping version {version!r}; expected 1")
    sources: dict[str, SourceMapping] = {}
    for key, spec in doc.items():
        if key == "version":
            continue
        if key not in SOURCES:
            raise MappingError(f"{origin}: {key}: unknown source; expected one of {', '.join(SOURCES)}")
        sources[key] = _parse_source(key, spec, origin)
    if not sources:
        raise MappingError(f"{origin}: no source configured; expected one of {', '.join(SOURCES)}")
    return MappingConfig(sources=sources, path=path)


def _fail(origin: str, key: str, problem: str) -> MappingError:
    return MappingError(f"{origin}: {key}: {problem}")


def _paths(value: Any, origin: str, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p for p in items):
        raise _fail(origin, key, "expected an export column name or a list of them")
    return tuple(items)


def _str_map(value: Any, origin: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(origin, key, f"expected a mapping, got {type(value).__name__}")
    return {_text(k) or "": v for k, v in value.items()}


def _parse_source(source: str, spec: Any, origin: str) -> SourceMapping:
    contract = get_contract(source)
    if not isinstance(spec, dict):
        raise _fail(origin, source, f"expected a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _SOURCE_KEYS)
    if unknown:
        raise _fail(origin, f"{source}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(_SOURCE_KEYS))}")
    if source != "product_events":
        for key in _EVENT_ONLY_KEYS:
            if key in spec:
                raise _fail(origin, f"{source}.{key}", "only applies to product_events")

    preset_name = spec.get("preset")
    preset: dict[str, Any] = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise _fail(origin, f"{source}.preset", f"unknown preset {preset_name!r}; expected one of "
                        f"{', '.join(n for n, p in PRESETS.items() if p['source'] == source)}")
        preset = PRESETS[preset_name]
        if preset["source"] != source:
            raise _fail(origin, f"{source}.preset", f"preset {preset_name!r} maps {preset['source']}, not {source}")

    input_glob = spec.get("input")
    if not isinstance(input_glob, str) or not input_glob.strip():
        raise _fail(origin, f"{source}.input", "required: a glob of export files relative to the import directory")
    if Path(input_glob).is_absolute() or ".." in Path(input_glob).parts:
        raise _fail(origin, f"{source}.input", f"{input_glob!r} must be relative and stay inside the import directory")

    fmt = spec.get("format")
    if fmt is not None and fmt not in FILE_FORMATS:
        raise _fail(origin, f"{source}.format", f"{fmt!r}; expected one of {', '.join(FILE_FORMATS)}")

    columns: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in preset.get("columns", {}).items()}
    for col, paths in _str_map(spec.get("columns", {}), origin, f"{source}.columns").items():
        _check_column(contract, col, origin, f"{source}.columns.{col}")
        columns[col] = _paths(paths, origin, f"{source}.columns.{col}")
    if "feature_from" in spec:
        columns["feature_name"] = _paths(spec["feature_from"], origin, f"{source}.feature_from")

    values: dict[str, dict[str, Any]] = {k: dict(v) for k, v in preset.get("values", {}).items()}
    for col, vmap in _str_map(spec.get("values", {}), origin, f"{source}.values").items():
        _check_column(contract, col, origin, f"{source}.values.{col}")
        parsed = _str_map(vmap, origin, f"{source}.values.{col}")
        for export_value, target in parsed.items():
            _check_target(contract.column(col), target, origin, f"{source}.values.{col}.{export_value}")
        values.setdefault(col, {}).update(parsed)

    if source == "product_events":
        event_map = dict(preset.get("event_types", {}))
        for name, target in _str_map(spec.get("event_types", {}), origin, f"{source}.event_types").items():
            if not _valid_event_target(target):
                raise _fail(origin, f"{source}.event_types.{name}",
                            f"{target!r} is not an event type; expected one of {', '.join(EVENT_TYPES)} "
                            f"or feature_use:<feature> with a feature in {', '.join(FEATURE_NAMES)}")
            event_map[name] = target
        values["event_type"] = {**event_map, **values.get("event_type", {})}

    defaults = _str_map(spec.get("defaults", {}), origin, f"{source}.defaults")
    for col, value in defaults.items():
        _check_column(contract, col, origin, f"{source}.defaults.{col}")
        _check_target(contract.column(col), value, origin, f"{source}.defaults.{col}")

    formats = _str_map(spec.get("formats", {}), origin, f"{source}.formats")
    for col, fmt_text in formats.items():
        _check_column(contract, col, origin, f"{source}.formats.{col}")
        if contract.column(col).dtype not in ("DATE", "TIMESTAMPTZ") or not isinstance(fmt_text, str):
            raise _fail(origin, f"{source}.formats.{col}", "a strptime format for a date/timestamp column")

    time_zone = spec.get("time_zone", preset.get("time_zone", "UTC"))
    try:
        ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(origin, f"{source}.time_zone", f"unknown time zone {time_zone!r} (use an IANA name)") from None

    ignore = spec.get("ignore_events", [])
    if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
        raise _fail(origin, f"{source}.ignore_events", "expected a list of export event names")
    unmapped = spec.get("unmapped_events", "keep")
    if unmapped not in UNMAPPED_EVENTS:
        raise _fail(origin, f"{source}.unmapped_events", f"{unmapped!r}; expected one of {', '.join(UNMAPPED_EVENTS)}")

    for required in contract.columns:
        name = required.name
        if not required.nullable and name not in columns and name not in defaults \
                and name != "event_id":  # a missing event id is derived from the record
            raise _fail(origin, f"{source}.columns.{name}",
                        f"required contract column has no mapping (set columns.{name} or defaults.{name})")
    return SourceMapping(
        source=source, input=input_glob, preset=preset_name, format=fmt, columns=columns, values=values,
        defaults=defaults, formats=formats, time_zone=str(time_zone), ignore_events=frozenset(ignore),
        unmapped_events=unmapped,
    )


def _check_column(contract: Contract, col: str, origin: str, key: str) -> None:
    if col not in contract.names:
        raise _fail(origin, key, f"unknown contract column {col!r}; expected one of {', '.join(contract.names)}")


def _check_target(col: Column, target: Any, origin: str, key: str) -> None:
    if target is None:
        if not col.nullable:
            raise _fail(origin, key, f"{col.name} may not be null")
        return
    if col.allowed is not None and str(target) not in col.allowed:
        raise _fail(origin, key, f"{target!r} is not a valid {col.name}; expected one of {', '.join(col.allowed)}")


def _valid_event_target(target: Any) -> bool:
    if not isinstance(target, str):
        return False
    kind, _, feature = target.partition(":")
    return kind in EVENT_TYPES and (not feature or (kind == "feature_use" and feature in FEATURE_NAMES))


# --------------------------------------------------------------------------------------------- report


@dataclass
class SourceReport:
    """One source's import: counts that reconcile, reasons, and what was written where."""

    source: str
    files_read: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    rows_in: int = 0
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # rejected + skipped rows by reason
    coerced: Counter[str] = field(default_factory=Counter)  # written rows changed on purpose (nulling, defaults)
    unmapped: dict[str, Counter[str]] = field(default_factory=dict)  # column -> verbatim value -> rows
    weeks: set[date] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        """``in = written + rejected + skipped``: the import's no-silent-loss invariant."""
        return self.rows_in == self.written + self.rejected + self.skipped


@dataclass
class ImportReport:
    """Everything :func:`import_exports` did, for the CLI and for asset metadata."""

    sources: dict[str, SourceReport]
    landing_dir: Path

    @property
    def reconciled(self) -> bool:
        return all(r.reconciled for r in self.sources.values())

    @property
    def weeks(self) -> list[date]:
        """Weeks that received landing files: the partitions to (re)materialize."""
        return sorted(set().union(*(r.weeks for r in self.sources.values())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``seg import --json`` and asset metadata."""
        return {
            "landing_dir": str(self.landing_dir),
            "reconciled": self.reconciled,
            "weeks": [w.isoformat() for w in self.weeks],
            "sources": {
                name: {
                    "files_read": r.files_read, "files_written": r.files_written, "rejects_file": r.rejects_file,
                    "rows_in": r.rows_in, "written": r.written, "rejected": r.rejected, "skipped": r.skipped,
                    "reasons": dict(sorted(r.reasons.items())), "coerced": dict(sorted(r.coerced.items())),
                    "warnings": r.warnings,
                }
                for name, r in self.sources.items()
            },
        }

    def summary(self) -> str:
        """Human-readable lines for ``seg import``."""
        lines = []
        for r in self.sources.values():
            lines.append(f"{r.source}: {r.rows_in} in = {r.written} written + {r.rejected} rejected + "
                         f"{r.skipped} skipped ({len(r.files_read)} file(s) read, {len(r.files_written)} written)")
            lines += [f"  {reason}: {n}" for reason, n in sorted(r.reasons.items())]
            lines += [f"  coerced {what}: {n}" for what, n in sorted(r.coerced.items())]
            lines += [f"  warning: {w}" for w in r.warnings]
        if self.weeks:
            lines.append("weeks: " + ", ".join(w.isoformat() for w in self.weeks))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- reading


@dataclass
class _Row:
    file: str
    row: int
    record: dict[str, Any] | None
    raw: str | None = None  # the undecodable / unparseable text, for the rejects file
    reason: str | None = None


def _input_files(mapping: SourceMapping, import_dir: Path) -> list[Path]:
    root = import_dir.resolve()
    out = []
    for path in sorted(import_dir.glob(mapping.input)):
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise MappingError(f"{mapping.source}.input: {path} resolves outside the import directory; refusing it")
        if resolved.is_file():
            out.append(path)
    return out


def _file_format(path: Path, configured: str | None) -> str:
    if configured:
        return configured
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext == ".json":
        return "json"
    raise MappingError(f"{path.name}: cannot tell the format from the extension; set format: csv|json|jsonl")


def _read_rows(path: Path, rel: str, fmt: str) -> Iterator[_Row]:
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            yield _Row(rel, 0, None, raw=f"cannot gunzip: {exc}", reason="unparseable_file")
            return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield _Row(rel, 0, None, raw=f"not UTF-8: {exc}", reason="unparseable_file")
        return
    if fmt == "csv":
        yield from _read_csv(text, rel)
    elif fmt == "json":
        yield from _read_json(text, rel)
    else:
        yield from _read_jsonl(text, rel)


def _read_csv(text: str, rel: str) -> Iterator[_Row]:
    lines = text.splitlines()
    if not lines:
        return
    header_line = lines[0]
    delim = max((",", ";", "\t", "|"), key=lambda d: len(next(csv.reader([header_line], delimiter=d))))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except (csv.Error, StopIteration):
        yield _Row(rel, 1, None, raw=header_line, reason="unparseable_file")
        return
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield _Row(rel, start, None, raw=lines[start - 1] if start - 1 < len(lines) else "",
                       reason="malformed_line")
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield _Row(rel, start, None, raw=delim.join(fields), reason="malformed_line")
            continue
        yield _Row(rel, start, dict(zip(header, fields, strict=True)))


def _read_jsonl(text: str, rel: str) -> Iterator[_Row]:
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            yield _Row(rel, i, obj)
        else:
            yield _Row(rel, i, None, raw=line, reason="malformed_line")


def _read_json(text: str, rel: str) -> Iterator[_Row]:
    """A JSON array, or an object wrapping one list (``{"tickets": [...]}``); JSON lines named .json also work."""
    try:
        doc = json.loads(text)
    except ValueError:
        yield from _read_jsonl(text, rel)  # Amplitude and Mixpanel name JSON-lines files .json
        return
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        doc = lists[0] if len(lists) == 1 else [doc]
    if not isinstance(doc, list):
        yield _Row(rel, 0, None, raw=text[:200], reason="unparseable_file")
        return
    for i, obj in enumerate(doc, start=1):
        if isinstance(obj, dict):
            yield _Row(rel, i, obj)
        else:
            yield _Row(rel, i, None, raw=json.dumps(obj, default=str)[:2000], reason="malformed_line")


# --------------------------------------------------------------------------------------------- values


def _get(record: Mapping[str, Any], path: str) -> Any:
    """``record[path]``, else walk dotted parts through nested objects (``properties.feature``)."""
    if path in record:
        return record[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        sub = record.get(head)
        if isinstance(sub, dict):
            found = _get(sub, ".".join(parts[i:]))
            if found is not None:
                return found
        elif isinstance(sub, list):  # e.g. Intercom companies.companies.id: first element that has it
            for item in sub:
                if isinstance(item, dict) and (found := _get(item, ".".join(parts[i:]))) is not None:
                    return found
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    text = str(value).strip()
    return text or None


def _normalise(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


class _ColumnMapper:
    """Maps one contract column: coalesce the configured paths, apply the value map, check the domain."""

    def __init__(self, col: Column, paths: tuple[str, ...], vmap: Mapping[str, Any], default: Any) -> None:
        self.col = col
        self.paths = paths
        self.exact = dict(vmap)
        self.folded = {k.casefold(): v for k, v in vmap.items()}
        self.default = default

    def _one(self, value: Any) -> tuple[Any, bool, bool]:
        """(mapped value, valid, explicitly nulled by the value map)."""
        text = _text(value)
        if text is None:
            return None, False, False
        for table, key in ((self.exact, text), (self.folded, text.casefold())):
            if key in table:
                target = table[key]
                return (None, True, True) if target is None else (_text(target), True, False)
        name = self.col.name
        if name == "employee_band" and _NUMERIC_TEXT.fullmatch(text):
            return _band(float(text)), True, False
        if name == "region" and text.casefold() in _COUNTRY_REGION:
            return _COUNTRY_REGION[text.casefold()], True, False
        if self.col.allowed is None:
            return text, True, False
        if text in self.col.allowed:
            return text, True, False
        norm = _normalise(text)
        if norm in self.col.allowed:
            return norm, True, False
        return text, False, False

    def map(self, record: Mapping[str, Any]) -> tuple[Any, str]:
        """(value, state) with state ``ok``, ``null``, ``nulled``, ``default`` or ``unmapped`` (value verbatim)."""
        first_bad: Any = None
        nulled = False
        for path in self.paths:
            raw = _get(record, path)
            items = raw if isinstance(raw, list) else [raw]
            for item in items:
                value, ok, explicit_null = self._one(item)
                if ok and not explicit_null:
                    return value, "ok"
                nulled |= explicit_null
                if value is not None and first_bad is None:
                    first_bad = value
        if first_bad is not None:
            return first_bad, "unmapped"
        if nulled:
            return None, "nulled"
        if self.default is not None:
            return _text(self.default), "default"
        return None, "null"


def _band(n: float) -> str:
    for top, label in EMPLOYEE_BANDS:
        if n <= top:
            return label
    return EMPLOYEE_BAND_TOP


def _parse_ts(text: str | None, tz: ZoneInfo, fmt: str | None) -> datetime | None:
    """Epoch seconds/ms/us, ISO-8601 with or without offset (naive = ``tz``), or ``fmt``; UTC out."""
    if text is None:
        return None
    try:
        if fmt:
            ts = datetime.strptime(text, fmt)
        elif _NUMERIC_TEXT.fullmatch(text):
            n = float(text)
            n = n / 1e6 if abs(n) >= _EPOCH_US else n / 1e3 if abs(n) >= _EPOCH_MS else n
            return datetime.fromtimestamp(n, UTC)
        else:
            ts = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=tz)
    return ts.astimezone(UTC)


def _parse_date(text: str | None, tz: ZoneInfo, fmt: str | None) -> str | None:
    if text is None:
        return None
    if not fmt and _NUMERIC_TEXT.fullmatch(text):  # epoch (HubSpot exports dates as epoch ms via the API)
        ts = _parse_ts(text, tz, None)
        return None if ts is None else ts.astimezone(tz).date().isoformat()
    if fmt:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            return None
        return (parsed.astimezone(tz) if parsed.tzinfo else parsed).date().isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed.astimezone(tz) if parsed.tzinfo else parsed).date().isoformat()


def _parse_number(text: str | None, integer: bool) -> int | float | None:
    if text is None:
        return None
    cleaned = _CURRENCY.sub("", text).strip()
    if _THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    if not _NUMERIC_TEXT.fullmatch(cleaned):
        return None
    value = float(cleaned)
    if integer:
        return int(value) if value.is_integer() else None
    return value


# --------------------------------------------------------------------------------------------- mapping rows


@dataclass
class _Mapped:
    values: dict[str, Any]
    placed: datetime | None  # the timestamp that picks the landing file (events, tickets)


class _RowMapper:
    """Turns one export record into contract values, recording coercions and unmapped values in the report."""

    def __init__(self, mapping: SourceMapping, report: SourceReport, now: datetime,
                 window: tuple[datetime, datetime] | None) -> None:
        self.mapping = mapping
        self.now = now
        self.window = window
        self.contract = get_contract(mapping.source)
        self.report = report
        self.tz = ZoneInfo(mapping.time_zone)
        self.columns = {
            col.name: _ColumnMapper(col, mapping.columns.get(col.name, ()), mapping.values.get(col.name, {}),
                                    mapping.defaults.get(col.name))
            for col in self.contract.columns
        }

    def map(self, record: Mapping[str, Any]) -> tuple[_Mapped | None, str | None]:
        """(mapped row, None) or (None, skip/reject reason); report tallies only count rows that are written."""
        out: dict[str, Any] = {}
        states: dict[str, str] = {}
        coerced: list[str] = []
        unmapped: list[tuple[str, str]] = []
        for name, mapper in self.columns.items():
            out[name], states[name] = mapper.map(record)
        source = self.mapping.source
        if source == "product_events":
            skip = self._event_rules(record, out, states, coerced)
            if skip:
                return None, skip
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
        if source == "support_tickets":
            self._ticket_rules(out, coerced)
        key = _PLACEMENT.get(source)
        for col in self.contract.columns:
            value = out[col.name]
            if value is None or col.dtype == "VARCHAR":
                continue
            fmt = self.mapping.formats.get(col.name)
            parsed: Any
            if col.dtype == "TIMESTAMPTZ":
                parsed = _parse_ts(value, self.tz, fmt)
            elif col.dtype == "DATE":
                parsed = _parse_date(value, self.tz, fmt)
            else:
                parsed = _parse_number(value, col.dtype == "BIGINT")
            if parsed is None:
                if col.name == key:
                    return None, f"cast_error:{key}"  # cannot tell which landing file it belongs in
                unmapped.append((col.name, str(value)))
                continue  # verbatim: the loader quarantines it as cast_error:<col>
            out[col.name] = parsed
        placed: datetime | None = None
        if key is not None:
            if out[key] is None:
                return None, f"null_key:{key}"
            placed = out[key]
            if not TS_FLOOR <= placed <= self.now:
                return None, "ts_out_of_range"
            if self.window is not None and not self.window[0] <= placed < self.window[1]:
                return None, "outside_week"
        self.report.coerced.update(coerced)
        for name, value in unmapped:
            self.report.unmapped.setdefault(name, Counter())[value] += 1
        return _Mapped(out, placed), None

    def _event_rules(self, record: Mapping[str, Any], out: dict[str, Any], states: dict[str, str],
                     coerced: list[str]) -> str | None:
        names = [_text(_get(record, p)) for p in self.mapping.columns.get("event_type", ())]
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


# --------------------------------------------------------------------------------------------- writing


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write beside the target, then rename: a crash never leaves a half-written landing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _monday(ts: datetime) -> date:
    day = ts.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _iso_ts(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def _write_events(rows: list[_Mapped], contract: Contract, landing: Path) -> list[str]:
    by_day: dict[date, list[_Mapped]] = {}
    for r in rows:
        assert r.placed is not None
        by_day.setdefault(r.placed.date(), []).append(r)
    written = []
    for day, group in sorted(by_day.items()):
        group.sort(key=lambda r: (r.placed, str(r.values["event_id"])))
        columns: dict[str, pa.Array] = {}
        for col in contract.columns:
            vals = [r.values[col.name] for r in group]
            if col.dtype == "TIMESTAMPTZ":
                columns[col.name] = pa.array(vals, type=pa.timestamp("us", tz="UTC"))
            else:
                columns[col.name] = pa.array([_text(v) for v in vals], type=pa.string())
        rel = contract.file_name(day)
        table = pa.table(columns)
        _atomic_write(landing / rel, partial(_write_parquet, table))
        written.append(rel)
    return written


def _write_tickets(rows: list[_Mapped], contract: Contract, landing: Path) -> list[str]:
    by_week: dict[date, list[_Mapped]] = {}
    for r in rows:
        assert r.placed is not None
        by_week.setdefault(_monday(r.placed), []).append(r)
    written = []
    for week, group in sorted(by_week.items()):
        group.sort(key=lambda r: (r.placed, str(r.values["ticket_id"])))
        text = "".join(
            json.dumps({c: _iso_ts(r.values[c]) for c in contract.names}, ensure_ascii=False) + "\n" for r in group
        )
        rel = contract.file_name(week)
        _atomic_write(landing / rel, partial(_write_text, text))
        written.append(rel)
    return written


def _write_crm(rows: list[_Mapped], contract: Contract, landing: Path, week: date) -> list[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(contract.names)
    for r in rows:
        writer.writerow(["" if r.values[c] is None else _text(r.values[c]) for c in contract.names])
    rel = contract.file_name(week)
    _atomic_write(landing / rel, lambda p: p.write_text(buf.getvalue(), encoding="utf-8", newline="\n"))
    return [rel]


def _write_rejects(rejects: list[dict[str, Any]], source: str, landing: Path) -> str:
    rel = f"{REJECTS_DIR}/{source}.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rejects)
    _atomic_write(landing / rel, lambda p: p.write_text(text, encoding="utf-8", newline="\n"))
    return rel


# --------------------------------------------------------------------------------------------- import


def import_exports(
    config: MappingConfig,
    import_dir: Path,
    landing_dir: Path,
    *,
    week_start: date | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Read every configured export under ``import_dir`` and write contract-shaped landing files.

    Events land in one Parquet file per UTC day, tickets in one JSONL file per week of ``updated_at``, the CRM
    export in the snapshot CSV of ``week_start`` (without it: the latest week this import wrote events or tickets
    for). With ``week_start``, events and tickets outside that week are skipped and counted. A landing file this
    import writes is replaced whole; others are untouched. Unplaceable rows go to
    ``landing_dir/import_rejects/<source>.jsonl`` (rewritten on every import of that source), including rows
    whose placement timestamp is before 2000 or after ``now`` (default: the current UTC time).
    """
    if week_start is not None:
        week_start = validate_week_key(week_start.isoformat())
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    import_dir, landing = Path(import_dir), Path(landing_dir).resolve()
    if not import_dir.is_dir():
        raise MappingError(f"import directory {import_dir} does not exist")
    reports: dict[str, SourceReport] = {}
    # CRM last: without week_start its snapshot week comes from the activity imported alongside it
    for source in sorted(config.sources, key=lambda s: s == "crm_accounts"):
        mapping = config.sources[source]
        report = SourceReport(source=source)
        reports[source] = report
        snapshot_week = week_start
        if source == "crm_accounts" and snapshot_week is None:
            activity = set().union(*(r.weeks for r in reports.values()))
            if not activity:
                raise MappingError("crm_accounts: cannot tell which week the snapshot belongs to; pass week_start "
                                   "(or import product_events / support_tickets in the same run)")
            snapshot_week = max(activity)
        _import_source(mapping, import_dir, landing, week_start, snapshot_week, now, report)
    return ImportReport(sources=reports, landing_dir=landing)


def _import_source(mapping: SourceMapping, import_dir: Path, landing: Path, week_start: date | None,
                   snapshot_week: date | None, now: datetime, report: SourceReport) -> None:
    contract = get_contract(mapping.source)
    files = _input_files(mapping, import_dir)
    if not files:
        report.warnings.append(f"no export file matches {mapping.input!r} under {import_dir}")
    kept: list[_Mapped] = []
    rejects: list[dict[str, Any]] = []
    window = (None if week_start is None else
              (datetime.combine(week_start, datetime.min.time(), UTC),
               datetime.combine(week_start + timedelta(days=7), datetime.min.time(), UTC)))
    mapper = _RowMapper(mapping, report, now, window)
    for path in files:
        rel = path.relative_to(import_dir).as_posix()
        report.files_read.append(rel)
        fmt = _file_format(path, mapping.format)
        for row in _read_rows(path, rel, fmt):
            report.rows_in += 1
            if row.record is None:
                bad = row.reason or "malformed_line"
                rejects.append({"file": rel, "row": row.row, "reason": bad, "record": row.raw})
                report.rejected += 1
                report.reasons[bad] += 1
                continue
            mapped, reason = mapper.map(row.record)
            if mapped is None:
                why = reason or "unmapped"
                report.reasons[why] += 1
                if why in _SKIP_REASONS:
                    report.skipped += 1
                else:
                    rejects.append({"file": rel, "row": row.row, "reason": why, "record": row.record})
                    report.rejected += 1
                continue
            kept.append(mapped)
    if kept:
        if mapping.source == "product_events":
            report.files_written = _write_events(kept, contract, landing)
        elif mapping.source == "support_tickets":
            report.files_written = _write_tickets(kept, contract, landing)
        else:
            assert snapshot_week is not None
            report.files_written = _write_crm(kept, contract, landing, snapshot_week)
        report.written = len(kept)
        report.weeks = {_monday(r.placed) for r in kept if r.placed is not None}
        if snapshot_week is not None and mapping.source == "crm_accounts":
            report.weeks = {snapshot_week}
    if rejects:
        report.rejects_file = _write_rejects(rejects, mapping.source, landing)
    else:
        stale = landing / REJECTS_DIR / f"{mapping.source}.jsonl"
        stale.unlink(missing_ok=True)  # rewritten per import: an old rejects file would mislead
    for name, values in sorted(report.unmapped.items()):
        col = contract.column(name)
        top = ", ".join(f"{v!r} ×{n}" for v, n in values.most_common(5))
        if col.nullable and col.allowed is not None:
            report.warnings.append(f"{name}: {sum(values.values())} unmapped value(s) set to null: {top}")
        elif col.dtype != "VARCHAR":
            report.warnings.append(
                f"{name}: {sum(values.values())} value(s) do not parse as {col.dtype} ({top}); kept verbatim, the "
                f"loader will quarantine those rows as cast_error:{name} (set formats.{name} for odd dates)"
            )
        else:
            report.warnings.append(
                f"{name}: {sum(values.values())} value(s) kept verbatim because they do not map ({top}); the loader "
                f"will quarantine those rows — add them to the mapping's values/event_types"
            )
