"""Shared wiring (not a stage): a table asset's column schema and column lineage as Dagster metadata.

Declared on the definition (the UI shows columns, descriptions and lineage before any run) and repeated on each
materialization with the types DuckDB actually wrote. The documentation itself is built in
:mod:`seg_pipeline.warehouse.column_docs`.
"""

from typing import Any

import dagster as dg

from seg_pipeline.warehouse.column_docs import TableDoc, table_doc

COLUMN_SCHEMA = "dagster/column_schema"
COLUMN_LINEAGE = "dagster/column_lineage"
TABLE_NAME = "dagster/table_name"


def column_schema(doc: TableDoc) -> dg.TableSchema:
    """Render the documented columns as a Dagster table schema (descriptions, nullability and contract rules)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type or "unknown",
                description=c.description or None,
                constraints=dg.TableColumnConstraints(nullable=c.nullable, other=list(c.notes)),
            )
            for c in doc.columns
        ]
    )


def column_lineage(doc: TableDoc) -> dg.TableColumnLineage | None:
    """Each column's upstream columns as Dagster column lineage; None for a table with no traced SQL."""
    if not doc.lineage:
        return None
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey([s, t]), column_name=c) for s, t, c in deps]
            for column, deps in doc.lineage.items()
        }
    )


def table_metadata(schema: str, table: str, actual: tuple[tuple[str, str], ...] | None = None) -> dict[str, Any]:
    """Column metadata of ``schema.table`` (over the ``actual`` written columns when given); {} when undocumented."""
    doc = table_doc(schema, table)
    if doc is None:
        return {}
    if actual is not None:
        doc = doc.described(actual)
    metadata: dict[str, Any] = {TABLE_NAME: f"{schema}.{table}", COLUMN_SCHEMA: column_schema(doc)}
    lineage = column_lineage(doc)
    if lineage is not None:
        metadata[COLUMN_LINEAGE] = lineage
    return metadata
