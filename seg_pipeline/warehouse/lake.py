"""The Spark engine's lake: one Parquet dataset per table, one ``week_start=YYYY-MM-DD`` folder per week.

A week is replaced without ever showing half of it: the new week is written completely into a hidden staging
folder (``.staging-<uuid>``, which Spark and DuckDB readers skip because of the leading dot), then swapped in by
two renames (old week folder → hidden trash, staging → week folder) and the trash removed. A crash before the swap
leaves the old week and an orphan staging folder (removed by the next write of that table); a crash between the
two renames leaves the week absent — never a mix of old and new files. Renames are atomic on local disks and HDFS;
on object stores (S3, GCS) they are copies, so there use a table format with atomic commits (docs/engines.md).
"""

import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seg_pipeline.warehouse.spark_session import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"


def week_dir(dataset: str, week: date) -> str:
    """Return the folder holding one week of a dataset (Hive-style, so readers get ``week_start`` back)."""
    return f"{dataset.rstrip('/')}/week_start={week.isoformat()}"


def staging_dir(dataset: str) -> str:
    """Return a fresh hidden folder to write a week into before it is swapped in."""
    return f"{dataset.rstrip('/')}/{STAGING_PREFIX}{uuid.uuid4().hex}"


class _LocalFs:
    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def rename(self, src: str, dst: str) -> None:
        Path(src).rename(dst)

    def delete(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def children(self, path: str) -> list[str]:
        folder = Path(path)
        return [str(p) for p in folder.iterdir()] if folder.is_dir() else []


class _HadoopFs:
    """Any Hadoop-compatible store Spark can write (hdfs://, s3a:// with the connector ...), via the JVM."""

    def __init__(self, spark: "SparkSession", uri: str) -> None:
        jvm: Any = spark._jvm  # classic Spark only; Spark Connect needs a local lake
        self._path = jvm.org.apache.hadoop.fs.Path
        jsc: Any = spark._jsc
        self._fs = self._path(uri).getFileSystem(jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def rename(self, src: str, dst: str) -> None:
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def children(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        return [str(s.getPath().toString()) for s in self._fs.listStatus(self._path(path))]


def filesystem(config: SparkConfig, spark: "SparkSession | None" = None) -> "_LocalFs | _HadoopFs":
    """Return the file operations for the lake: plain local calls, or Hadoop's FileSystem for other stores."""
    if config.lake_is_local:
        return _LocalFs()
    if spark is None:
        raise ValueError(f"the lake {config.lake_uri} is not local: its files are reached through Spark")
    return _HadoopFs(spark, config.lake_uri)


def swap_in(fs: "_LocalFs | _HadoopFs", staged: str, final: str) -> None:
    """Make ``staged`` the week folder ``final`` (see the module docstring for what a crash leaves)."""
    trash = None
    if fs.exists(final):
        trash = final.rsplit("/", 1)[0] + f"/{TRASH_PREFIX}{uuid.uuid4().hex}"
        fs.rename(final, trash)
    fs.rename(staged, final)
    if trash:
        fs.delete(trash)


def clear_leftovers(fs: "_LocalFs | _HadoopFs", dataset: str) -> None:
    """Remove staging and trash folders a crashed write left behind (call only while holding the writer role)."""
    for child in fs.children(dataset):
        name = child.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            fs.delete(child)


def write_week(spark: "SparkSession", config: SparkConfig, frame: "DataFrame", schema: str, table: str,
               week: date) -> str:
    """Replace one week of ``schema.table`` in the lake with ``frame`` (its ``week_start`` lives in the path)."""
    dataset = config.dataset(schema, table)
    fs = filesystem(config, spark)
    clear_leftovers(fs, dataset)
    staged = staging_dir(dataset)
    frame.drop("week_start").write.mode("error").parquet(_spark_uri(config, staged))
    final = week_dir(dataset, week)
    swap_in(fs, staged, final)
    return final


def _spark_uri(config: SparkConfig, path: str) -> str:
    """Spark reads a bare path relative to its default FS; local lakes are made explicit ``file:`` URIs."""
    if config.lake_is_local:
        return "file://" + str(Path(path).resolve())
    return path


def read_dataset(spark: "SparkSession", config: SparkConfig, schema: str, table: str) -> "DataFrame":
    """Read every week of one dataset (``week_start`` from the folder names; columns merged across weeks)."""
    uri = _spark_uri(config, config.dataset(schema, table))
    return spark.read.option("mergeSchema", "true").parquet(uri)


def has_dataset(config: SparkConfig, schema: str, table: str, spark: "SparkSession | None" = None) -> bool:
    """Return True when at least one week of the dataset exists."""
    fs = filesystem(config, spark)
    return any("week_start=" in c for c in fs.children(config.dataset(schema, table)))
