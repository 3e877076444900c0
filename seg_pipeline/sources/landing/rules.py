"""The contract rules applied to read rows: one quarantine reason per bad row, keys, and when to REJECT a file."""

from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from seg_pipeline.sources.contracts import FILE_REASONS, NUL_BYTE, Contract, ContractError
from seg_pipeline.sources.landing.cast import Problems, arrow, cast, mask
from seg_pipeline.sources.landing.filedata import FileData

# Timestamps before this are treated as broken clocks / epoch defaults, never as real activity.
TS_FLOOR = pd.Timestamp("2000-01-01", tz="UTC")


class Reasons:
    """First reason wins, so checks are applied in priority order."""

    def __init__(self, n: int) -> None:
        """Start with ``n`` rows and no reasons."""
        self.text = np.full(n, None, dtype=object)
        self.flagged = np.zeros(n, dtype=bool)

    def add(self, where: np.ndarray, text: str | np.ndarray) -> None:
        """Give the rows in ``where`` that have no reason yet the reason ``text``."""
        m = where & ~self.flagged
        if m.any():
            self.text[m] = text[m] if isinstance(text, np.ndarray) else text
            self.flagged |= m


def validate(
    fd: FileData, contract: Contract, start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp,
    day: date | None = None,
) -> tuple[pd.DataFrame, Reasons]:
    """Cast every column and give each bad row its first reason, in priority order.

    Order: reading problems, NUL bytes in text, null keys, cast/domain problems, nulls in non-nullable columns,
    implausible timestamps, outside the week (or, for daily aggregates, not the file's ``day``), timestamps out of
    order.
    """
    reasons = Reasons(len(fd.raw))
    values: dict[str, pd.Series] = {}
    nulls: dict[str, np.ndarray] = {}
    problems: Problems = []
    for col in contract.columns:
        values[col.name], nulls[col.name], probs = cast(fd.raw[col.name], col, contract.time_zone)
        problems += probs
    if fd.pre_reason is not None:
        reasons.add(pd.notna(fd.pre_reason), fd.pre_reason)
    for name, where in nul_bytes(fd.raw).items():
        reasons.add(where, f"{NUL_BYTE}:{name}")
    for name in contract.null_key_columns:
        reasons.add(nulls[name], f"null_key:{name}")
    for problem, text in problems:
        reasons.add(problem, text)
    for col in contract.columns:
        if not col.nullable:
            reasons.add(nulls[col.name], f"null_value:{col.name}")
    for col in contract.columns:
        if col.dtype == "TIMESTAMPTZ":
            ts = values[col.name]
            reasons.add(mask(ts < TS_FLOOR) | mask(ts > now), "ts_out_of_range")
    if contract.ts_column is not None:
        ts = values[contract.ts_column]
        reasons.add(mask(ts < start) | mask(ts >= end), "ts_out_of_range")
    if contract.day_column is not None:
        reasons.add(_not_on_day(values[contract.day_column], day, now), "ts_out_of_range")
    for earlier, later in contract.ts_order:
        reasons.add(mask(values[earlier] > values[later]), "ts_out_of_range")
    frame = pd.DataFrame(values)
    frame["source_row"] = fd.source_row
    return frame, reasons


def nul_bytes(raw: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per text column of the file as read, the rows holding a NUL byte (CSV, JSON and Parquet alike)."""
    found: dict[str, np.ndarray] = {}
    for name in raw.columns:
        s = raw[name]
        if not (isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype)):
            continue
        data = arrow(s)
        if not any(_has_zero_byte(chunk) for chunk in data.chunks):  # a byte scan, 10x faster than per value
            continue
        where = mask(pc.match_substring(data, "\x00").to_numpy(zero_copy_only=False))
        if where.any():
            found[str(name)] = where
    return found


def _has_zero_byte(chunk: pa.Array) -> bool:
    """Whether the value bytes of a string array hold a zero byte (a superset test: a slice may share a buffer)."""
    values = chunk.buffers()[2]
    return values is not None and bool((np.frombuffer(values, dtype=np.uint8) == 0).any())


def _not_on_day(days: pd.Series, day: date | None, now: pd.Timestamp) -> np.ndarray:
    """Rows of a daily file whose date is not the file's day, or lies in the future (a broken export clock)."""
    as_ts = pd.to_datetime(days.astype("datetime64[ms]"), errors="coerce")
    outside = mask(as_ts > now.tz_localize(None).normalize())
    if day is not None:
        outside |= mask(as_ts != pd.Timestamp(day))
    found: np.ndarray = outside & mask(days.notna())
    return found


def check_unique_key(frame: pd.DataFrame, contract: Contract, rel: str) -> None:
    """Reject a repeated key in a snapshot source (CRM): it makes the write-back ambiguous."""
    keys = frame[list(contract.key)]
    present = keys.notna().all(axis=1).to_numpy()
    dup = mask(keys.duplicated(keep=False)) & present
    if dup.any():
        sub = frame.loc[dup, [*contract.key, "source_row"]]
        first = sub.iloc[0]
        key_txt = ", ".join(f"{k}={first[k]!r}" for k in contract.key)
        lines = sub.loc[(sub[list(contract.key)] == first[list(contract.key)]).all(axis=1), "source_row"]
        raise ContractError(
            f"{rel}: duplicate key {key_txt} on lines {', '.join(map(str, lines.tolist()[:10]))} "
            f"({int(dup.sum())} rows share a key); the snapshot is ambiguous"
        )


def dedupe(rows: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Drop exact repeats of a key (keep the first); return rows whose key repeats with a different payload."""
    key = list(contract.key)
    # hash group-by in pyarrow finds the few repeated keys among millions without Python objects
    keys = pa.table({k: arrow(rows[k]) for k in key})
    counts = keys.group_by(key).aggregate([([], "count_all")])
    repeated_keys = counts.filter(pc.greater(counts["count_all"], 1))
    if not repeated_keys.num_rows:
        return rows, 0, rows.iloc[0:0]
    if len(key) == 1:
        repeated = mask(pc.is_in(keys[key[0]], value_set=repeated_keys[key[0]]).to_numpy(zero_copy_only=False))
    else:
        repeated = mask(rows.duplicated(subset=key, keep=False))
    sub = rows[repeated]
    exact = mask(sub.duplicated(subset=list(contract.names), keep="first"))
    remaining = sub[~exact]
    conflicts = remaining[mask(remaining.duplicated(subset=key, keep=False))]
    drop = sub.index[exact].union(conflicts.index)
    return rows.drop(index=drop), int(exact.sum()), conflicts


def check_reject_rate(
    quarantine: list[tuple[str, int, str, str]], rows_in_by_file: dict[str, int], reject_rate: float
) -> None:
    """REJECT a file whose quarantined share is implausible: it is a broken export, not a few bad rows.

    A file that gave no rows at all is one quarantine row and blocks the week through ``landing_files_readable``.
    """
    by_file: dict[str, Counter[str]] = {}
    for rel, _, reason, _ in quarantine:
        if reason not in FILE_REASONS:
            by_file.setdefault(rel, Counter())[reason] += 1
    for rel, counts in sorted(by_file.items()):
        total, n_in = sum(counts.values()), rows_in_by_file.get(rel, 0)
        if n_in and total / n_in > reject_rate:
            top = ", ".join(f"{r}={c}" for r, c in counts.most_common(5))
            raise ContractError(
                f"{rel}: {total} of {n_in} rows quarantined ({total / n_in:.1%} > {reject_rate:.0%}); "
                f"top reasons: {top}"
            )
