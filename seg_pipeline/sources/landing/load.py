""":func:`load_week`: read, validate and reconcile one week of one source."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from seg_pipeline.sources.contracts import EMPTY_FILE, QUARANTINE_COLUMNS, Contract, get_contract
from seg_pipeline.sources.landing.filedata import DATE, STR, TS, FileData
from seg_pipeline.sources.landing.files import landing_root, week_files
from seg_pipeline.sources.landing.readers import READERS
from seg_pipeline.sources.landing.records import dumps
from seg_pipeline.sources.landing.rules import check_reject_rate, check_unique_key, dedupe, validate
from seg_pipeline.weeks import parse_week

# (source_file, source_row, reason, record): one quarantine row before it becomes a frame
QuarantineRow = tuple[str, int, str, str]


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
    file_problems: list[str] = field(default_factory=list)  # one sentence per file that blocks the week

    @property
    def reconciled(self) -> bool:
        """``in = loaded + quarantined + deduplicated`` — the invariant the raw-layer check asserts."""
        return self.rows_in == len(self.rows) + len(self.quarantine) + self.duplicates_dropped

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons → counts, for asset metadata."""
        return {str(k): int(v) for k, v in self.quarantine["reason"].value_counts().sort_index().items()}


@dataclass
class _WeekRead:
    """What the files of one week gave before de-duplication."""

    parts: list[pd.DataFrame] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    rows_in_by_file: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)

    def file_problem(self, contract: Contract, fd: FileData) -> None:
        """Warn about an empty file of a source that may be quiet; quarantine any other file without rows whole.

        The quarantine row (``source_row`` 0) counts as one row read, so ``in = loaded + quarantined + duplicates``
        still holds, and the sentence blocks the week through the raw check ``landing_files_readable``.
        """
        if fd.problem is None:
            return
        sentence = f"{contract.source} file landing/{fd.rel} {fd.problem.text}"
        if fd.problem.reason == EMPTY_FILE and contract.empty_file_ok:
            self.warnings.append(sentence)
            return
        self.file_problems.append(sentence)
        self.quarantine.append((fd.rel, 0, fd.problem.reason, fd.problem.record))
        self.rows_in_by_file[fd.rel] = fd.rows_in + 1


def load_week(
    source: str,
    landing_dir: Path,
    week_start: date | str,
    *,
    now: datetime | None = None,
    reject_rate: float = 0.2,
) -> LoadResult:
    """Read, validate and reconcile one week of ``source`` from the landing directory.

    Returns typed rows (contract columns + ``week_start``, ``source_file``, ``source_row``) and quarantine rows
    with reasons; ``file_problems`` names each file that gave no rows (empty, header only, not its format) and
    must block the week. Raises :class:`ContractError` (naming the file) for a missing required column, a Parquet
    column of the wrong type, a duplicate key in a snapshot source, or a file whose quarantined share exceeds
    ``reject_rate``. ``now`` (default: current UTC time) bounds timestamps so future events are quarantined.
    """
    contract = get_contract(source)
    week_start = parse_week(week_start)
    if not 0.0 <= reject_rate <= 1.0:
        raise ValueError(f"reject_rate must be within [0, 1], got {reject_rate}")
    root = landing_root(landing_dir)
    paths = week_files(source, root, week_start)
    files = [p.relative_to(root).as_posix() for p in paths]
    read = _read_week(contract, paths, files, week_start, _normalise_now(now))
    read.warnings[:0] = _missing_file_warnings(contract, week_start, files)
    rows = pd.concat(read.parts, ignore_index=True) if read.parts else _empty_rows(contract)
    duplicates = 0
    if contract.duplicate_key == "dedupe" and len(rows):
        rows, duplicates = _drop_duplicates(rows, contract, read)
    check_reject_rate(read.quarantine, read.rows_in_by_file, reject_rate)
    return LoadResult(source=source, week_start=week_start, rows=_final_rows(rows, contract, week_start),
                      quarantine=_quarantine_frame(read.quarantine, source, week_start), files=files,
                      rows_in=sum(read.rows_in_by_file.values()), duplicates_dropped=duplicates,
                      warnings=read.warnings, file_problems=read.file_problems)


def _normalise_now(now: datetime | None) -> pd.Timestamp:
    ts = pd.Timestamp(datetime.now(UTC) if now is None else now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _missing_file_warnings(contract: Contract, week_start: date, files: list[str]) -> list[str]:
    if contract.one_of_shapes and not files:
        return []
    if contract.cadence == "day" and len(files) < 7:
        missing = sorted({contract.file_name(week_start + timedelta(days=i)) for i in range(7)} - set(files))
        return [f"{contract.source}: {len(missing)} day file(s) missing: {', '.join(missing)}"]
    if not files:
        return [f"{contract.source}: no file for week {week_start} ({contract.file_name(week_start)})"]
    return []


def _read_week(contract: Contract, paths: list[Path], files: list[str], week_start: date,
               now: pd.Timestamp) -> _WeekRead:
    """Read and validate each file: kept rows (with ``source_file``) and quarantine rows with reasons."""
    start = pd.Timestamp(week_start, tz="UTC")
    end = start + pd.Timedelta(days=7)
    reader = READERS[contract.file_format]
    out = _WeekRead()
    file_days = {contract.file_name(week_start + timedelta(days=i)): week_start + timedelta(days=i)
                 for i in range(7)} if contract.cadence == "day" else {}
    for path, rel in zip(paths, files, strict=True):
        fd = reader(path.resolve(), rel, contract)
        out.warnings += fd.warnings
        out.rows_in_by_file[rel] = fd.rows_in
        out.quarantine += [(rel, line, reason, record) for line, reason, record in fd.bad_lines]
        out.file_problem(contract, fd)
        frame, reasons = validate(fd, contract, start, end, now, file_days.get(rel))
        if contract.duplicate_key == "reject":
            check_unique_key(frame, contract, rel)
        pos = np.flatnonzero(reasons.flagged)
        if len(pos):
            out.quarantine += list(zip([rel] * len(pos), fd.source_row[pos].tolist(),
                                       reasons.text[pos].tolist(), fd.records(pos), strict=True))
        keep = frame[~reasons.flagged] if len(pos) else frame
        source_file = pd.Series(pa.repeat(pa.scalar(rel, pa.string()), len(keep)), dtype=STR, index=keep.index)
        out.parts.append(keep.assign(source_file=source_file))
    return out


def _drop_duplicates(rows: pd.DataFrame, contract: Contract, read: _WeekRead) -> tuple[pd.DataFrame, int]:
    """Exact repeats are dropped and counted; a key repeated with a different payload quarantines every copy."""
    source, key = contract.source, "/".join(contract.key)
    rows, duplicates, conflicts = dedupe(rows, contract)
    if duplicates:
        read.warnings.append(f"{source}: {duplicates} exact duplicate {key} row(s) dropped")
    if len(conflicts):
        read.warnings.append(f"{source}: {len(conflicts)} row(s) share a {key} with a "
                             "different payload; all copies quarantined as duplicate_key_conflict")
        payload = conflicts[list(contract.names)]
        read.quarantine += [
            (rel, int(line), "duplicate_key_conflict", dumps(dict(zip(payload.columns, rec, strict=True))))
            for rel, line, rec in zip(conflicts["source_file"], conflicts["source_row"],
                                      payload.itertuples(index=False), strict=True)
        ]
    return rows, duplicates


def _empty_rows(contract: Contract) -> pd.DataFrame:
    dtypes: dict[str, str | pd.ArrowDtype] = {"VARCHAR": STR, "BIGINT": "Int64", "DOUBLE": "Float64", "DATE": DATE,
                                             "TIMESTAMPTZ": TS}
    frame = pd.DataFrame({c.name: pd.Series(dtype=dtypes[c.dtype]) for c in contract.columns})
    frame["source_row"] = pd.Series(dtype="int64")
    frame["source_file"] = pd.Series(dtype=STR)
    return frame


def _final_rows(rows: pd.DataFrame, contract: Contract, week_start: date) -> pd.DataFrame:
    """Contract columns + lineage (``week_start``, ``source_file``, ``source_row``), in the raw table's order."""
    n = len(rows)
    rows["week_start"] = pd.Series(pa.repeat(pa.scalar(week_start, pa.date32()), n), dtype=DATE, index=rows.index)
    rows = rows[[*contract.names, "week_start", "source_file", "source_row"]].reset_index(drop=True)
    rows["source_row"] = rows["source_row"].astype("int64")
    return rows


def _quarantine_frame(quarantine: list[QuarantineRow], source: str, week_start: date) -> pd.DataFrame:
    """Shape the quarantine rows like ``raw.quarantine``, ordered by file and line."""
    q = pd.DataFrame(quarantine, columns=["source_file", "source_row", "reason", "record"])
    q = q.sort_values(["source_file", "source_row"], kind="mergesort").reset_index(drop=True)
    q.insert(0, "week_start", pd.Series([week_start] * len(q), dtype=DATE))
    q.insert(0, "source", source)
    q["source_row"] = q["source_row"].astype("int64")
    return q[[name for name, _ in QUARANTINE_COLUMNS]]
