"""How the Spark engine connects: local mode, a standalone/YARN/k8s master, or Spark Connect; one session a process.

pyspark is an optional dependency (the ``spark`` extra): nothing imports it unless ``SEG_ENGINE=spark``.
"""

import os
import shutil
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings the SQL models' meaning depends on; a user's SEG_SPARK_CONF_* cannot change these.
PINNED_CONF = {
    # timezone('UTC', ts) is transpiled to CAST(ts AS TIMESTAMP_NTZ): true only when the session zone is UTC
    "spark.sql.session.timeZone": "UTC",
    # DuckDB returns NULL for x / 0 and for failed casts; ANSI mode (Spark 4's default) raises instead
    "spark.sql.ansi.enabled": "false",
    # a week is replaced by overwriting only its partition (docs/engines.md, "Lake")
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # timestamps as UTC-adjusted INT64 micros, which DuckDB reads as TIMESTAMPTZ (Spark's default INT96 is naive)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# Defaults a user may override: small shuffles for one weekly partition, no UI port per helper process.
DEFAULT_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


class SparkUnavailableError(RuntimeError):
    """SEG_ENGINE=spark on a machine without pyspark or Java: say what to install."""


@dataclass(frozen=True)
class SparkConfig:
    """Where Spark runs and where its datasets live (SEG_SPARK_MASTER / SEG_SPARK_REMOTE / SEG_LAKE_URI)."""

    lake_uri: str
    master: str = "local[*]"
    remote: str | None = None
    conf: tuple[tuple[str, str], ...] = ()
    app_name: str = "seg_pipeline"

    def dataset(self, schema: str, table: str) -> str:
        """Return the URI of one table's Parquet dataset under the lake root."""
        root = self.lake_path if self.lake_is_local else self.lake_uri
        return f"{root.rstrip('/')}/{schema}/{table}"

    @property
    def lake_is_local(self) -> bool:
        """Return True for a plain path or file: URI (DuckDB then reads and writes it directly)."""
        return "://" not in self.lake_uri or self.lake_uri.startswith("file://")

    @property
    def lake_path(self) -> str:
        """Return the lake root as a local path (only meaningful when :attr:`lake_is_local`)."""
        return self.lake_uri.removeprefix("file://")

    def effective_conf(self) -> dict[str, str]:
        """Return the defaults, then the user's passthrough, then the pinned settings (which always win)."""
        return DEFAULT_CONF | dict(self.conf) | PINNED_CONF


def java_available() -> bool:
    """Return True when a ``java`` executable is on PATH or under JAVA_HOME (Spark's JVM needs one)."""
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))))


def spark_session(config: SparkConfig) -> "SparkSession":
    """Return this process's session for ``config`` (created on first use; a different master restarts it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SparkUnavailableError("SEG_ENGINE=spark needs pyspark: pip install 'seg_pipeline[spark]'") from exc
    # Python workers must run this interpreter (pandas, pyarrow, sklearn for applyInPandas), not the PATH python
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if config.remote:
        builder = SparkSession.builder.remote(config.remote)
    else:
        if not java_available():
            raise SparkUnavailableError(
                "SEG_ENGINE=spark needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
            )
        active = SparkSession.getActiveSession()
        if active is not None and active.sparkContext.master != config.master:
            active.stop()
        builder = SparkSession.builder.master(config.master)
    builder = builder.appName(config.app_name)
    for key, value in config.effective_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in PINNED_CONF.items():  # getOrCreate on a running session ignores static builder options
        session.conf.set(key, value)
    return session


def stop_spark() -> None:
    """Stop this process's session, if any (tests switch between local mode and a standalone cluster)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
