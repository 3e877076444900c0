"""Raw column → contract type, with a mask per problem (the quarantine reasons of the rows it touches).

Text columns (CSV, JSON lines) arrive as pyarrow strings; Parquet columns arrive typed (see
:func:`seg_pipeline.sources.landing.readers.read_parquet`). Casting never raises for a bad value: it returns
null for it plus a ``(mask, reason)`` problem.
"""

import typing
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from seg_pipeline.sources.contracts import Column
from seg_pipeline.sources.landing.filedata import DATE, STR, TS

Problems = list[tuple[np.ndarray, str]]

_NON_FINITE = r"(?i)[+-]?(?:nan|inf|infinity)"
_TZ_SUFFIX = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_NS_MIN = pd.Timestamp.min.tz_localize("UTC")
_NS_MAX = pd.Timestamp.max.tz_localize("UTC")


def mask(values: Any) -> np.ndarray:
    """Boolean mask as numpy, nulls (from pyarrow-backed comparisons) as False."""
    if isinstance(values, pd.Series):
        filled: np.ndarray = values.fillna(False).to_numpy(dtype=bool)
        return filled
    return np.asarray(values, dtype=bool)


def arrow(s: pd.Series) -> pa.ChunkedArray:
    """Return the pyarrow data behind a column (no copy for pyarrow-backed columns)."""
    if isinstance(s.dtype, pd.ArrowDtype):
        return pa.chunked_array(s.array.__arrow_array__())
    return pa.chunked_array([pa.Array.from_pandas(s)])


def _is_string(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype)


def cast(s: pd.Series, col: Column, time_zone: str) -> tuple[pd.Series, np.ndarray, Problems]:
    """Cast one raw column to the contract type: (values, null mask, [(problem mask, reason), ...]).

    Empty text is null; text of non-text columns is stripped first. ``time_zone`` is the zone of naive
    timestamps.
    """
    if _is_string(s):
        if col.dtype != "VARCHAR":
            s = s.str.strip()
        null = mask(s.isna()) | mask(s == "")
    else:
        null = mask(s.isna())
    if col.dtype == "VARCHAR":
        return _cast_varchar(s, col, null)
    if col.dtype in ("BIGINT", "DOUBLE"):
        return _cast_number(s, col, null)
    if col.dtype == "DATE":
        return _cast_date(s, col, null)
    if _is_string(s):
        return _cast_timestamp_text(s, col, null, time_zone)
    return _cast_timestamp_arrow(s, col, null, time_zone)


def _cast_varchar(s: pd.Series, col: Column, null: np.ndarray) -> tuple[pd.Series, np.ndarray, Problems]:
    values = s.mask(null) if null.any() else s
    values = values.astype(STR)
    problems: Problems = []
    if col.allowed is not None:
        problems.append((~null & ~mask(values.isin(col.allowed)), f"out_of_domain:{col.name}"))
    return values, null, problems


def _cast_number(s: pd.Series, col: Column, null: np.ndarray) -> tuple[pd.Series, np.ndarray, Problems]:
    """BIGINT/DOUBLE: unparseable and fractional-for-BIGINT are cast errors; NaN/inf are ``non_finite``."""
    name = col.name
    if _is_string(s):
        non_finite_text = mask(s.str.fullmatch(_NON_FINITE))
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
    problems: Problems = [(bad, f"cast_error:{name}"), (non_finite, f"non_finite:{name}")]
    ok = finite & ~bad
    with np.errstate(invalid="ignore"):
        low = ok & (vals < col.min) if col.min is not None else np.zeros(len(s), bool)
        high = ok & (vals > col.max) if col.max is not None else np.zeros(len(s), bool)
    problems.append((low | high, f"out_of_domain:{name}"))
    out: pd.Series
    if col.dtype == "BIGINT":
        if not _is_string(s) and pa.types.is_integer(typing.cast(pd.ArrowDtype, s.dtype).pyarrow_dtype):
            out = s.astype("Int64").mask(~ok)
        else:
            out = pd.Series(np.where(ok, vals, np.nan), index=s.index).astype("Int64")
    else:
        out = pd.Series(np.where(ok, vals, np.nan), index=s.index).astype("Float64")
    return out, null, problems


def _cast_date(s: pd.Series, col: Column, null: np.ndarray) -> tuple[pd.Series, np.ndarray, Problems]:
    """DATE: text must be ``YYYY-MM-DD``."""
    problems: Problems = []
    if _is_string(s):
        shaped = mask(s.str.fullmatch(_ISO_DATE))
        parsed = pd.to_datetime(s.astype(object).where(shaped & ~null), format="%Y-%m-%d", errors="coerce")
        problems.append((~null & mask(parsed.isna()), f"cast_error:{col.name}"))
        out = parsed.astype(pd.ArrowDtype(pa.timestamp("ns"))).astype(DATE)
    else:
        out = s.astype(DATE)
    return out, null, problems


def _cast_timestamp_text(s: pd.Series, col: Column, null: np.ndarray, time_zone: str
                         ) -> tuple[pd.Series, np.ndarray, Problems]:
    """ISO-8601 text; an explicit offset wins, naive text is in ``time_zone`` (DST gaps/overlaps: cast error)."""
    obj = s.astype(object)
    aware = ~null & mask(s.str.contains(_TZ_SUFFIX, regex=True))
    naive = ~null & ~aware
    out = pd.Series(pd.NaT, index=s.index, dtype=TS)
    if aware.any():
        out[aware] = pd.to_datetime(obj[aware], utc=True, format="ISO8601", errors="coerce")
    if naive.any():
        local = pd.to_datetime(obj[naive], format="ISO8601", errors="coerce")
        out[naive] = local.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return out, null, [(~null & mask(out.isna()), f"cast_error:{col.name}")]


def _cast_timestamp_arrow(s: pd.Series, col: Column, null: np.ndarray, time_zone: str
                          ) -> tuple[pd.Series, np.ndarray, Problems]:
    """Parquet timestamps: outside pandas' nanosecond range is ``ts_out_of_range``; naive ones are local."""
    tz = typing.cast(pd.ArrowDtype, s.dtype).pyarrow_dtype.tz
    if tz is None:  # naive Parquet timestamps are in the declared source zone
        lo, hi = _NS_MIN.tz_localize(None), _NS_MAX.tz_localize(None)
    else:
        lo, hi = _NS_MIN, _NS_MAX
    oob = ~null & (mask(s < lo) | mask(s > hi))
    problems: Problems = [(oob, "ts_out_of_range")]
    kept = arrow(s.mask(oob) if oob.any() else s)
    if tz is None:
        local = kept.cast(pa.timestamp("ns")).to_pandas()
        out = local.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT")
        problems.append((~null & ~oob & mask(out.isna()), f"cast_error:{col.name}"))
        out = out.dt.tz_convert("UTC")
    else:
        # pyarrow casts the column without materialising Python objects (pandas' astype does, 10x slower)
        out = kept.cast(pa.timestamp("ns", tz="UTC")).to_pandas()
    return out.set_axis(s.index), null, problems
