"""Column lineage of the SQL models: which upstream columns each output column is computed from.

sqlglot (the parser that already finds each model's tables) traces every output column of a model through its
CTE chain down to the physical columns it reads. The schema it needs to expand ``select *`` comes from the DDL
registry (raw tables, Python-written tables) and, walking the models in dependency order, from each model's own
output. The result feeds the Dagster column view (``dagster/column_lineage``) and the column descriptions that
a staging or intermediate column inherits from the source column it passes through.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from seg_pipeline.warehouse.schema import TABLES
from seg_pipeline.warehouse.sql_models import SqlModel, SqlModelError, project_models

Table = tuple[str, str]  # (schema, table)
ColumnRef = tuple[str, str, str]  # (schema, table, column)
Schema = dict[str, dict[str, dict[str, str]]]  # schema -> table -> column -> type (sqlglot's nested mapping)


@dataclass(frozen=True)
class TableLineage:
    """One model's output columns in order, their types as far as the SQL says, and what each is computed from."""

    table: Table
    types: Mapping[str, str]
    deps: Mapping[str, tuple[ColumnRef, ...]]

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the output column names in select order."""
        return tuple(self.types)


def ddl_columns(ddl: str) -> dict[str, str]:
    """Parse a column list from the DDL registry (``a INTEGER, b VARCHAR[]``) into ``{name: type}``."""
    tree = parse_one(f"CREATE TABLE t ({ddl})", read="duckdb")
    return {c.name: c.args["kind"].sql("duckdb") if c.args.get("kind") else "" for c in tree.find_all(exp.ColumnDef)}


def registry_schema() -> Schema:
    """Return the tables written from Python (raw sources, assignments, monitoring ...), as sqlglot's nested schema."""
    schema: Schema = {}
    for qualified_name, ddl in TABLES.items():
        db, name = qualified_name.split(".")
        schema.setdefault(db, {})[name] = ddl_columns(ddl)
    return schema


def model_lineage(model: SqlModel, schema: Schema) -> TableLineage:
    """Trace each output column of ``model`` to the physical columns it reads (tables must be in ``schema``)."""
    try:
        tree = qualify(
            parse_one(model.sql, read="duckdb"),
            dialect="duckdb",
            schema=schema,  # type: ignore[arg-type]
            validate_qualify_columns=False,
            identify=False,
        )
        annotate_types(tree, schema=schema, dialect="duckdb")  # type: ignore[arg-type]
        types = {sel.alias_or_name: _type_name(sel) for sel in tree.selects}  # type: ignore[attr-defined]
        scope = build_scope(tree)
        nodes = lineage(None, tree, schema, dialect="duckdb", scope=scope, trim_selects=False, copy=False)
    except SqlglotError as exc:
        raise SqlModelError(f"{model.path}: column lineage: {exc}") from exc
    deps: dict[str, tuple[ColumnRef, ...]] = {}
    for column, node in nodes.items():
        found = {
            (leaf.expression.db, leaf.expression.name, leaf.name.rsplit(".", 1)[-1])
            for leaf in node.walk()
            if isinstance(leaf.expression, exp.Table) and leaf.expression.db
        }
        deps[column] = tuple(sorted(found))
    return TableLineage(model.table, types, deps)


def _type_name(select: exp.Expression) -> str:
    kind = select.type
    if kind is None or kind.is_type(exp.DataType.Type.UNKNOWN):
        return ""
    return kind.sql("duckdb")


def lineage_of(models: Iterable[SqlModel]) -> dict[Table, TableLineage]:
    """Column lineage of ``models`` (in dependency order), each model's output feeding the next one's schema."""
    schema = registry_schema()
    result: dict[Table, TableLineage] = {}
    for model in models:
        traced = model_lineage(model, schema)
        schema.setdefault(model.layer, {})[model.name] = {c: t or "UNKNOWN" for c, t in traced.types.items()}
        result[model.table] = traced
    return result


@cache
def project_lineage() -> dict[Table, TableLineage]:
    """Column lineage of the project's models, computed once per process (~1-2 s: the asset wiring reads it)."""
    return lineage_of(project_models())
