"""The mapping file and the shipped presets as pydantic models: structure, types and the contract vocabulary.

pydantic checks the shape (keys, types, enums); the ``model_validator``s check it against the landing contracts
(column names, allowed values, required columns). :func:`validate_document` turns the first problem into one
:class:`MappingError` sentence, ``<file>: <dotted.key>: <problem>; <fix>``, so a user never sees a pydantic dump.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from seg_pipeline.sources.contracts import EVENT_TYPES, FEATURE_NAMES, Column, Contract
from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.model import (
    JOIN_PREFIX,
    CrmHistory,
    HistoryTable,
    Join,
    KindRule,
    Lookup,
    SourceMapping,
)
from seg_pipeline.sources.mappings.targets import IMPORT_SOURCES, USAGE
from seg_pipeline.sources.mappings.targets import contract_for as get_contract
from seg_pipeline.sources.mappings.values import as_text

EVENT_ONLY_KEYS = ("event_types", "feature_from", "ignore_events", "unmapped_events")

Doc = TypeVar("Doc", bound="_Document")


def problem(message: str, *at: str) -> PydanticCustomError:
    """Report a problem ``at`` a key below the validated object (joined to the error's location on report)."""
    return PydanticCustomError("mapping", "{message}", {"message": message, "at": at})


# --------------------------------------------------------------------------------------------- value types


def _key_text(value: object) -> str:
    """YAML keys may be numbers or booleans (an id crosswalk ``360001: acc_000001``); they match as text."""
    return as_text(value) or ""


def _scalar(value: object) -> str | int | float | bool | None:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"expected a single value (text, number, true/false or null), got {type(value).__name__}")
    return value


def _paths(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(isinstance(p, str) and p for p in items):
        raise ValueError("expected an export column name or a list of them")
    return tuple(items)


def _input_glob(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty; set it to a glob of export files relative to the import directory")
    if Path(value).is_absolute() or ".." in Path(value).parts:
        raise ValueError(f"{value!r} must be relative and stay inside the import directory")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
    return value


def _event_target(value: object) -> str:
    kind, _, feature = value.partition(":") if isinstance(value, str) else ("", "", "")
    if kind not in EVENT_TYPES or (feature and (kind != "feature_use" or feature not in FEATURE_NAMES)):
        raise ValueError(f"{value!r} is not an event type; expected one of {', '.join(EVENT_TYPES)} "
                         f"or feature_use:<feature> with a feature in {', '.join(FEATURE_NAMES)}")
    return str(value)


Key = Annotated[str, BeforeValidator(_key_text)]
Scalar = Annotated[str | int | float | bool | None, PlainValidator(_scalar)]
ExportPaths = Annotated[tuple[str, ...], BeforeValidator(_paths)]
InputGlob = Annotated[str, AfterValidator(_input_glob)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
EventTarget = Annotated[str, BeforeValidator(_event_target)]
ValueMap = dict[Key, Scalar]


# --------------------------------------------------------------------------------------------- contract checks


def _check_columns(contract: Contract, field: str, names: Iterable[str]) -> None:
    for name in names:
        if name not in contract.names:
            raise problem(f"unknown contract column {name!r}; expected one of {', '.join(contract.names)}",
                          field, name)


def _check_target(col: Column, target: object, *at: str) -> None:
    """Check that a value-map target or default is a value the contract column accepts."""
    if target is None:
        if not col.nullable:
            raise problem(f"{col.name} may not be null; give it a value", *at)
        return
    if col.allowed is not None and str(target) not in col.allowed:
        raise problem(f"{target!r} is not a valid {col.name}; expected one of {', '.join(col.allowed)}", *at)


def _check_values(contract: Contract, values: Mapping[str, Mapping[str, object]]) -> None:
    _check_columns(contract, "values", values)
    for name, vmap in values.items():
        for export_value, target in vmap.items():
            _check_target(contract.column(name), target, "values", name, export_value)


# --------------------------------------------------------------------------------------------- documents


class _Document(BaseModel):
    """Unknown keys are errors (a typo must not silently do nothing); documents are immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unknown_key: ClassVar[str] = "unknown key"

    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)


class Preset(_Document):
    """A shipped preset (``seg_pipeline/sources/presets/<name>.yaml``): the column paths of one tool's export."""

    source: Literal["product_events", "crm_accounts", "support_tickets"] = Field(
        description="the landing source this export maps onto")
    columns: dict[Key, ExportPaths] = Field(
        description="a mapping of contract column to export column name (or a list of them)")
    values: dict[Key, ValueMap] = Field(
        default_factory=dict, description="a mapping of contract column to {export value: contract value}")
    event_types: dict[Key, EventTarget] = Field(
        default_factory=dict, description="a mapping of export event name to an event type")
    common_event_types: bool = Field(
        default=False, description="true to start from the event names shared by most tracking plans")
    time_zone: TimeZone | None = Field(default=None, description="an IANA time zone name such as Europe/Berlin")

    @model_validator(mode="after")
    def _fits_contract(self) -> "Preset":
        contract = get_contract(self.source)
        _check_columns(contract, "columns", self.columns)
        _check_values(contract, self.values)
        if self.source != "product_events":
            for key in ("event_types", "common_event_types"):
                if key in self.model_fields_set:
                    raise problem("only applies to product_events presets; remove it", key)
        return self


class CommonEventTypes(_Document):
    """``presets/_common_event_types.yaml``: event names that mean the same thing in most tracking plans."""

    event_types: dict[Key, EventTarget] = Field(description="a mapping of export event name to an event type")


def _kind_pattern(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a feature name, a glob such as 'API *' or re:<regular expression>")
    if value.startswith("re:"):
        try:
            re.compile(value[3:])
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression ({exc}); fix or quote it") from None
    return value


def _event_kind(value: object) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"{value!r} is not an event type; expected one of {', '.join(EVENT_TYPES)}")
    return str(value)


KindPattern = Annotated[str, BeforeValidator(_kind_pattern)]
EventKind = Annotated[str, BeforeValidator(_event_kind)]
_FORMAT = "csv, json or jsonl"
_PATHS = "an export column name (or a list of them)"


class LookupDoc(_Document):
    """``lookups.<name>``: an export table keyed by one column, for ``joins`` of any source."""

    input: InputGlob = Field(description="a glob of export files relative to the import directory")
    key: str = Field(description="the export column that identifies a row (e.g. subscription_id)")
    format: Literal["csv", "json", "jsonl"] | None = Field(default=None, description=_FORMAT)

    def build(self, name: str) -> Lookup:
        """Return the importer's view of this lookup."""
        return Lookup(name=name, input=self.input, key=self.key, format=self.format)


class JoinDoc(_Document):
    """``joins.<contract column>``: take ``column`` from the ``lookup`` row whose key equals this row's ``via``."""

    lookup: str = Field(description="the name of an entry under the top-level lookups")
    via: ExportPaths = Field(description="the export column of this source holding the lookup key")
    column: str = Field(description="the lookup table's column to take (e.g. account_id)")


class HistoryTableDoc(_Document):
    """Shared keys of the CRM history tables."""

    input: InputGlob = Field(description="a glob of export files relative to the import directory")
    format: Literal["csv", "json", "jsonl"] | None = Field(default=None, description=_FORMAT)
    date_format: str | None = Field(default=None, description="a strptime format for the dates, when not ISO")


class SubscriptionsDoc(HistoryTableDoc):
    """``history.subscriptions``: one row per subscription with its state at the start."""

    id: str = Field(description="the export column holding the subscription id")
    account: ExportPaths = Field(description=_PATHS)
    start: ExportPaths = Field(description=_PATHS)
    end: ExportPaths | None = Field(default=None, description=_PATHS)
    columns: dict[Key, ExportPaths] = Field(
        default_factory=dict, description="a mapping of contract column (plan, seats, mrr, ...) to export column")

    def build(self) -> HistoryTable:
        """Return the importer's view of this table."""
        return HistoryTable(input=self.input, format=self.format, id=self.id, account=self.account,
                            date=self.start, end=self.end or (), columns=dict(self.columns),
                            date_format=self.date_format)


class ChangesDoc(HistoryTableDoc):
    """``history.changes``: dated changes carrying the full state after the change (blank = unchanged)."""

    subscription: ExportPaths | None = Field(default=None, description=_PATHS)
    account: ExportPaths | None = Field(default=None, description=_PATHS)
    date: ExportPaths = Field(description=_PATHS)
    columns: dict[Key, ExportPaths] = Field(
        default_factory=dict, description="a mapping of contract column (plan, seats, mrr, ...) to export column")

    @model_validator(mode="after")
    def _one_key(self) -> "ChangesDoc":
        if (self.subscription is None) == (self.account is None):
            raise problem("set exactly one of subscription or account (the column that links a change to its "
                          "subscription or account)")
        return self

    def build(self) -> HistoryTable:
        """Return the importer's view of this table."""
        return HistoryTable(input=self.input, format=self.format, account=self.account or (),
                            subscription=self.subscription or (), date=self.date, columns=dict(self.columns),
                            date_format=self.date_format)


class ChurnDoc(HistoryTableDoc):
    """``history.churn``: one row per churn with its date."""

    account: ExportPaths = Field(description=_PATHS)
    date: ExportPaths = Field(description=_PATHS)

    def build(self) -> HistoryTable:
        """Return the importer's view of this table."""
        return HistoryTable(input=self.input, format=self.format, account=self.account, date=self.date,
                            date_format=self.date_format)


HISTORY_DERIVED = ("account_id", "status")  # the account comes from the static table, status from the events


class HistoryDoc(_Document):
    """``crm_accounts.history``: subscriptions, their changes and churn events become weekly snapshots."""

    subscriptions: SubscriptionsDoc = Field(description="a mapping with input, id, account, start and columns")
    changes: ChangesDoc | None = Field(default=None, description="a mapping with input, subscription, date, columns")
    churn: ChurnDoc | None = Field(default=None, description="a mapping with input, account and date")

    @model_validator(mode="after")
    def _fits_contract(self) -> "HistoryDoc":
        contract = get_contract("crm_accounts")
        for role, table in (("subscriptions", self.subscriptions), ("changes", self.changes)):
            if table is None:
                continue
            _check_columns(contract, "columns", table.columns)
            for name in table.columns:
                if name in HISTORY_DERIVED:
                    raise problem(f"{name} is not a history column ({name} comes from the accounts table or the "
                                  "churn events); remove it", role, "columns", name)
        return self

    def build(self) -> CrmHistory:
        """Return the importer's view of the history."""
        return CrmHistory(subscriptions=self.subscriptions.build(),
                          changes=None if self.changes is None else self.changes.build(),
                          churn=None if self.churn is None else self.churn.build())


class SourceSpec(_Document):
    """One source section of a mapping file, as written; :meth:`resolve` merges in its preset.

    Validation needs ``context={"presets": {name: Preset}}`` to check the preset name and required columns.
    """

    source: ClassVar[str]
    preset: str | None = Field(default=None, description="the name of a built-in preset")
    input: InputGlob = Field(description="a glob of export files relative to the import directory")
    format: Literal["csv", "json", "jsonl"] | None = Field(default=None, description="csv, json or jsonl")
    columns: dict[Key, ExportPaths] = Field(
        default_factory=dict, description="a mapping of contract column to export column name (or a list of them)")
    values: dict[Key, ValueMap] = Field(
        default_factory=dict, description="a mapping of contract column to {export value: contract value}")
    defaults: dict[Key, Scalar] = Field(
        default_factory=dict, description="a mapping of contract column to the value used when the export has none")
    formats: dict[Key, str] = Field(
        default_factory=dict, description="a mapping of date/timestamp column to a strptime format")
    time_zone: TimeZone | None = Field(default=None, description="an IANA time zone name such as Europe/Berlin")
    joins: dict[Key, JoinDoc] = Field(
        default_factory=dict, description="a mapping of contract column to {lookup, via, column}")

    @model_validator(mode="before")
    @classmethod
    def _event_keys_only_for_events(cls, data: object) -> object:
        if cls.source != "product_events" and isinstance(data, dict):
            for key in EVENT_ONLY_KEYS:
                if key in data:
                    raise problem("only applies to product_events; remove it", key)
        return data

    @model_validator(mode="after")
    def _fits_contract(self, info: ValidationInfo) -> "SourceSpec":
        contract = get_contract(self.source)
        _check_columns(contract, "columns", self.columns)
        _check_values(contract, self.values)
        _check_columns(contract, "defaults", self.defaults)
        for name, value in self.defaults.items():
            _check_target(contract.column(name), value, "defaults", name)
        _check_columns(contract, "formats", self.formats)
        for name in self.formats:
            if contract.column(name).dtype not in ("DATE", "TIMESTAMPTZ"):
                raise problem(f"a strptime format only applies to a date or timestamp column ({name} is "
                              f"{contract.column(name).dtype}); remove it", "formats", name)
        _check_columns(contract, "joins", self.joins)
        derived = self.derived_columns()
        for name in self.columns:
            if name in derived:
                raise problem(f"{name} is {derived[name]}; remove it", "columns", name)
        presets: Mapping[str, Preset] = (info.context or {}).get("presets", {})
        resolved = self.resolve(self._preset(presets))
        supplied = {*resolved.columns, *resolved.defaults, *self.supplied_columns(), "event_id"}  # ids are derived
        for col in contract.columns:
            if not col.nullable and col.name not in supplied:
                raise problem(f"required contract column has no mapping; set columns.{col.name} or "
                              f"defaults.{col.name}", "columns", col.name)
        return self

    def derived_columns(self) -> dict[str, str]:
        """Contract columns this section computes instead of reading (name -> how); mapping one is an error."""
        return {}

    def supplied_columns(self) -> set[str]:
        """Contract columns that need no mapping in ``columns``: the derived ones and those filled elsewhere."""
        return set(self.derived_columns())

    def _preset(self, presets: Mapping[str, Preset]) -> Preset | None:
        if self.preset is None:
            return None
        fitting = ", ".join(name for name, p in presets.items() if p.source == self.source)
        preset = presets.get(self.preset)
        if preset is None:
            raise problem(f"unknown preset {self.preset!r}; expected one of {fitting}", "preset")
        if preset.source != self.source:
            raise problem(f"preset {self.preset!r} maps {preset.source}, not {self.source}; use one of {fitting}",
                          "preset")
        return preset

    def resolve(self, preset: Preset | None) -> SourceMapping:
        """Resolve the importer's view: preset columns/values/time zone, overridden by what this section sets."""
        columns = {**(preset.columns if preset else {}), **self.columns}
        values: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (preset.values if preset else {}).items()}
        for name, vmap in self.values.items():
            values.setdefault(name, {}).update(vmap)
        time_zone = self.time_zone or (preset.time_zone if preset else None) or "UTC"
        joins = tuple(Join(column=name, lookup=j.lookup, via=j.via, take=j.column) for name, j in self.joins.items())
        for join in joins:
            columns[join.column] = (JOIN_PREFIX + join.column,)
        return SourceMapping(source=self.source, input=self.input, preset=self.preset, format=self.format,
                             columns=columns, values=values, defaults=dict(self.defaults),
                             formats=dict(self.formats), time_zone=time_zone, joins=joins)


class EventsSpec(SourceSpec):
    """``product_events``: also maps event names onto the contract's event types."""

    source: ClassVar[str] = "product_events"
    event_types: dict[Key, EventTarget] = Field(
        default_factory=dict, description="a mapping of export event name to an event type")
    feature_from: ExportPaths | None = Field(
        default=None, description="the export column (or a list of them) holding the feature name")
    ignore_events: list[str] = Field(default_factory=list, description="a list of export event names")
    unmapped_events: Literal["keep", "skip"] = Field(default="keep", description="keep or skip")

    def resolve(self, preset: Preset | None) -> SourceMapping:
        """Resolve like any source, then add the event-name map and the feature-name column."""
        base = super().resolve(preset)
        columns = dict(base.columns)
        if self.feature_from is not None:
            columns["feature_name"] = self.feature_from
        values = dict(base.values)
        event_map = {**(preset.event_types if preset else {}), **self.event_types}
        values["event_type"] = {**event_map, **values.get("event_type", {})}
        return replace(base, columns=columns, values=values, ignore_events=frozenset(self.ignore_events),
                       unmapped_events=self.unmapped_events)


class CrmSpec(SourceSpec):
    """``crm_accounts``: the CRM account snapshot, or a static accounts table plus its ``history``."""

    source: ClassVar[str] = "crm_accounts"
    history: HistoryDoc | None = Field(
        default=None, description="a mapping with subscriptions and optionally changes and churn")

    def derived_columns(self) -> dict[str, str]:
        """With a history, status comes from the churn events and the state columns from the history tables."""
        if self.history is None:
            return {}
        return {"status": "derived from the churn events when a history is configured"}

    def supplied_columns(self) -> set[str]:
        """Return the columns needing no mapping: the history tables' state columns (the table may still map them)."""
        supplied = super().supplied_columns()
        if self.history is not None:
            for table in (self.history.subscriptions, self.history.changes):
                supplied |= set(table.columns if table is not None else ())
        return supplied

    def resolve(self, preset: Preset | None) -> SourceMapping:
        """Resolve like any source, then attach the history tables."""
        base = super().resolve(preset)
        return base if self.history is None else replace(base, history=self.history.build())


class TicketsSpec(SourceSpec):
    """``support_tickets``: the helpdesk's ticket export (one row per update, or per ticket)."""

    source: ClassVar[str] = "support_tickets"
    one_row_per_ticket: bool = Field(
        default=False, description="true when the export has one row per ticket (created_at, resolved_at)")

    def derived_columns(self) -> dict[str, str]:
        """Return updated_at and status: a per-ticket export derives them from created_at/resolved_at."""
        if not self.one_row_per_ticket:
            return {}
        why = "derived from created_at and resolved_at when one_row_per_ticket is true"
        return {"updated_at": why, "status": why}

    def resolve(self, preset: Preset | None) -> SourceMapping:
        """Resolve like any source; a per-ticket export is placed by created_at and starts open."""
        base = super().resolve(preset)
        if not self.one_row_per_ticket:
            return base
        columns = {**base.columns, "updated_at": base.columns.get("created_at", ()), "status": ()}
        return replace(base, columns=columns, one_row_per_ticket=True)


class UsageSpec(SourceSpec):
    """``product_usage``: daily usage counts per product feature; ``feature_kinds`` derives the event type."""

    source: ClassVar[str] = USAGE
    feature_kinds: dict[EventKind, list[KindPattern]] = Field(
        default_factory=dict, description="a mapping of event type to a list of feature names, globs or re:regex")

    def derived_columns(self) -> dict[str, str]:
        """Return event_type: it comes from the feature name through ``feature_kinds``."""
        return {"event_type": "derived from feature_name through feature_kinds"}

    def resolve(self, preset: Preset | None) -> SourceMapping:
        """Resolve like any source, then add the feature-kind rules in file order."""
        base = super().resolve(preset)
        rules = tuple(KindRule(kind, pattern) for kind, patterns in self.feature_kinds.items() for pattern in patterns)
        return replace(base, feature_kinds=rules)


_SECTION = "a mapping of settings such as preset, input and columns"


class MappingFile(_Document):
    """A whole mapping file (``SEG_MAPPINGS``): a version, shared lookups and at least one source section."""

    unknown_key: ClassVar[str] = "unknown source"
    version: Literal[1] = Field(default=1, description="1")
    lookups: dict[Key, LookupDoc] = Field(
        default_factory=dict, description="a mapping of lookup name to {input, key}")
    product_events: EventsSpec | None = Field(default=None, description=_SECTION)
    product_usage: UsageSpec | None = Field(default=None, description=_SECTION)
    crm_accounts: CrmSpec | None = Field(default=None, description=_SECTION)
    support_tickets: TicketsSpec | None = Field(default=None, description=_SECTION)

    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        """Return the top-level keys a mapping file may use: the sources, lookups and version."""
        return (*IMPORT_SOURCES, "lookups", "version")

    @model_validator(mode="after")
    def _has_a_source(self) -> "MappingFile":
        if not self.sections():
            raise problem(f"no source configured; add at least one of {', '.join(IMPORT_SOURCES)}")
        for name, spec in self.sections().items():
            for column, join in spec.joins.items():
                if join.lookup not in self.lookups:
                    known = ", ".join(self.lookups) or "none is defined; add a top-level lookups section"
                    raise problem(f"unknown lookup {join.lookup!r}; expected one of {known}",
                                  name, "joins", column, "lookup")
        return self

    def sections(self) -> dict[str, SourceSpec]:
        """Return the configured source sections by name."""
        found = {name: getattr(self, name) for name in IMPORT_SOURCES}
        return {name: spec for name, spec in found.items() if spec is not None}

    def lookup_tables(self) -> dict[str, Lookup]:
        """Return the importer's view of the lookups."""
        return {name: doc.build(name) for name, doc in self.lookups.items()}


# --------------------------------------------------------------------------------------------- reading


def read_yaml(path: Path) -> object:
    """Parse a YAML file; unreadable files and syntax errors become a :class:`MappingError` naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read mapping file: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem_text = getattr(exc, "problem", None) or str(exc)
        raise MappingError(f"{path}: invalid YAML{where}: {problem_text}") from exc


def validate_document(model: type[Doc], doc: object, origin: str, context: Mapping[str, object] | None = None
                      ) -> Doc:
    """``model`` validated from ``doc``; the first problem becomes a :class:`MappingError` naming ``origin``."""
    try:
        return model.model_validate(doc, context=dict(context or {}))
    except ValidationError as exc:
        raise explain(exc, model, origin) from None


def explain(exc: ValidationError, model: type["_Document"], origin: str) -> MappingError:
    """One sentence for the first problem; a misspelt key is reported first, as it usually explains the rest."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(str(p) for p in err["loc"] if p != "[key]") + tuple(err.get("ctx", {}).get("at", ()))
    text = _describe(err, model, loc)
    return MappingError(f"{origin}: {'.'.join(loc)}: {text}" if loc else f"{origin}: {text}")


def _describe(err: ErrorDetails, model: type["_Document"], loc: tuple[str, ...]) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "mapping":
        return str(ctx["message"])
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1]) or model
        return f"{parent.unknown_key}; expected one of {', '.join(parent.known_keys())}"
    if kind == "literal_error":
        return f"{err['input']!r} is not allowed; expected {ctx['expected']}"
    got = type(err["input"]).__name__
    if not loc:
        return f"expected a mapping with at least one of {', '.join(IMPORT_SOURCES)}, got {got}"
    depth, field = _field_at(model, loc)
    wanted = field.description if field is not None and field.description else "another value"
    if kind == "missing":
        return f"required; set it to {wanted}"
    if depth < len(loc):  # an entry inside a list or mapping: name the entry's type and what the field holds
        return f"expected {_BASIC_TYPES.get(kind, 'another value')}, got {got} ({loc[depth - 1]} is {wanted})"
    return f"expected {wanted}, got {got}"


_BASIC_TYPES = {"string_type": "text", "int_type": "a whole number", "float_type": "a number",
                "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping",
                "tuple_type": "a list"}


def _model_at(model: type[BaseModel], loc: tuple[str, ...]) -> type[_Document] | None:
    """Find the document class by following field names ``loc`` from ``model``."""
    current: object = model
    for part in loc:
        if get_origin(current) is dict and _is_model(get_args(current)[1]):  # a named entry (lookups.<name>)
            current = get_args(current)[1]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields):
            return None
        current = _unwrap(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, _Document) else None


def _field_at(model: type[BaseModel], loc: tuple[str, ...]) -> tuple[int, FieldInfo | None]:
    """Find how many parts of ``loc`` name model fields, and the deepest such field.

    A bad entry of a list or mapping is explained by the field holding it.
    """
    current: object = model
    found: FieldInfo | None = None
    depth = 0
    for part in loc:
        if get_origin(current) is dict and _is_model(get_args(current)[1]):  # a named entry (lookups.<name>)
            current = get_args(current)[1]
            depth += 1
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields):
            break
        found = current.model_fields[part]
        current = _unwrap(found.annotation)
        depth += 1
    return depth, found


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _unwrap(annotation: object) -> object:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
