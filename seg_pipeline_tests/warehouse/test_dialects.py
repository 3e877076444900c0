"""Every SQL model transpiles to every supported dialect, and the rewrites sqlglot does not do are applied."""

from datetime import date

import pytest
import sqlglot

from seg_pipeline.warehouse.dialects import DIALECTS, transpile_sql
from seg_pipeline.warehouse.sql_models import project_models, transpile

MODELS = project_models()


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_every_model_transpiles_and_parses_back_in_the_target_dialect(model, dialect):
    sql = transpile(model, dialect)
    tree = sqlglot.parse_one(sql, read=dialect)
    read = {(t.db, t.name) for t in tree.find_all(sqlglot.exp.Table) if t.db}
    assert read == set(model.deps)


def test_week_parameters_become_date_literals():
    (model,) = [m for m in MODELS if m.name == "stg_crm_accounts"]
    sql = transpile(model, "spark", week_start=date(2026, 1, 5))
    assert "CAST('2026-01-05' AS DATE)" in sql
    assert ":week_start" not in sql
    assert ":week_start" in transpile(model, "spark")


def test_epoch_of_a_timestamp_difference_is_a_microsecond_difference():
    sql = transpile_sql("select epoch(b - a) as s from t", "spark", pretty=False)
    assert "UNIX_TIMESTAMP" not in sql
    assert "TIMESTAMPDIFF(MICROSECOND, a, b)" in sql
    assert "TIMESTAMP_DIFF(b, a, MICROSECOND)" in transpile_sql("select epoch(b - a) from t", "bigquery")


def test_spark_rewrites_utc_wall_clock_iso_weekday_and_decimal_literals():
    sql = transpile_sql("select timezone('UTC', ts) as t, isodow(d) as w, x / 8.0 as y, 7 as n from s", "spark",
                        pretty=False)
    assert "CAST(ts AS TIMESTAMP_NTZ)" in sql
    assert "(WEEKDAY(d) + 1)" in sql
    assert "x / CAST(8.0 AS DOUBLE)" in sql
    assert "7 AS n" in sql


def test_tables_can_be_renamed_for_engines_without_schemas():
    sql = transpile_sql("select * from raw.a as x join staging.b using (k)", "spark",
                        tables={("raw", "a"): "raw__a", ("staging", "b"): "staging__b"}, pretty=False)
    assert "FROM raw__a AS x JOIN staging__b" in sql


def test_an_unknown_dialect_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="duckdb, spark, snowflake, bigquery"):
        transpile_sql("select 1", "oracle")
