"""One landing file after reading, before validation, and the column dtypes the loader works with."""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from seg_pipeline.sources.contracts import Contract, ContractError

STR = pd.ArrowDtype(pa.string())
DATE = pd.ArrowDtype(pa.date32())
TS = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class FileProblem:
    """Why a whole file gave no rows.

    ``reason`` is ``empty_file`` or ``unparseable_file``; ``text`` completes the sentence "<source> file <path> ...";
    ``record`` is the quarantine row's JSON (file, problem, first bytes).
    """

    reason: str
    text: str
    record: str


@dataclass
class FileData:
    """One file after reading, before validation: raw values as pyarrow-backed columns.

    ``records`` renders the original rows at given positions (only quarantined rows are ever rendered);
    ``pre_reason`` holds reasons found while reading (a JSON object where a scalar belongs); ``bad_lines`` are
    ``(line, reason, record)`` of lines that never became rows; ``problem`` is set when the whole file gave no rows
    (the loader decides whether that quarantines and blocks, see :class:`FileProblem`).
    """

    rel: str
    raw: pd.DataFrame
    source_row: np.ndarray
    records: Callable[[np.ndarray], list[str]]
    pre_reason: np.ndarray | None = None
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    rows_in: int = 0
    warnings: list[str] = field(default_factory=list)
    problem: FileProblem | None = None


def check_header(contract: Contract, names: Sequence[str], rel: str, warnings: list[str]) -> list[str]:
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


def string_frame(contract: Contract, columns: dict[str, list[str | None]], n: int) -> pd.DataFrame:
    """Every contract column as strings; a column absent from the file is all-null."""
    return pd.DataFrame(
        {name: pd.Series(columns.get(name, [None] * n), dtype=STR) for name in contract.names}
    )
