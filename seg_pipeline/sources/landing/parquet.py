"""Parquet landing files: the footer decides the columns and how each is read; DuckDB reads the rows.

Only the footer (schema and row count) is read in Python, with pyarrow: it names the Parquet type of a wrong
column exactly and fails fast on a file that is not Parquet at all. The rows themselves never leave DuckDB
(``read_parquet`` inside the staging INSERT, see :mod:`.stage`).
"""

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from seg_pipeline.sources.contracts import Column, Contract, ContractError
from seg_pipeline.sources.landing.filedata import check_header
from seg_pipeline.sources.landing.sql_rules import ABSENT, DATE_T, FLOAT, INT, TEXT, TS_AWARE, TS_NAIVE

_CAUSE_CHARS = 160


def short(exc: BaseException) -> str:
    """Return the first line of a library's error, short enough for a one-line reason."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= _CAUSE_CHARS else text[: _CAUSE_CHARS - 1] + "…"


@dataclass
class ParquetLayout:
    """How to read one Parquet file: per contract column its kind (``sql_rules``), the row count, warnings."""

    kinds: dict[str, str]
    num_rows: int
    warnings: list[str]


class NotParquet(Exception):
    """The file is not readable Parquet; the message completes "is not valid Parquet: ..."."""


def layout(path: Path, rel: str, contract: Contract) -> ParquetLayout:
    """Read the footer: reject a missing required column or a wrong type (ContractError), classify the rest."""
    with path.open("rb") as fh:
        if not fh.read(1):
            # a valid Parquet file without rows still has a schema and a footer: zero bytes is a broken write
            raise NotParquet("the file is empty (0 bytes)")
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # pyarrow raises several exception types for corrupt files
        raise NotParquet(short(exc)) from exc
    warnings: list[str] = []
    present = check_header(contract, schema.names, rel, warnings)
    kinds = {c.name: ABSENT for c in contract.columns}
    for name in present:
        kinds[name] = _kind(schema.field(name).type, contract.column(name), rel)
    return ParquetLayout(kinds, meta.num_rows, warnings)


def _kind(typ: pa.DataType, col: Column, rel: str) -> str:
    """How a Parquet column is read for its contract type, or reject the file (schema mismatch)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if (
        pa.types.is_null(typ)
        or pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_string_view(typ)
    ):
        return TEXT
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
        return TEXT  # integer ids read as their text
    if pa.types.is_integer(typ):
        return INT
    if pa.types.is_date(typ):
        return DATE_T
    if pa.types.is_timestamp(typ):
        return TS_AWARE if typ.tz is not None else TS_NAIVE
    return FLOAT


def raw_select(contract: Contract, kinds: dict[str, str]) -> str:
    """Project ``read_parquet($path, ...)`` onto the raw columns ``r<i>`` + ``source_row`` + ``pre_reason``."""
    cols = []
    for i, col in enumerate(contract.columns):
        kind = kinds[col.name]
        if kind == ABSENT:
            cols.append(f"NULL::VARCHAR AS r{i}")
        elif kind == TEXT:
            cols.append(f"CAST({_quoted(col.name)} AS VARCHAR) AS r{i}")
        else:
            cols.append(f"{_quoted(col.name)} AS r{i}")
    # column names come from the contract (allow-listed); the path is a bound parameter
    return (
        f"(SELECT {', '.join(cols)}, file_row_number + 1 AS source_row, NULL::VARCHAR AS pre_reason "  # noqa: S608
        "FROM read_parquet($path, file_row_number = true))"
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
