"""One week of the SQL models and the segment fit on a real standalone Spark cluster: a master and two workers."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from seg_pipeline.warehouse.duck import qualified
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.spark_session import SparkConfig
from seg_pipeline_tests.helpers.spark_cluster import standalone_cluster
from seg_pipeline_tests.spark.conftest import requires_spark

pytestmark = [pytest.mark.spark, requires_spark]


def test_a_week_runs_on_a_master_and_two_workers(tmp_path: Path, two_engines):
    from seg_pipeline.features.stage import run_week as run_features
    from seg_pipeline.segmentation.spark_fit import SparkHybridSegmenter
    from seg_pipeline.warehouse.spark_session import spark_session, stop_spark
    from seg_pipeline.warehouse.sql_models import project_models, run_sql_model

    week = two_engines.weeks[0]
    shutil.copy(two_engines.root / "duck.duckdb", tmp_path / "cluster.duckdb")  # a week's raw (and DuckDB's models)
    with standalone_cluster(tmp_path / "cluster", workers=2, cores=1, memory="1g") as cluster:
        config = SparkConfig(str(tmp_path / "lake"), cluster.url, conf=(
            ("spark.driver.host", "127.0.0.1"), ("spark.executor.memory", "512m"), ("spark.cores.max", "2")))
        try:
            spark = spark_session(config)
            assert spark.sparkContext.master == cluster.url
            warehouse = Warehouse(tmp_path / "cluster.duckdb", tmp_path / "snapshot.duckdb", spark=config)
            for model in project_models():
                (run_features if model.layer == "features" else run_sql_model)(model, week, warehouse)
            with warehouse.reader() as con:
                X = con.execute(f"SELECT weekly_active_users, active_days, events_total, seats, mrr "  # noqa: S608
                                f"FROM {qualified('features', 'account_features')} WHERE week_start = ? "
                                "ORDER BY account_id", [week]).fetchnumpy()
            rows = np.column_stack([np.asarray(v, dtype=float) for v in X.values()])
            rows = (rows - rows.mean(axis=0)) / np.where(rows.std(axis=0) > 0, rows.std(axis=0), 1)
            fitted = SparkHybridSegmenter(3, random_state=7).fit(rows)
            (app,) = cluster.state()["activeapps"]
            assert app["cores"] == 2  # both workers' executors served the application
        finally:
            stop_spark()
        assert len(cluster.state()["workers"]) == 2
    assert sorted(np.unique(fitted.labels_)) == [0, 1, 2]
    with Warehouse(tmp_path / "cluster.duckdb", tmp_path / "snapshot.duckdb").reader() as con, \
            two_engines.duck.reader() as duck:
        sql = f"SELECT count(*), sum(events_total), sum(tickets_opened) FROM {qualified('features', 'account_features')} WHERE week_start = ?"  # noqa: E501, S608
        assert con.execute(sql, [week]).fetchall() == duck.execute(sql, [week]).fetchall()
