"""Landing-zone readers: one week of landing files → typed raw rows + quarantine rows with reasons.

Implements the raw-layer half of RELIABILITY.md "Bad inputs": nothing is lost silently. Every row read ends up in
exactly one of ``rows``, ``quarantine`` or ``duplicates_dropped`` (``rows_in`` reconciles them), and anything that
makes the week ambiguous raises :class:`ContractError` before the caller writes a byte.

Product events (millions of rows) stay columnar (pyarrow-backed pandas, vectorised masks); the small CSV/JSONL
sources are split into lines in Python so a bad line is quarantined by its physical line number.

Modules: :mod:`.files` (which files make a week), :mod:`.readers` (one file → raw string columns),
:mod:`.cast` (raw column → contract type + problems), :mod:`.rules` (reasons, keys, reject rate) and
:mod:`.load` (:func:`load_week`, which puts them together).
"""

from seg_pipeline.sources.contracts import SOURCES, ContractError
from seg_pipeline.sources.landing.files import week_files
from seg_pipeline.sources.landing.load import LoadResult, load_week

__all__ = [
    "SOURCES",
    "ContractError",
    "LoadResult",
    "load_week",
    "week_files",
]
