"""Export values → contract values: reading a (nested) field, text, numbers, dates and the built-in vocabularies.

Everything here is lenient on input and returns ``None`` when a value cannot be read, so the caller decides
whether that rejects the row or leaves the value verbatim for the loader to quarantine.
"""

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from seg_pipeline.sources.contracts import EMPLOYEE_BAND_EDGES, EMPLOYEE_BANDS, Column

NUMERIC_TEXT = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
_CURRENCY = re.compile(r"^[$€£¥]\s*|\s*(USD|EUR|GBP)$", re.IGNORECASE)
_EPOCH_MS = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)
_EPOCH_US = 1e14

# Country (ISO alpha-2 or common English name, case-insensitive) -> the contract's conventional region labels.
_COUNTRIES: dict[str, tuple[str, ...]] = {
    "NA": ("us", "usa", "united states", "united states of america", "ca", "canada"),
    "LATAM": ("mx", "mexico", "br", "brazil", "ar", "argentina", "cl", "chile", "co", "colombia", "pe", "peru"),
    "EMEA": ("gb", "uk", "united kingdom", "ie", "ireland", "de", "germany", "fr", "france", "es", "spain",
             "it", "italy", "nl", "netherlands", "be", "belgium", "ch", "switzerland", "at", "austria",
             "se", "sweden", "no", "norway", "dk", "denmark", "fi", "finland", "pl", "poland", "pt", "portugal",
             "il", "israel", "ae", "united arab emirates", "za", "south africa", "ng", "nigeria", "eg", "egypt"),
    "APAC": ("au", "australia", "nz", "new zealand", "jp", "japan", "cn", "china", "in", "india", "sg",
             "singapore", "kr", "south korea", "hk", "hong kong", "id", "indonesia", "ph", "philippines"),
}
COUNTRY_REGION: dict[str, str] = {name: region for region, names in _COUNTRIES.items() for name in names}


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """``record[path]``, else walk dotted parts through nested objects (``properties.feature``)."""
    if path in record:
        return record[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        sub = record.get(head)
        if isinstance(sub, dict):
            found = get_path(sub, ".".join(parts[i:]))
            if found is not None:
                return found
        elif isinstance(sub, list):  # e.g. Intercom companies.companies.id: first element that has it
            for item in sub:
                if isinstance(item, dict) and (found := get_path(item, ".".join(parts[i:]))) is not None:
                    return found
    return None


def as_text(value: Any) -> str | None:
    """Return the text of an export value (``None`` for null/blank): whole floats lose ``.0``, objects become JSON."""
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


def _band(n: float) -> str:
    for top, label in zip(EMPLOYEE_BAND_EDGES, EMPLOYEE_BANDS[:-1], strict=True):
        if n <= top:
            return label
    return EMPLOYEE_BANDS[-1]


class ColumnMapper:
    """Maps one contract column: coalesce the configured paths, apply the value map, check the domain."""

    def __init__(self, col: Column, paths: tuple[str, ...], vmap: Mapping[str, Any], default: Any,
                 conventional: tuple[str, ...] = ()) -> None:
        """Map ``paths`` into ``col``; value-map keys also match case-insensitively.

        ``conventional`` names of an open-vocabulary column are matched like a domain (``AI Assistant`` →
        ``ai_assistant``); other values are kept as they are.
        """
        self.col = col
        self.conventional = conventional
        self.paths = paths
        self.exact = dict(vmap)
        self.folded = {k.casefold(): v for k, v in vmap.items()}
        self.default = default

    def _one(self, value: Any) -> tuple[Any, bool, bool]:
        """Map one value to (mapped value, valid, explicitly nulled by the value map)."""
        text = as_text(value)
        if text is None:
            return None, False, False
        for table, key in ((self.exact, text), (self.folded, text.casefold())):
            if key in table:
                target = table[key]
                return (None, True, True) if target is None else (as_text(target), True, False)
        name = self.col.name
        if name == "employee_band" and NUMERIC_TEXT.fullmatch(text):
            return _band(float(text)), True, False
        if name == "region" and text.casefold() in COUNTRY_REGION:
            return COUNTRY_REGION[text.casefold()], True, False
        if self.col.allowed is None:
            norm = _normalise(text)
            return (norm if norm in self.conventional else text), True, False
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
            raw = get_path(record, path)
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
            return as_text(self.default), "default"
        return None, "null"


def parse_ts(text: str | None, tz: ZoneInfo, fmt: str | None) -> datetime | None:
    """Epoch seconds/ms/us, ISO-8601 with or without offset (naive = ``tz``), or ``fmt``; UTC out."""
    if text is None:
        return None
    try:
        if fmt:
            ts = datetime.strptime(text, fmt)
        elif NUMERIC_TEXT.fullmatch(text):
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


def parse_date(text: str | None, tz: ZoneInfo, fmt: str | None) -> str | None:
    """``YYYY-MM-DD`` of a date, a timestamp (its date in ``tz``), an epoch, or ``fmt`` text."""
    if text is None:
        return None
    if not fmt and NUMERIC_TEXT.fullmatch(text):  # epoch (HubSpot exports dates as epoch ms via the API)
        ts = parse_ts(text, tz, None)
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


def parse_number(text: str | None, integer: bool) -> int | float | None:
    """Parse a number from export text: currency signs/codes and thousands separators are dropped."""
    if text is None:
        return None
    cleaned = _CURRENCY.sub("", text).strip()
    if _THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    if not NUMERIC_TEXT.fullmatch(cleaned):
        return None
    value = float(cleaned)
    if integer:
        return int(value) if value.is_integer() else None
    return value
