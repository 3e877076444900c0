"""DuckDB model SQL in other warehouses' dialects: sqlglot transpiles, plus the few rewrites it does not do.

The files in ``dbt_like_sql/`` are written for DuckDB and stay the one source of truth. sqlglot translates most
of them faithfully; the transforms below handle the constructs whose *meaning* it does not carry over (each is
covered by ``seg_pipeline_tests/warehouse/test_dialects.py`` and, for Spark, by running the models):

- ``epoch(ts_a - ts_b)`` (seconds between two timestamps) becomes a microsecond ``TIMESTAMPDIFF`` / 1e6, because
  sqlglot renders it as ``UNIX_TIMESTAMP(interval)``, which Spark rejects;
- ``timezone('UTC', ts)`` (the UTC wall-clock of an instant) becomes ``CAST(ts AS TIMESTAMP_NTZ)`` on Spark, which is
  the same thing because the Spark engine pins ``spark.sql.session.timeZone`` to UTC;
- ``isodow(d)`` becomes ``WEEKDAY(d) + 1`` on Spark (sqlglot's ``DAYOFWEEK(d) % 7 + 1`` numbers Sunday 2);
- non-integer numeric literals (``0.0``, ``8.0``, ``0.1``) are DOUBLE on Spark: both engines read them as DECIMAL,
  but DuckDB divides decimals into a DOUBLE while Spark keeps DECIMAL and rounds to its scale.

Parameters: with ``params`` the ``$week_start`` / ``$week_end`` placeholders become DATE literals (a Spark SQL
string cannot bind them); without, they stay placeholders in the target's syntax (``seg sql`` prints that).
"""

from collections.abc import Mapping
from datetime import date

import sqlglot
from sqlglot import exp

DIALECTS = ("duckdb", "spark", "snowflake", "bigquery")


def _epoch_of_difference(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.TimeToUnix) and isinstance(node.this, exp.Sub):
        later, earlier = node.this.this, node.this.expression
        micros = exp.TimestampDiff(this=later, expression=earlier, unit=exp.var("MICROSECOND"))
        return exp.Div(this=exp.paren(micros), expression=exp.Literal.number("1000000.0"))
    return node


def _spark_only(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone" and len(node.expressions) == 2:
        zone, value = node.expressions
        if isinstance(zone, exp.Literal) and zone.is_string and zone.this.upper() == "UTC":
            return exp.cast(value, exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    if isinstance(node, exp.DayOfWeekIso):
        return exp.paren(exp.Add(this=exp.func("WEEKDAY", node.this), expression=exp.Literal.number(1)))
    if isinstance(node, exp.Literal) and not node.is_string and not node.this.lstrip("-").isdigit():
        return exp.cast(node, exp.DataType.build("DOUBLE"))
    return node


def _bind(node: exp.Expression, params: Mapping[str, date]) -> exp.Expression:
    if isinstance(node, exp.Placeholder) and node.name in params:
        return exp.cast(exp.Literal.string(params[node.name].isoformat()), exp.DataType.build("DATE"))
    return node


def _rename_tables(node: exp.Expression, tables: Mapping[tuple[str, str], str]) -> exp.Expression:
    if isinstance(node, exp.Table) and node.db and (node.db, node.name) in tables:
        renamed = node.copy()
        renamed.set("db", None)
        renamed.set("this", exp.to_identifier(tables[(node.db, node.name)]))
        return renamed
    return node


def transpile_sql(
    sql: str,
    dialect: str,
    *,
    params: Mapping[str, date] | None = None,
    tables: Mapping[tuple[str, str], str] | None = None,
    pretty: bool = True,
) -> str:
    """Translate one DuckDB model SELECT to ``dialect``; ``tables`` maps ``(schema, table)`` to another name."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    tree = sqlglot.parse_one(sql, read="duckdb")
    if params:
        tree = tree.transform(_bind, params)
    if tables:
        tree = tree.transform(_rename_tables, tables)
    if dialect != "duckdb":
        tree = tree.transform(_epoch_of_difference)
    if dialect == "spark":
        tree = tree.transform(_spark_only)
    return tree.sql(dialect=dialect, pretty=pretty)
