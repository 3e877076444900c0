"""Run one week of a ``dbt_like_sql`` model on Spark: the same file, transpiled at run time.

Inputs: ``raw.*`` is copied week by week from the DuckDB warehouse into the lake (the raw stage still ingests with
DuckDB), view models become Spark temporary views defined by their own transpiled SQL, and table models are read
from their lake datasets. Output: the week is swapped into the model's lake dataset (seg_pipeline/warehouse/lake.py)
and loaded into the same DuckDB table the DuckDB engine writes, in one transaction, so the checks, the model stage
and everything downstream read the week exactly as before (docs/engines.md, "What runs where").
"""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from seg_pipeline.warehouse.dialects import transpile_sql
from seg_pipeline.warehouse.duck import ident, qualified, replace_partition_sql, table_exists, transaction
from seg_pipeline.warehouse.lake import clear_leftovers, filesystem, read_dataset, staging_dir, swap_in, week_dir
from seg_pipeline.warehouse.spark_session import SparkConfig, spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from seg_pipeline.warehouse.sql_models import SqlModel


def view_name(schema: str, table: str) -> str:
    """Return the temporary view a table is known by inside Spark (temp views cannot be schema-qualified)."""
    return f"{schema}__{table}"


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def sync_raw_table(con: duckdb.DuckDBPyConnection, config: SparkConfig, table: str, week: date) -> None:
    """Copy ``raw.<table>`` into the lake: ``week`` itself (it may just be re-ingested) and missing earlier weeks.

    DuckDB writes the Parquet file straight into a staging folder of a local lake, which is then swapped in.
    """
    if not config.lake_is_local:
        raise ValueError(f"raw tables are copied from DuckDB into a local lake only, not {config.lake_uri}")
    dataset = config.dataset("raw", table)
    fs = filesystem(config)
    Path(dataset).mkdir(parents=True, exist_ok=True)
    clear_leftovers(fs, dataset)
    source = qualified("raw", table)
    weeks = [r[0] for r in con.execute(f"SELECT DISTINCT week_start FROM {source} WHERE week_start <= ?",  # noqa: S608
                                       [week]).fetchall()]
    for w in sorted(set(weeks) | {week}):
        final = week_dir(dataset, w)
        if w != week and fs.exists(final):
            continue
        staged = staging_dir(dataset)
        Path(staged).mkdir(parents=True)
        target = _quote(f"{staged}/part-0.parquet")
        con.execute(f"COPY (SELECT * EXCLUDE (week_start) FROM {source} WHERE week_start = ?) "  # noqa: S608
                    f"TO {target} (FORMAT parquet)", [w])
        swap_in(fs, staged, final)


def _project_models() -> dict[tuple[str, str], "SqlModel"]:
    from seg_pipeline.warehouse.sql_models import project_models

    return {m.table: m for m in project_models()}


def register_inputs(spark: "SparkSession", con: duckdb.DuckDBPyConnection, config: SparkConfig,
                    model: "SqlModel", week: date, *, models: dict[tuple[str, str], "SqlModel"] | None = None,
                    ) -> dict[tuple[str, str], str]:
    """Make every table ``model`` reads a Spark temporary view; returns the table → view name mapping."""
    models = _project_models() if models is None else models
    names: dict[tuple[str, str], str] = {}
    for schema, table in model.deps:
        name = names[(schema, table)] = view_name(schema, table)
        upstream = models.get((schema, table))
        if schema == "raw":
            sync_raw_table(con, config, table, week)
            read_dataset(spark, config, schema, table).createOrReplaceTempView(name)
        elif upstream is not None and upstream.materialized == "view":
            inner = register_inputs(spark, con, config, upstream, week, models=models)
            spark.sql(transpile_sql(upstream.sql, "spark", tables=inner)).createOrReplaceTempView(name)
        else:
            read_dataset(spark, config, schema, table).createOrReplaceTempView(name)
    return names


def model_frame(spark: "SparkSession", con: duckdb.DuckDBPyConnection, config: SparkConfig, model: "SqlModel",
                week: date) -> "DataFrame":
    """Return one week of ``model`` as a Spark DataFrame (inputs registered, parameters bound as DATE literals)."""
    from seg_pipeline.warehouse.sql_models import week_params

    tables = register_inputs(spark, con, config, model, week)
    params = {k: v for k, v in week_params(model, week).items() if isinstance(v, date)}
    return spark.sql(transpile_sql(model.sql, "spark", params=params, tables=tables))


def _load_week_into_duckdb(con: duckdb.DuckDBPyConnection, model: "SqlModel", columns: list[str], folder: str,
                           week: date) -> int:
    """Replace the week of the DuckDB table with the lake week (what every downstream reader uses)."""
    files = sorted(Path(folder).glob("*.parquet"))
    if not files:  # an empty week: Spark wrote no file, so there is nothing to select the columns from
        if table_exists(con, model.layer, model.name):
            with transaction(con):
                con.execute(f"DELETE FROM {qualified(model.layer, model.name)} WHERE week_start = ?", [week])  # noqa: S608
        return 0
    select = ", ".join("CAST($week_start AS DATE) AS week_start" if c == "week_start" else ident(c) for c in columns)
    sql = f"SELECT {select} FROM read_parquet({_quote(folder + '/*.parquet')})"  # noqa: S608 - lake path quoted
    return replace_partition_sql(con, model.layer, model.name, sql, {"week_start": week}, key=week)


def run_model_spark(con: duckdb.DuckDBPyConnection, model: "SqlModel", week: date, config: SparkConfig) -> int:
    """Materialize one week of ``model`` on Spark into the lake and the DuckDB table; returns the week's rows.

    A view model is a Spark view at read time (nothing is written to the lake); DuckDB keeps its own view of it,
    so tools that query the warehouse see the same relation.
    """
    from seg_pipeline.warehouse.sql_models import _refresh_view  # the DuckDB view, for readers of the warehouse

    spark = spark_session(config)
    frame = model_frame(spark, con, config, model, week)
    if model.materialized == "view":
        _refresh_view(con, model, week)
        return int(frame.where(frame.week_start == week).count())
    if not config.lake_is_local:
        raise ValueError(f"the DuckDB copy of a week is read from a local lake, not {config.lake_uri}")
    from seg_pipeline.warehouse.lake import write_week

    folder = write_week(spark, config, frame, model.layer, model.name, week)
    return _load_week_into_duckdb(con, model, frame.columns, folder, week)
