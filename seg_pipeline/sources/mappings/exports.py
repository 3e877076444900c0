"""Reading export files (CSV/TSV, JSON, JSON lines, optionally gzipped) as records, one :class:`ExportRow` each.

A record that cannot be read is still a row (``record=None`` with a reason), so it is counted and rejected,
never dropped.
"""

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.model import SourceMapping


@dataclass
class ExportRow:
    """One record read from an export file, or the raw text and reason when it could not be read."""

    file: str
    row: int
    record: dict[str, Any] | None
    raw: str | None = None  # the undecodable / unparseable text, for the rejects file
    reason: str | None = None


def input_files(mapping: SourceMapping, import_dir: Path) -> list[Path]:
    """Files matching ``mapping.input``; one resolving outside ``import_dir`` (a symlink) is refused."""
    return matching_files(mapping.input, import_dir, mapping.source)


def matching_files(pattern: str, import_dir: Path, where: str) -> list[Path]:
    """Files matching the glob ``pattern``, sorted; ``where`` (the mapping key) names the setting in errors."""
    root = import_dir.resolve()
    out = []
    for path in sorted(import_dir.glob(pattern)):
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise MappingError(f"{where}.input: {path} resolves outside the import directory; refusing it")
        if resolved.is_file():
            out.append(path)
    return out


def file_format(path: Path, configured: str | None) -> str:
    """``csv``, ``json`` or ``jsonl``: the configured format, else from the extension (``.gz`` ignored)."""
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


def read_rows(path: Path, rel: str, fmt: str) -> Iterator[ExportRow]:
    """Every record of one export file, gunzipped and decoded (UTF-8, BOM allowed)."""
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            yield ExportRow(rel, 0, None, raw=f"cannot gunzip: {exc}", reason="unparseable_file")
            return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield ExportRow(rel, 0, None, raw=f"not UTF-8: {exc}", reason="unparseable_file")
        return
    if fmt == "csv":
        yield from _read_csv(text, rel)
    elif fmt == "json":
        yield from _read_json(text, rel)
    else:
        yield from _read_jsonl(text, rel)


def _read_csv(text: str, rel: str) -> Iterator[ExportRow]:
    """CSV with the delimiter (``, ; tab |``) that splits the header into the most fields."""
    lines = text.splitlines()
    if not lines:
        return
    header_line = lines[0]
    delim = max((",", ";", "\t", "|"), key=lambda d: len(next(csv.reader([header_line], delimiter=d))))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except (csv.Error, StopIteration):
        yield ExportRow(rel, 1, None, raw=header_line, reason="unparseable_file")
        return
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield ExportRow(rel, start, None, raw=lines[start - 1] if start - 1 < len(lines) else "",
                            reason="malformed_line")
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield ExportRow(rel, start, None, raw=delim.join(fields), reason="malformed_line")
            continue
        yield ExportRow(rel, start, dict(zip(header, fields, strict=True)))


def _read_jsonl(text: str, rel: str) -> Iterator[ExportRow]:
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            # a raw control character (NUL) inside a string passes, as it does in CSV: the loader quarantines it
            # per field (``nul_byte:<col>``) whatever the format
            obj = json.loads(line, strict=False)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            yield ExportRow(rel, i, obj)
        else:
            yield ExportRow(rel, i, None, raw=line, reason="malformed_line")


def _read_json(text: str, rel: str) -> Iterator[ExportRow]:
    """Read a JSON array, or an object wrapping one list (``{"tickets": [...]}``); JSON lines named .json also work."""
    try:
        doc = json.loads(text)
    except ValueError:
        yield from _read_jsonl(text, rel)  # Amplitude and Mixpanel name JSON-lines files .json
        return
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        doc = lists[0] if len(lists) == 1 else [doc]
    if not isinstance(doc, list):
        yield ExportRow(rel, 0, None, raw=text[:200], reason="unparseable_file")
        return
    for i, obj in enumerate(doc, start=1):
        if isinstance(obj, dict):
            yield ExportRow(rel, i, obj)
        else:
            yield ExportRow(rel, i, None, raw=json.dumps(obj, default=str)[:2000], reason="malformed_line")
