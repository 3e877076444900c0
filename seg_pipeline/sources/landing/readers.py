"""One CSV or JSON-lines landing file → :class:`FileData` of all-text columns (Parquet never comes here).

Readers only split the container into physical lines, so a broken line becomes a ``malformed_line`` quarantine
row with its line number (DuckDB's CSV reader numbers no good row and reads an unterminated quote as a value); the
text columns are then cast and checked in SQL (:mod:`.sql_rules`). A file that gives no rows at all (zero bytes, a
header only, not the format its name says) carries a :class:`FileProblem` the loader quarantines and blocks the
week on; a file missing a required column raises :class:`ContractError`.
"""

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seg_pipeline.sources.contracts import EMPTY_FILE, UNPARSEABLE_FILE, Contract
from seg_pipeline.sources.landing.filedata import FileData, FileProblem, check_header, string_frame
from seg_pipeline.sources.landing.records import dumps, frame_records, line_record

_BOM = b"\xef\xbb\xbf"
_DELIMITERS = (",", ";", "\t", "|")
_MAX_RECORD_LINES = 50  # a quoted field may span lines, but an unclosed quote must not swallow the file
_CAUSE_CHARS = 160


def _short(exc: BaseException) -> str:
    """Return the first line of a library's error, short enough for a one-line reason."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= _CAUSE_CHARS else text[: _CAUSE_CHARS - 1] + "…"


def _no_rows(rel: str, contract: Contract, reason: str, text: str, head: bytes) -> FileData:
    """Return an empty frame carrying the problem of a file that gave no rows (the loader quarantines or warns)."""
    record = dumps({"file": rel, "problem": text, "head": head[:200].decode("utf-8", errors="backslashreplace")})
    empty = string_frame(contract, {}, 0)
    return FileData(rel=rel, raw=empty, source_row=np.zeros(0, dtype=np.int64), records=frame_records(empty),
                    problem=FileProblem(reason, text, record))


# --------------------------------------------------------------------------------------------- text files


def _split_lines(data: bytes) -> list[bytes]:
    r"""Split into physical lines (\n, \r\n or \r), BOM removed; index i is line i + 1."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    return data.splitlines()


def _decode_line(raw: bytes) -> str | None:
    """UTF-8 text of a line, or None. A NUL byte decodes: the rules quarantine it per field (``nul_byte:<col>``)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --------------------------------------------------------------------------------------------- csv


def _detect_delimiter(header: str, contract: Contract) -> tuple[str, list[str]] | None:
    """Pick the delimiter whose header split names the most contract columns, with those names."""
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


def read_csv(path: Path, rel: str, contract: Contract) -> FileData:
    """Read a CSV landing file line by line, so a malformed line is quarantined instead of failing the file."""
    data = path.read_bytes()
    lines = _split_lines(data)
    if not any(line.strip() for line in lines):
        text = "is empty (0 bytes)" if not data else "has only blank lines"
        return _no_rows(rel, contract, EMPTY_FILE, text, data)
    header = _decode_line(lines[0])
    if header is None or "\x00" in header:
        return _no_rows(rel, contract, UNPARSEABLE_FILE, "is not valid CSV: the header line is not UTF-8 text", data)
    dialect = _detect_delimiter(header, contract)
    if dialect is None:
        return _no_rows(rel, contract, UNPARSEABLE_FILE,
                        "is not valid CSV: no contract column in the header line", data)
    delim, names = dialect
    warnings: list[str] = []
    if delim != ",":
        warnings.append(f"{rel}: delimiter {delim!r} detected instead of ','")
    present = check_header(contract, names, rel, warnings)
    index = {name: names.index(name) for name in present}
    fields_by_row, rows, bad = _csv_rows(lines, delim, len(names))
    columns = {name: [f[idx] or None for f in fields_by_row] for name, idx in index.items()}
    raw_frame = string_frame(contract, columns, len(rows))

    def records(pos: np.ndarray) -> list[str]:
        return [dumps(dict(zip(names, fields_by_row[p], strict=True))) for p in pos]

    problem = None if rows or bad else FileProblem(EMPTY_FILE, "has a header but no rows",
                                                   dumps({"file": rel, "problem": "has a header but no rows"}))
    return FileData(rel=rel, raw=raw_frame, source_row=np.asarray(rows, dtype=np.int64), records=records,
                    bad_lines=bad, rows_in=len(rows) + len(bad), warnings=warnings, problem=problem)


def _csv_rows(lines: list[bytes], delim: str, width: int
              ) -> tuple[list[list[str]], list[int], list[tuple[int, str, str]]]:
    """Split the data lines after the header into (fields per row, line number per row, malformed lines)."""
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
            bad.append((line_no, "malformed_line", line_record(raw)))
            continue
        if text.count('"') % 2:
            joined = _join_quoted(lines, i, text)
            if joined is None:
                bad.append((line_no, "malformed_line", line_record(raw)))
                continue
            text, i = joined
        fields = _parse_record(text, delim, width)
        if fields is None:
            bad.append((line_no, "malformed_line", line_record(raw)))
            continue
        fields_by_row.append(fields)
        rows.append(line_no)
    return fields_by_row, rows, bad


def _join_quoted(lines: list[bytes], start: int, first: str) -> tuple[str, int] | None:
    """Join the lines after an open quoted field until it closes -> (record text, next line index).

    None when the quote never closes within ``_MAX_RECORD_LINES`` (or hits an undecodable line).
    """
    parts, j = [first], start
    while j < len(lines) and j - start < _MAX_RECORD_LINES and sum(p.count('"') for p in parts) % 2:
        nxt = _decode_line(lines[j])
        if nxt is None:
            break
        parts.append(nxt)
        j += 1
    if sum(p.count('"') for p in parts) % 2:
        return None
    return "\n".join(parts), j


def _parse_record(text: str, delim: str, width: int) -> list[str] | None:
    """Parse the fields of one CSV record, or None unless it is exactly one record of ``width`` fields."""
    try:
        parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True))
    except csv.Error:
        return None
    if len(parsed) != 1 or len(parsed[0]) != width:
        return None
    return parsed[0]


# --------------------------------------------------------------------------------------------- json lines


def _json_scalar(value: Any) -> tuple[str | None, bool]:
    """JSON value → (text for the string caster, ok). Objects, arrays and booleans never fit a contract column."""
    if value is None:
        return None, True
    if isinstance(value, str):
        return value, True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, False
    return repr(value) if isinstance(value, float) else str(value), True


def read_jsonl(path: Path, rel: str, contract: Contract) -> FileData:
    """Read a JSON-lines landing file; lines that are not JSON objects are quarantined."""
    data = path.read_bytes()
    lines = _split_lines(data)
    if not any(line.strip() for line in lines):
        return _no_rows(rel, contract, EMPTY_FILE, "is empty (0 bytes)" if not data else "has only blank lines", data)
    objects, rows, bad = _json_objects(lines)
    if not objects:
        return _no_rows(rel, contract, UNPARSEABLE_FILE, "is not valid JSON lines: no line is a JSON object", data)
    warnings: list[str] = []
    if objects:
        keys: set[str] = set()
        for obj in objects:
            keys.update(obj)
        check_header(contract, sorted(keys), rel, warnings)
    n = len(objects)
    columns, pre = _json_columns(contract, objects)

    def records(pos: np.ndarray) -> list[str]:
        return [dumps(objects[p]) for p in pos]

    return FileData(rel=rel, raw=string_frame(contract, columns, n), source_row=np.asarray(rows, dtype=np.int64),
                    records=records, pre_reason=pre, bad_lines=bad, rows_in=n + len(bad), warnings=warnings)


def _json_objects(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[int], list[tuple[int, str, str]]]:
    """(one JSON object per good line, its line number, malformed lines)."""
    objects: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        text = _decode_line(raw)
        obj: Any = None
        if text is not None:
            try:
                obj = json.loads(text, strict=False)  # a raw control character (NUL) in a string: per field
            except ValueError:
                obj = None
        if not isinstance(obj, dict):
            bad.append((i + 1, "malformed_line", line_record(raw)))
            continue
        objects.append(obj)
        rows.append(i + 1)
    return objects, rows, bad


def _json_columns(contract: Contract, objects: list[dict[str, Any]]
                  ) -> tuple[dict[str, list[str | None]], np.ndarray]:
    """Contract columns as text, and per row the first column holding a non-scalar (``cast_error:<col>``)."""
    pre = np.full(len(objects), None, dtype=object)
    columns: dict[str, list[str | None]] = {}
    for name in contract.names:
        values: list[str | None] = []
        for r, obj in enumerate(objects):
            text, ok = _json_scalar(obj.get(name))
            if not ok and pre[r] is None:
                pre[r] = f"cast_error:{name}"
            values.append(text)
        columns[name] = values
    return columns, pre


# Parquet has no reader here: its rows never leave DuckDB (see parquet.py and stage.py).
READERS: dict[str, Callable[[Path, str, Contract], FileData]] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
}
