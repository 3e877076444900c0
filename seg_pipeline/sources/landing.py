"""Landing-zone readers: one week of landing files → typed raw rows + quarantine rows with reasons.

Implements the raw-layer half of RELIABILITY.md "Bad inputs": nothing is lost silently. Every row read ends up in
exactly one of ``rows``, ``quarantine`` or ``duplicates_dropped`` (``rows_in`` reconciles them), and anything that
makes the week ambiguous raises :class:`ContractError` before the caller writes a byte.

Product events (millions of rows) stay columnar (pyarrow-backed pandas, vectorised masks); the small CSV/JSONL
sources are split into lines in Python so a bad line is quarantined by its physical line number.
"""

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seg_pipeline.sources.contracts import (
    QUARANTINE_COLUMNS,
    SOURCES,
    Column,
    Contract,
    ContractError,
    get_contract,
    validate_week_key,
)

__all__ = [
    "SOURCES",
    "ContractError",
    "LoadResult",
    "load_week",
    "validate_week_key",
    "week_files",
]

STR = pd.ArrowDtype(pa.string())
DATE = pd.ArrowDtype(pa.date32())
TS = "datetime64[ns, UTC]"
# Timestamps before this are treated as broken clocks / epoch defaults, never as real activity.
TS_FLOOR = pd.Timestamp("2000-01-01", tz="UTC")
UNPARSEABLE = "unparseable_file"

_BOM = b"\xef\xbb\xbf"
_NON_FINITE = r"(?i)[+-]?(?:nan|inf|infinity)"
_TZ_SUFFIX = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_DELIMITERS = (",", ";", "\t", "|")
_MAX_RECORD_LINES = 50  # a quoted field may span lines, but an unclosed quote must not swallow the file
_MAX_RECORD_CHARS = 10_000
_NS_MIN = pd.Timestamp.min.tz_localize("UTC")
_NS_MAX = pd.Timestamp.max.tz_localize("UTC")


@dataclass
class LoadResult:
    """One source × one week, ready for ``raw.<source>`` and ``raw.quarantine`` (see docs/contracts.md)."""

    source: str
    week_start: date
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    files: list[str]
    rows_in: int
    duplicates_dropped: int
    warnings: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        """``in = loaded + quarantined + deduplicated`` — the invariant the raw-layer check asserts."""
        return self.rows_in == len(self.rows) + len(self.quarantine) + self.duplicates_dropped

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons → counts, for asset metadata."""
        return {str(k): int(v) for k, v in self.quarantine["reason"].value_counts().sort_index().items()}


@dataclass
class _FileData:
    """One file after reading, before validation: raw values as pyarrow-backed columns."""

    rel: str
    raw: pd.DataFrame
    source_row: np.ndarray
    records: Callable[[np.ndarray], list[str]]
    pre_reason: np.ndarray | None = None
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    rows_in: int = 0
    warnings: list[str] = field(default_factory=list)


class _Reasons:
    """First reason wins, so checks are applied in priority order."""

    def __init__(self, n: int) -> None:
        self.text = np.full(n, None, dtype=object)
        self.flagged = np.zeros(n, dtype=bool)

    def add(self, mask: np.ndarray, text: str | np.ndarray) -> None:
        m = mask & ~self.flagged
        if m.any():
            self.text[m] = text[m] if isinstance(text, np.ndarray) else text
            self.flagged |= m


# --------------------------------------------------------------------------------------------- paths


def _landing_root(landing_dir: Path) -> Path:
    return Path(landing_dir).resolve()


def week_files(source: str, landing_dir: Path, week_start: date) -> list[Path]:
    """The existing files of ``source`` that belong to the week (events: up to 7 day files; others: one).

    Paths are built only from the contract and a validated Monday, and every path must resolve inside the
    landing directory: a symlink pointing elsewhere, or a non-regular file, raises :class:`ContractError`.
    """
    contract = get_contract(source)
    week_start = _as_week_start(week_start)
    root = _landing_root(landing_dir)
    days = [week_start + timedelta(days=i) for i in range(7)] if contract.cadence == "day" else [week_start]
    out: list[Path] = []
    for day in days:
        rel = contract.file_name(day)
        candidate = root / rel
        if not candidate.exists() and not candidate.is_symlink():
            continue
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise ContractError(f"{rel}: path resolves outside the landing directory ({resolved}); refusing it")
        if not resolved.is_file():
            raise ContractError(f"{rel}: not a regular file")
        out.append(candidate)
    return out


def _as_week_start(week_start: date | str) -> date:
    if isinstance(week_start, str):
        return validate_week_key(week_start)
    if isinstance(week_start, datetime) or not isinstance(week_start, date):
        raise ValueError(f"week_start must be a date, got {week_start!r}")
    return validate_week_key(week_start.isoformat())


# --------------------------------------------------------------------------------------------- helpers


def _b(values: Any) -> np.ndarray:
    """Boolean mask as numpy, nulls (from pyarrow-backed comparisons) as False."""
    if isinstance(values, pd.Series):
        return values.fillna(False).to_numpy(dtype=bool)
    return np.asarray(values, dtype=bool)


def _jsonable(value: Any) -> Any:
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
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), ensure_ascii=False)


def _line_record(raw: bytes) -> str:
    return _dumps({"line": raw[:_MAX_RECORD_CHARS].decode("utf-8", errors="backslashreplace")})


def _frame_records(frame: pd.DataFrame) -> Callable[[np.ndarray], list[str]]:
    def records(pos: np.ndarray) -> list[str]:
        sub = frame.iloc[pos]
        return [_dumps(dict(zip(sub.columns, row, strict=True))) for row in sub.itertuples(index=False)]

    return records


def _check_header(contract: Contract, names: Sequence[str], rel: str, warnings: list[str]) -> list[str]:
    """Reject missing required / duplicate columns, warn about unknown ones; return the contract columns present."""
    seen = Counter(names)
    dup = sorted(n for n, c in seen.items() if c > 1)
    if dup:
        raise ContractError(f"{rel}: column {dup[0]!r} appears more than once")
    for col in contract.columns:
        if col.required and col.name not in seen:
            raise ContractError(f"{rel}: required column {col.name!r} is missing")
    extra = [n for n in names if n not in contract.names]
    if extra:
        warnings.append(f"{rel}: unknown column(s) {', '.join(map(repr, extra))} ignored")
    return [c for c in contract.names if c in seen]


def _string_frame(contract: Contract, columns: dict[str, list[str | None]], n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(columns.get(name, [None] * n), dtype=STR) for name in contract.names}
    )


# --------------------------------------------------------------------------------------------- readers


def _read_parquet(path: Path, rel: str, contract: Contract) -> _FileData:
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
    except Exception as exc:  # pyarrow raises several exception types for corrupt files
        raise ContractError(f"{rel}: cannot read Parquet file: {exc}") from exc
    warnings: list[str] = []
    present = _check_header(contract, names, rel, warnings)
    try:
        table = pf.read(columns=present)
    except Exception as exc:
        raise ContractError(f"{rel}: cannot read Parquet file: {exc}") from exc
    arrays = {name: _normalise_arrow(table.column(name), contract.column(name), rel) for name in present}
    n = table.num_rows
    raw = pd.DataFrame(
        {
            name: (arrays[name].to_pandas(types_mapper=pd.ArrowDtype) if name in arrays
                   else pd.Series(pa.nulls(n, pa.string()), dtype=STR))
            for name in contract.names
        }
    )
    return _FileData(rel=rel, raw=raw, source_row=np.arange(1, n + 1, dtype=np.int64),
                     records=_frame_records(raw), rows_in=n, warnings=warnings)


def _normalise_arrow(arr: pa.ChunkedArray, col: Column, rel: str) -> pa.ChunkedArray:
    """Bring a Parquet column to a type the caster understands, or reject the file (schema mismatch)."""
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr, typ = arr.cast(typ.value_type), typ.value_type
    if pa.types.is_null(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return arr.cast(pa.string())
    if pa.types.is_string(typ):
        return arr
    ok = {
        "VARCHAR": pa.types.is_integer(typ),
        "BIGINT": pa.types.is_integer(typ) or pa.types.is_floating(typ),
        "DOUBLE": pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ),
        "DATE": pa.types.is_date(typ),
        "TIMESTAMPTZ": pa.types.is_timestamp(typ),
    }[col.dtype]
    if not ok:
        raise ContractError(f"{rel}: column {col.name!r} has Parquet type {typ}, expected {col.dtype}")
    if col.dtype == "VARCHAR":
        return arr.cast(pa.string())
    if pa.types.is_decimal(typ):
        return arr.cast(pa.float64())
    if pa.types.is_date(typ):
        return arr.cast(pa.date32())
    return arr


def _split_lines(data: bytes) -> list[bytes]:
    """Physical lines (\\n, \\r\\n or \\r), BOM removed; index i is line i + 1."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    return data.splitlines()


def _unparseable(rel: str, contract: Contract, problem: str, data: bytes) -> _FileData:
    record = _dumps({"file": rel, "problem": problem,
                     "head": data[:200].decode("utf-8", errors="backslashreplace")})
    empty = _string_frame(contract, {}, 0)
    return _FileData(rel=rel, raw=empty, source_row=np.zeros(0, dtype=np.int64), records=_frame_records(empty),
                     bad_lines=[(0, UNPARSEABLE, record)], rows_in=1,
                     warnings=[f"{rel}: whole file quarantined ({problem})"])


def _decode_line(raw: bytes) -> str | None:
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _detect_delimiter(header: str, contract: Contract) -> tuple[str, list[str]] | None:
    best: tuple[int, str, list[str]] | None = None
    for delim in _DELIMITERS:
        try:
            fields = next(csv.reader([header], delimiter=delim, strict=True))
        except (csv.Error, StopIteration):
            continue
        names = [f.strip() for f in fields]
        score = len(set(names) & set(contract.names))
        if score and (best is None or score > best[0]):
            best = (score, delim, names)
    return None if best is None else (best[1], best[2])


def _read_csv(path: Path, rel: str, contract: Contract) -> _FileData:
    data = path.read_bytes()
    lines = _split_lines(data)
    if not lines:
        return _unparseable(rel, contract, "empty file", data)
    header = _decode_line(lines[0])
    if header is None:
        return _unparseable(rel, contract, "header is not valid UTF-8 text", data)
    dialect = _detect_delimiter(header, contract)
    if dialect is None:
        return _unparseable(rel, contract, "cannot detect the CSV dialect: no contract column in the header", data)
    delim, names = dialect
    warnings: list[str] = []
    if delim != ",":
        warnings.append(f"{rel}: delimiter {delim!r} detected instead of ','")
    present = _check_header(contract, names, rel, warnings)
    index = {name: names.index(name) for name in present}

    fields_by_row: list[list[str]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    i = 1
    while i < len(lines):
        line_no, raw = i + 1, lines[i]
        i += 1
        if not raw.strip():
            continue
        text = _decode_line(raw)
        if text is None:
            bad.append((line_no, "malformed_line", _line_record(raw)))
            continue
        if text.count('"') % 2:  # an open quoted field: join following lines until it closes
            parts, j = [text], i
            while j < len(lines) and j - i < _MAX_RECORD_LINES and sum(p.count('"') for p in parts) % 2:
                nxt = _decode_line(lines[j])
                if nxt is None:
                    break
                parts.append(nxt)
                j += 1
            if sum(p.count('"') for p in parts) % 2:
                bad.append((line_no, "malformed_line", _line_record(raw)))
                continue
            text, i = "\n".join(parts), j
        try:
            parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True))
        except csv.Error:
            parsed = []
        if len(parsed) != 1 or len(parsed[0]) != len(names):
            bad.append((line_no, "malformed_line", _line_record(raw)))
            continue
        fields_by_row.append(parsed[0])
        rows.append(line_no)

    columns = {name: [f[idx] or None for f in fields_by_row] for name, idx in index.items()}
    raw_frame = _string_frame(contract, columns, len(rows))

    def records(pos: np.ndarray) -> list[str]:
        return [_dumps(dict(zip(names, fields_by_row[p], strict=True))) for p in pos]

    return _FileData(rel=rel, raw=raw_frame, source_row=np.asarray(rows, dtype=np.int64), records=records,
                     bad_lines=bad, rows_in=len(rows) + len(bad), warnings=warnings)


def _json_scalar(value: Any) -> tuple[str | None, bool]:
    """JSON value → (text for the string caster, ok). Objects, arrays and booleans never fit a contract column."""
    if value is None:
        return None, True
    if isinstance(value, str):
        return value, True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, False
    return repr(value) if isinstance(value, float) else str(value), True


def _read_jsonl(path: Path, rel: str, contract: Contract) -> _FileData:
    lines = _split_lines(path.read_bytes())
    objects: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    keys: set[str] = set()
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        text = _decode_line(raw)
        obj: Any = None
        if text is not None:
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
        if not isinstance(obj, dict):
            bad.append((i + 1, "malformed_line", _line_record(raw)))
            continue
        objects.append(obj)
        rows.append(i + 1)
        keys.update(obj)
    warnings: list[str] = []
    if objects:
        _check_header(contract, sorted(keys), rel, warnings)
    n = len(objects)
    pre = np.full(n, None, dtype=object)
    columns: dict[str, list[str | None]] = {}
    for name in contract.names:
        values: list[str | None] = []
        for r, obj in enumerate(objects):
            text, ok = _json_scalar(obj.get(name))
            if not ok and pre[r] is None:
                pre[r] = f"cast_error:{name}"
            values.append(text)
        columns[name] = values

    def records(pos: np.ndarray) -> list[str]:
        return [_dumps(objects[p]) for p in pos]

    return _FileData(rel=rel, raw=_string_frame(contract, columns, n), source_row=np.asarray(rows, dtype=np.int64),
                     records=records, pre_reason=pre, bad_lines=bad, rows_in=n + len(bad), warnings=warnings)


_READERS: dict[str, Callable[[Path, str, Contract], _FileData]] = {
    "parquet": _read_parquet,
    "csv": _read_csv,
    "jsonl": _read_jsonl,
}


# --------------------------------------------------------------------------------------------- casting


def _arrow(s: pd.Series) -> pa.ChunkedArray:
    """The pyarrow data behind a column (no copy for pyarrow-backed columns)."""
    if isinstance(s.dtype, pd.ArrowDtype):
        return pa.chunked_array(s.array.__arrow_array__())
    return pa.chunked_array([pa.Array.from_pandas(s)])


def _is_string(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype)


def _cast(s: pd.Series, col: Column, time_zone: str) -> tuple[pd.Series, np.ndarray, list[tuple[np.ndarray, str]]]:
    """Cast one raw column to the contract type: (values, null mask, [(problem mask, reason), ...])."""
    problems: list[tuple[np.ndarray, str]] = []
    name = col.name
    if _is_string(s):
        if col.dtype != "VARCHAR":
            s = s.str.strip()
        null = _b(s.isna()) | _b(s == "")
    else:
        null = _b(s.isna())

    if col.dtype == "VARCHAR":
        values = s.mask(null) if null.any() else s
        values = values.astype(STR)
        if col.allowed is not None:
            problems.append((~null & ~_b(values.isin(col.allowed)), f"out_of_domain:{name}"))
        return values, null, problems

    if col.dtype in ("BIGINT", "DOUBLE"):
        if _is_string(s):
            non_finite_text = _b(s.str.fullmatch(_NON_FINITE))
            nums = pd.to_numeric(s.astype(object).mask(null | non_finite_text), errors="coerce")
            vals = np.asarray(nums, dtype=float)
            unparsed = ~null & ~non_finite_text & np.isnan(vals)
            non_finite = ~null & (non_finite_text | (~np.isnan(vals) & ~np.isfinite(vals)))
        else:
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            unparsed = np.zeros(len(s), dtype=bool)
            non_finite = ~null & ~np.isfinite(vals)
        finite = ~null & ~unparsed & ~non_finite
        bad = unparsed.copy()
        if col.dtype == "BIGINT":
            with np.errstate(invalid="ignore"):
                bad |= finite & ((vals != np.floor(vals)) | (np.abs(vals) >= 2.0**63))
        problems += [(bad, f"cast_error:{name}"), (non_finite, f"non_finite:{name}")]
        ok = finite & ~bad
        with np.errstate(invalid="ignore"):
            low = ok & (vals < col.min) if col.min is not None else np.zeros(len(s), bool)
            high = ok & (vals > col.max) if col.max is not None else np.zeros(len(s), bool)
        problems.append((low | high, f"out_of_domain:{name}"))
        if col.dtype == "BIGINT":
            if not _is_string(s) and pa.types.is_integer(s.dtype.pyarrow_dtype):
                out = s.astype("Int64").mask(~ok)
            else:
                out = pd.Series(np.where(ok, vals, np.nan), index=s.index).astype("Int64")
        else:
            out = pd.Series(np.where(ok, vals, np.nan), index=s.index).astype("Float64")
        return out, null, problems

    if col.dtype == "DATE":
        if _is_string(s):
            shaped = _b(s.str.fullmatch(_ISO_DATE))
            parsed = pd.to_datetime(s.astype(object).where(shaped & ~null), format="%Y-%m-%d", errors="coerce")
            problems.append((~null & _b(parsed.isna()), f"cast_error:{name}"))
            out = parsed.astype(pd.ArrowDtype(pa.timestamp("ns"))).astype(DATE)
        else:
            out = s.astype(DATE)
        return out, null, problems

    # TIMESTAMPTZ
    if _is_string(s):
        obj = s.astype(object)
        aware = ~null & _b(s.str.contains(_TZ_SUFFIX, regex=True))
        naive = ~null & ~aware
        out = pd.Series(pd.NaT, index=s.index, dtype=TS)
        if aware.any():
            out[aware] = pd.to_datetime(obj[aware], utc=True, format="ISO8601", errors="coerce")
        if naive.any():
            local = pd.to_datetime(obj[naive], format="ISO8601", errors="coerce")
            out[naive] = local.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        problems.append((~null & _b(out.isna()), f"cast_error:{name}"))
        return out, null, problems
    tz = s.dtype.pyarrow_dtype.tz
    if tz is None:  # naive Parquet timestamps are in the declared source zone
        lo, hi = _NS_MIN.tz_localize(None), _NS_MAX.tz_localize(None)
    else:
        lo, hi = _NS_MIN, _NS_MAX
    oob = ~null & (_b(s < lo) | _b(s > hi))
    problems.append((oob, "ts_out_of_range"))
    kept = _arrow(s.mask(oob) if oob.any() else s)
    if tz is None:
        local = kept.cast(pa.timestamp("ns")).to_pandas()
        out = local.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT")
        problems.append((~null & ~oob & _b(out.isna()), f"cast_error:{name}"))
        out = out.dt.tz_convert("UTC")
    else:
        # pyarrow casts the column without materialising Python objects (pandas' astype does, 10x slower)
        out = kept.cast(pa.timestamp("ns", tz="UTC")).to_pandas()
    return out.set_axis(s.index), null, problems


def _validate(
    fd: _FileData, contract: Contract, start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
) -> tuple[pd.DataFrame, _Reasons]:
    """Cast every column and give each bad row its first reason, in priority order."""
    n = len(fd.raw)
    reasons = _Reasons(n)
    values: dict[str, pd.Series] = {}
    nulls: dict[str, np.ndarray] = {}
    problems: list[tuple[np.ndarray, str]] = []
    for col in contract.columns:
        values[col.name], nulls[col.name], probs = _cast(fd.raw[col.name], col, contract.time_zone)
        problems += probs
    if fd.pre_reason is not None:
        reasons.add(pd.notna(fd.pre_reason), fd.pre_reason)
    for name in contract.null_key_columns:
        reasons.add(nulls[name], f"null_key:{name}")
    for mask, text in problems:
        reasons.add(mask, text)
    for col in contract.columns:
        if not col.nullable:
            reasons.add(nulls[col.name], f"null_value:{col.name}")
    for col in contract.columns:
        if col.dtype == "TIMESTAMPTZ":
            ts = values[col.name]
            reasons.add(_b(ts < TS_FLOOR) | _b(ts > now), "ts_out_of_range")
    if contract.ts_column is not None:
        ts = values[contract.ts_column]
        reasons.add(_b(ts < start) | _b(ts >= end), "ts_out_of_range")
    for earlier, later in contract.ts_order:
        reasons.add(_b(values[earlier] > values[later]), "ts_out_of_range")
    frame = pd.DataFrame(values)
    frame["source_row"] = fd.source_row
    return frame, reasons


def _check_unique_key(frame: pd.DataFrame, contract: Contract, rel: str) -> None:
    """A repeated key in a snapshot source (CRM) makes the write-back ambiguous: REJECT."""
    keys = frame[list(contract.key)]
    present = keys.notna().all(axis=1).to_numpy()
    dup = _b(keys.duplicated(keep=False)) & present
    if dup.any():
        sub = frame.loc[dup, [*contract.key, "source_row"]]
        first = sub.iloc[0]
        key_txt = ", ".join(f"{k}={first[k]!r}" for k in contract.key)
        lines = sub.loc[(sub[list(contract.key)] == first[list(contract.key)]).all(axis=1), "source_row"]
        raise ContractError(
            f"{rel}: duplicate key {key_txt} on lines {', '.join(map(str, lines.tolist()[:10]))} "
            f"({int(dup.sum())} rows share a key); the snapshot is ambiguous"
        )


# --------------------------------------------------------------------------------------------- assembly


def _empty_rows(contract: Contract) -> pd.DataFrame:
    dtypes = {"VARCHAR": STR, "BIGINT": "Int64", "DOUBLE": "Float64", "DATE": DATE, "TIMESTAMPTZ": TS}
    frame = pd.DataFrame({c.name: pd.Series(dtype=dtypes[c.dtype]) for c in contract.columns})
    frame["source_row"] = pd.Series(dtype="int64")
    frame["source_file"] = pd.Series(dtype=STR)
    return frame


def _dedupe(rows: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Drop exact repeats of a key (keep the first); return rows whose key repeats with a different payload."""
    key = list(contract.key)
    # hash group-by in pyarrow finds the few repeated keys among millions without Python objects
    keys = pa.table({k: _arrow(rows[k]) for k in key})
    counts = keys.group_by(key).aggregate([([], "count_all")])
    repeated_keys = counts.filter(pc.greater(counts["count_all"], 1))
    if not repeated_keys.num_rows:
        return rows, 0, rows.iloc[0:0]
    if len(key) == 1:
        repeated = _b(pc.is_in(keys[key[0]], value_set=repeated_keys[key[0]]).to_numpy(zero_copy_only=False))
    else:
        repeated = _b(rows.duplicated(subset=key, keep=False))
    sub = rows[repeated]
    exact = _b(sub.duplicated(subset=list(contract.names), keep="first"))
    remaining = sub[~exact]
    conflicts = remaining[_b(remaining.duplicated(subset=key, keep=False))]
    drop = sub.index[exact].union(conflicts.index)
    return rows.drop(index=drop), int(exact.sum()), conflicts


def _normalise_now(now: datetime | None) -> pd.Timestamp:
    ts = pd.Timestamp(datetime.now(UTC) if now is None else now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_week(
    source: str,
    landing_dir: Path,
    week_start: date,
    *,
    now: datetime | None = None,
    reject_rate: float = 0.2,
) -> LoadResult:
    """Read, validate and reconcile one week of ``source`` from the landing directory.

    Returns typed rows (contract columns + ``week_start``, ``source_file``, ``source_row``) and quarantine rows
    with reasons. Raises :class:`ContractError` (naming the file) for a missing required column, an unreadable
    Parquet file, a duplicate key in a snapshot source, or a file whose quarantined share exceeds
    ``reject_rate``. ``now`` (default: current UTC time) bounds timestamps so future events are quarantined.
    """
    contract = get_contract(source)
    week_start = _as_week_start(week_start)
    if not 0.0 <= reject_rate <= 1.0:
        raise ValueError(f"reject_rate must be within [0, 1], got {reject_rate}")
    root = _landing_root(landing_dir)
    now_ts = _normalise_now(now)
    start = pd.Timestamp(week_start, tz="UTC")
    end = start + pd.Timedelta(days=7)
    reader = _READERS[contract.file_format]

    paths = week_files(source, root, week_start)
    files = [p.relative_to(root).as_posix() for p in paths]
    warnings: list[str] = []
    if contract.cadence == "day" and len(paths) < 7:
        missing = sorted({contract.file_name(week_start + timedelta(days=i)) for i in range(7)} - set(files))
        warnings.append(f"{source}: {len(missing)} day file(s) missing: {', '.join(missing)}")
    elif not paths:
        warnings.append(f"{source}: no file for week {week_start} ({contract.file_name(week_start)})")

    parts: list[pd.DataFrame] = []
    quarantine: list[tuple[str, int, str, str]] = []
    rows_in_by_file: dict[str, int] = {}
    for path, rel in zip(paths, files, strict=True):
        fd = reader(path.resolve(), rel, contract)
        warnings += fd.warnings
        rows_in_by_file[rel] = fd.rows_in
        quarantine += [(rel, line, reason, record) for line, reason, record in fd.bad_lines]
        frame, reasons = _validate(fd, contract, start, end, now_ts)
        if contract.duplicate_key == "reject":
            _check_unique_key(frame, contract, rel)
        pos = np.flatnonzero(reasons.flagged)
        if len(pos):
            quarantine += list(zip([rel] * len(pos), fd.source_row[pos].tolist(),
                                   reasons.text[pos].tolist(), fd.records(pos), strict=True))
        keep = frame[~reasons.flagged] if len(pos) else frame
        source_file = pd.Series(pa.repeat(pa.scalar(rel, pa.string()), len(keep)), dtype=STR, index=keep.index)
        parts.append(keep.assign(source_file=source_file))

    rows = pd.concat(parts, ignore_index=True) if parts else _empty_rows(contract)
    duplicates = 0
    if contract.duplicate_key == "dedupe" and len(rows):
        rows, duplicates, conflicts = _dedupe(rows, contract)
        if duplicates:
            warnings.append(f"{source}: {duplicates} exact duplicate {'/'.join(contract.key)} row(s) dropped")
        if len(conflicts):
            warnings.append(f"{source}: {len(conflicts)} row(s) share a {'/'.join(contract.key)} with a "
                            "different payload; all copies quarantined as duplicate_key_conflict")
            payload = conflicts[list(contract.names)]
            quarantine += [
                (rel, int(line), "duplicate_key_conflict", _dumps(dict(zip(payload.columns, rec, strict=True))))
                for rel, line, rec in zip(conflicts["source_file"], conflicts["source_row"],
                                          payload.itertuples(index=False), strict=True)
            ]

    _check_reject_rate(quarantine, rows_in_by_file, reject_rate)

    n = len(rows)
    rows["week_start"] = pd.Series(pa.repeat(pa.scalar(week_start, pa.date32()), n), dtype=DATE, index=rows.index)
    rows = rows[[*contract.names, "week_start", "source_file", "source_row"]].reset_index(drop=True)
    rows["source_row"] = rows["source_row"].astype("int64")
    q = pd.DataFrame(quarantine, columns=["source_file", "source_row", "reason", "record"])
    q = q.sort_values(["source_file", "source_row"], kind="mergesort").reset_index(drop=True)
    q.insert(0, "week_start", pd.Series([week_start] * len(q), dtype=DATE))
    q.insert(0, "source", source)
    q["source_row"] = q["source_row"].astype("int64")
    q = q[[name for name, _ in QUARANTINE_COLUMNS]]
    return LoadResult(source=source, week_start=week_start, rows=rows, quarantine=q, files=files,
                      rows_in=sum(rows_in_by_file.values()), duplicates_dropped=duplicates, warnings=warnings)


def _check_reject_rate(
    quarantine: list[tuple[str, int, str, str]], rows_in_by_file: dict[str, int], reject_rate: float
) -> None:
    """REJECT a file whose quarantined share is implausible: it is a broken export, not a few bad rows.

    A wholly unparseable file is already one quarantine row and is left to the downstream volume check.
    """
    by_file: dict[str, Counter[str]] = {}
    for rel, _, reason, _ in quarantine:
        if reason != UNPARSEABLE:
            by_file.setdefault(rel, Counter())[reason] += 1
    for rel, counts in sorted(by_file.items()):
        total, n_in = sum(counts.values()), rows_in_by_file.get(rel, 0)
        if n_in and total / n_in > reject_rate:
            top = ", ".join(f"{r}={c}" for r, c in counts.most_common(5))
            raise ContractError(
                f"{rel}: {total} of {n_in} rows quarantined ({total / n_in:.1%} > {reject_rate:.0%}); "
                f"top reasons: {top}"
            )
