"""Spark fixtures: one local-mode session per test session, and one simulated company built by both engines."""

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.spark_session import SparkConfig, java_available


def spark_missing() -> str | None:
    """Say why Spark cannot run here (no pyspark, no Java), or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if not java_available():
        return "no Java runtime (Debian: apt-get install openjdk-17-jre-headless; .ci/run does this)"
    return None


requires_spark = pytest.mark.skipif(spark_missing() is not None, reason=spark_missing() or "")

START = date(2026, 1, 5)
WEEKS = [START + timedelta(days=7 * i) for i in range(2)]


@dataclass(frozen=True)
class TwoEngines:
    """The same raw weeks, modelled once by DuckDB and once by Spark into another warehouse file."""

    duck: Warehouse
    spark: Warehouse
    weeks: list[date]
    root: Path


@pytest.fixture(scope="session")
def spark_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkConfig]:
    from seg_pipeline.warehouse.spark_session import spark_session, stop_spark

    config = SparkConfig(str(tmp_path_factory.mktemp("lake")), "local[2]")
    spark_session(config)
    yield config
    stop_spark()


@pytest.fixture(scope="session")
def two_engines(tmp_path_factory: pytest.TempPathFactory, spark_config: SparkConfig) -> TwoEngines:
    """Simulate 2 weeks of 50 accounts, ingest them with DuckDB, then run every SQL model on both engines."""
    from seg_pipeline.features.stage import run_week as run_features
    from seg_pipeline.raw.config import IngestConfig
    from seg_pipeline.raw.stage import record_feature_rules
    from seg_pipeline.raw.stage import run_week as run_raw_week
    from seg_pipeline.sources.simulator import SimulationConfig, simulate
    from seg_pipeline.warehouse.sql_models import project_models, run_sql_model

    root = tmp_path_factory.mktemp("engines")
    simulate(SimulationConfig(accounts=50, weeks=len(WEEKS), seed=3), root / "landing", root / "truth")
    duck = Warehouse(root / "duck.duckdb", root / "duck_snapshot.duckdb")
    for week in WEEKS:
        for source in ("product_events", "crm_accounts", "support_tickets"):
            run_raw_week(source, week, duck, IngestConfig(root / "landing"))
        record_feature_rules(week, duck, IngestConfig(root / "landing"))
    shutil.copy(root / "duck.duckdb", root / "spark.duckdb")  # raw only: the SQL models have not run yet
    spark = Warehouse(root / "spark.duckdb", root / "spark_snapshot.duckdb", spark=spark_config)
    for week in WEEKS:
        for model in project_models():
            for engine in (duck, spark):
                (run_features if model.layer == "features" else run_sql_model)(model, week, engine)
    return TwoEngines(duck, spark, WEEKS, root)
