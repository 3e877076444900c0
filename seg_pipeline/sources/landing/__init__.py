"""Landing-zone readers: one week of landing files → typed raw rows + quarantine rows with reasons.

Implements the raw-layer half of RELIABILITY.md "Bad inputs": nothing is lost silently. Every row read ends up in
exactly one of ``rows``, ``quarantine`` or ``duplicates_dropped`` (``rows_in`` reconciles them), and anything that
makes the week ambiguous raises :class:`ContractError` before the caller writes a byte.

The checks run as DuckDB SQL on the caller's connection, so memory is bounded by DuckDB's ``memory_limit`` (it
spills beyond it), not by the week's size: Parquet rows never leave DuckDB; CSV/JSONL are split into physical lines
in Python first so a bad line is quarantined by its line number, then validated by the same SQL.

Modules: :mod:`.files` (which files make a week), :mod:`.parquet` (footer → how each column is read),
:mod:`.readers` (CSV/JSONL → raw string columns), :mod:`.sql_rules` (the contract as one SELECT: casts, reasons),
:mod:`.stage` (:func:`stage_week`: a week into a staging table, dedup, reject rate) and :mod:`.load`
(:func:`load_week`, the same as pandas frames).
"""

from seg_pipeline.sources.contracts import SOURCES, ContractError
from seg_pipeline.sources.landing.files import week_files
from seg_pipeline.sources.landing.load import LoadResult, load_week
from seg_pipeline.sources.landing.stage import StagedWeek, drop_staged, stage_week

__all__ = [
    "SOURCES",
    "ContractError",
    "LoadResult",
    "StagedWeek",
    "drop_staged",
    "load_week",
    "stage_week",
    "week_files",
]
