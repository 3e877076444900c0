"""Writing the simulation: landing files named by the contracts, and the truth files, each written atomically.

Event Parquet files are written on one worker thread (pyarrow releases the GIL) while the next day is drawn;
at most two writes wait, so memory stays bounded.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from seg_pipeline.atomic import atomic_write
from seg_pipeline.sources.contracts import SOURCES, get_contract

# truth files only some scenarios write; removed before any simulation so none is left from another scenario
OPTIONAL_TRUTH = ("activity.parquet", "planted_faults.json")


class Sink(Protocol):
    """Where a simulation's days and weeks go: landing files (:class:`LandingWriter`) or an export."""

    counts: dict[str, int]
    weekly_tickets: bool  # whether :meth:`tickets` wants each week's JSON lines

    def events(self, day: date, table: pa.Table) -> None:
        """Take one UTC day of product events."""

    def tickets(self, week: date, rows: str) -> None:
        """Take one week's ticket changes as JSON lines."""

    def crm(self, week: date, frame: pd.DataFrame) -> None:
        """Take one week's CRM snapshot."""

    def close(self) -> None:
        """Finish writing (also called after an error)."""


def _write_parquet(table: pa.Table, path: Path) -> None:
    # store_schema=False: readers see plain strings and timestamp[us, UTC], not the in-memory dictionaries
    pq.write_table(table, path, compression="zstd", store_schema=False)


class LandingWriter:
    """Writes landing files and records them (``files``, row ``counts`` per source); :meth:`close` waits."""

    weekly_tickets = True

    def __init__(self, landing_dir: Path) -> None:
        """Write under ``landing_dir`` on one background thread, so generation and writing overlap."""
        self.landing = landing_dir
        self.files: dict[str, list[Path]] = {s: [] for s in SOURCES}
        self.counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-writer")
        self._pending: list[Future[Path]] = []

    def _path(self, source: str, day: date) -> Path:
        path = self.landing / get_contract(source).file_name(day)
        self.files[source].append(path)
        return path

    def events(self, day: date, table: pa.Table) -> None:
        """One UTC day of product events, written in the background."""
        path = self._path("product_events", day)
        while len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(atomic_write, path, partial(_write_parquet, table)))
        self.counts["product_events"] += table.num_rows

    def tickets(self, week: date, rows: str) -> None:
        """One week of ticket JSON lines (an empty file when nothing changed)."""
        text = rows if not rows or rows.endswith("\n") else rows + "\n"
        atomic_write(self._path("support_tickets", week),
                     lambda p: p.write_text(text, encoding="utf-8", newline="\n"))
        self.counts["support_tickets"] += text.count("\n")

    def crm(self, week: date, frame: pd.DataFrame) -> None:
        """One week's CRM snapshot CSV."""
        atomic_write(self._path("crm_accounts", week),
                     lambda p: frame.to_csv(p, index=False, float_format="%.2f", lineterminator="\n"))
        self.counts["crm_accounts"] += len(frame)

    def close(self) -> None:
        """Wait for the background writes (re-raising their errors) and stop the worker."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True)


def write_truth(truth_dir: Path, tables: dict[str, pa.Table]) -> dict[str, Path]:
    """``<name>.parquet`` per truth table in ``truth_dir``."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    return {name: atomic_write(truth_dir / f"{name}.parquet", partial(_write_parquet, table))
            for name, table in tables.items()}
