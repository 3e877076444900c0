"""The SQL models on Spark: same files, transpiled at run time, same rows as DuckDB, weeks replaced idempotently."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.warehouse.duck import ident, qualified
from seg_pipeline.warehouse.lake import week_dir
from seg_pipeline.warehouse.sql_models import project_models, run_sql_model
from seg_pipeline_tests.spark.conftest import requires_spark

pytestmark = [pytest.mark.spark, requires_spark]

TABLE_MODELS = [m for m in project_models() if m.materialized == "table"]


def _week(con, model, week) -> tuple[list[tuple[str, str]], pd.DataFrame]:
    columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {qualified(model.layer, model.name)}").fetchall()]
    select = ", ".join(ident(c) for c, _ in columns)
    frame = con.execute(f"SELECT {select} FROM {qualified(model.layer, model.name)} "  # noqa: S608
                        "WHERE week_start = ? ORDER BY ALL", [week]).fetchdf()
    return columns, frame


def _assert_same(model, duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert len(duck) == len(spark) > 0, model.name
    for column in duck.columns:
        a, b = duck[column], spark[column]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            assert np.isclose(a.astype(float), b.astype(float), rtol=1e-9, atol=0, equal_nan=True).all(), column
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), f"{model.name}.{column}"


@pytest.mark.parametrize("model", TABLE_MODELS, ids=lambda m: m.name)
def test_spark_builds_the_same_week_as_duckdb(two_engines, model):
    for week in two_engines.weeks:
        with two_engines.duck.reader() as dcon, two_engines.spark.reader() as scon:
            duck_columns, duck = _week(dcon, model, week)
            spark_columns, spark = _week(scon, model, week)
        assert spark_columns == duck_columns  # same names, order and DuckDB types
        _assert_same(model, duck, spark)


def test_each_week_is_a_parquet_partition_of_the_lake(two_engines, spark_config):
    for model in TABLE_MODELS:
        dataset = Path(spark_config.dataset(model.layer, model.name))
        weeks = sorted(p.name for p in dataset.iterdir() if not p.name.startswith((".", "_")))
        assert weeks == [f"week_start={w.isoformat()}" for w in two_engines.weeks], model.name
        assert list(Path(week_dir(str(dataset), two_engines.weeks[0])).glob("*.parquet"))


def test_rerunning_a_week_replaces_it_without_duplicates_or_leftovers(two_engines, spark_config):
    (model,) = [m for m in TABLE_MODELS if m.name == "int_account_weekly_usage"]
    week = two_engines.weeks[0]
    with two_engines.spark.reader() as con:
        _, before = _week(con, model, week)
    dataset = Path(spark_config.dataset(model.layer, model.name))
    (dataset / ".staging-crashed").mkdir()  # what a write that died before its swap leaves
    result = run_sql_model(model, week, two_engines.spark)
    with two_engines.spark.connect() as con:
        _, after = _week(con, model, week)
    assert result.metadata["dagster/row_count"] == len(after) == len(before)
    assert result.metadata["engine"] == "spark"
    _assert_same(model, before, after)
    assert sorted(p.name for p in dataset.iterdir() if p.name.startswith(".")) == []
