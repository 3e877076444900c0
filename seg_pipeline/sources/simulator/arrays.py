"""Columnar text builders: ids, dictionary-encoded labels and ISO timestamps without a Python loop per row."""

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seg_pipeline.sources.simulator.config import EPOCH


def padded_str(values: np.ndarray, width: int) -> pa.Array:
    """Format integers as zero-padded strings of ``width`` characters, vectorised in Arrow."""
    return pc.utf8_lpad(pc.cast(pa.array(values, type=pa.int64()), pa.string()), width=width, padding="0")


def fixed_ids(prefix: str, numbers: np.ndarray, digits: int) -> pa.Array:
    """``prefix`` + zero-padded numbers as a string array, built as one byte buffer (no Python per row)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and numbers.max() >= 10**digits:
        return pc.binary_join_element_wise(prefix, padded_str(numbers, digits), "")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = head.size + digits
    buf = np.empty((numbers.size, width), dtype=np.uint8)
    buf[:, : head.size] = head
    for k in range(digits):
        buf[:, width - 1 - k] = 48 + (numbers // 10**k) % 10
    offsets = np.arange(numbers.size + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.string(), numbers.size, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def dict_array(indices: np.ndarray, dictionary: pa.Array, null: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary-encoded strings: Parquet stores them as dictionary pages without hashing 10 M values."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=null), dictionary)


def account_ids(nums: np.ndarray) -> pa.Array:
    """Format account numbers as ``acc_000123`` ids."""
    return pa.array([f"acc_{x:06d}" for x in nums.tolist()], type=pa.string())


def iso_timestamps(us: np.ndarray) -> np.ndarray:
    """ISO-8601 with an explicit UTC offset, as the ticket contract asks (``2026-01-05T10:00:00+00:00``)."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="s")
    return np.char.add(text, "+00:00").astype(object)


def iso_dates(days: np.ndarray) -> list[str]:
    """Format epoch days as ISO dates."""
    return [(EPOCH + timedelta(days=int(d))).isoformat() for d in days.tolist()]
