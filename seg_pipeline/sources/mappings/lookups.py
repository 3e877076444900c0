"""Joins across export files: keyed lookup tables (``lookups:``) and the per-source ``joins`` that read them.

Product-analytics exports often key usage by subscription, not by the CRM account; a join takes the account id
from the subscriptions export. A key that matches no lookup row rejects the row as ``unresolved_join:<lookup>``
(counted and written to ``import_rejects/``), never a silent drop and never a made-up id.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.exports import file_format, matching_files, read_rows
from seg_pipeline.sources.mappings.model import JOIN_PREFIX, Join, Lookup
from seg_pipeline.sources.mappings.values import as_text, get_path


@dataclass
class LookupTable:
    """One loaded lookup: rows by key text, and the rows that could not be used (unreadable, no key)."""

    name: str
    rows: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    unusable: int = 0


def load_lookup(lookup: Lookup, import_dir: Path) -> LookupTable:
    """Read every file of ``lookup``; a missing key column or a key with two different rows is an error."""
    where = f"lookups.{lookup.name}"
    files = matching_files(lookup.input, import_dir, where)
    if not files:
        raise MappingError(f"{where}.input: no export file matches {lookup.input!r} under {import_dir}; "
                           "fix the glob or add the file")
    table = LookupTable(lookup.name)
    origin: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(import_dir).as_posix()
        table.files.append(rel)
        for row in read_rows(path, rel, file_format(path, lookup.format)):
            if row.record is None:
                table.unusable += 1
                continue
            if lookup.key not in row.record:
                raise MappingError(f"{where}.key: {rel} has no column {lookup.key!r}; set key to one of "
                                   f"{', '.join(map(str, row.record))}")
            key = as_text(row.record[lookup.key])
            if key is None:
                table.unusable += 1
                continue
            seen = table.rows.get(key)
            if seen is not None and seen != row.record:
                raise MappingError(f"{where}: key {key!r} has two different rows ({origin[key]} and {rel} row "
                                   f"{row.row}); a join needs one row per key, so de-duplicate the export")
            table.rows[key] = row.record
            origin[key] = f"{rel} row {row.row}"
    return table


def load_lookups(lookups: Mapping[str, Lookup], used: set[str], import_dir: Path) -> dict[str, LookupTable]:
    """Load the lookups some configured source joins against (others are not read)."""
    return {name: load_lookup(lookup, import_dir) for name, lookup in lookups.items() if name in used}


def apply_joins(record: Mapping[str, Any], joins: tuple[Join, ...], tables: Mapping[str, LookupTable],
                source: str) -> tuple[dict[str, Any] | None, str | None]:
    """Return ``record`` with each join's value added under ``@join:<column>``, or the unresolved lookup."""
    out = dict(record)
    for join in joins:
        key = next((k for p in join.via if (k := as_text(get_path(record, p))) is not None), None)
        row = None if key is None else tables[join.lookup].rows.get(key)
        if row is None:
            return None, f"unresolved_join:{join.lookup}"
        if join.take not in row:
            raise MappingError(f"{source}.joins.{join.column}.column: lookup {join.lookup!r} has no column "
                               f"{join.take!r}; use one of {', '.join(map(str, row))}")
        out[JOIN_PREFIX + join.column] = row[join.take]
    return out, None
