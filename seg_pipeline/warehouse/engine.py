"""The warehouse engine seam: where the tables live and how a stage opens them (DuckDB, or Spark computing into it).

Stages receive a :class:`Warehouse` (never paths or settings) and open it with :meth:`Warehouse.connect`; one
writer at a time is guaranteed by the Dagster pool, readers use the published snapshot (rule 1). With ``spark``
set (SEG_ENGINE=spark) the SQL models run on Spark into Parquet datasets under the lake, and each week's result is
also loaded into the DuckDB file, so everything downstream reads one place whichever engine computed it
(docs/engines.md).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from seg_pipeline.warehouse.duck import connect, ensure_schemas, publish_snapshot
from seg_pipeline.warehouse.spark_session import SparkConfig


@dataclass(frozen=True)
class Warehouse:
    """A DuckDB warehouse file, its read-only snapshot, the memory cap for SQL models and the optional Spark engine."""

    path: Path
    snapshot_path: Path
    sql_memory_limit: str | None = "128MB"
    spark: SparkConfig | None = None  # None: DuckDB runs the SQL models; else Spark does (SEG_ENGINE=spark)

    @property
    def engine_name(self) -> str:
        """Return ``duckdb`` or ``spark``: which engine computes the SQL models and the model fit."""
        return "duckdb" if self.spark is None else "spark"

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the live file; writers also get every schema and declared table created."""
        with connect(self.path, read_only=read_only) as con:
            if not read_only:
                ensure_schemas(con)
            yield con

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only access for tools outside a run: the snapshot if published (a reader locks out the writer)."""
        path = self.snapshot_path if self.snapshot_path.exists() else self.path
        with connect(path, read_only=True) as con:
            yield con

    def publish_snapshot(self) -> Path:
        """Copy the live file to the read-only snapshot (the single writer calls this)."""
        with connect(self.path) as con:
            return publish_snapshot(con, self.path, self.snapshot_path)
