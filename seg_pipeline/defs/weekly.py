"""The one way a stage declares a weekly asset, so every asset follows the project's conventions.

Key prefix = Dagster group = DuckDB schema = stage; weekly partitions (Monday, UTC); the single-writer pool.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dagster as dg
import duckdb

from seg_pipeline.partitions import WEEKLY
from seg_pipeline.warehouse.duck import table_columns

WAREHOUSE_POOL = "warehouse"


def column_schema(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dg.TableSchema:
    """The table's columns as Dagster metadata (the UI shows them on the asset page)."""
    return dg.TableSchema(columns=[dg.TableColumn(name=c, type=t) for c, t in table_columns(con, schema, table)])


def weekly_asset(
    stage: str,
    name: str,
    *,
    description: str,
    kinds: Iterable[str],
    owners: Iterable[str],
    deps: Iterable[dg.AssetKey] = (),
    check_specs: Iterable[dg.AssetCheckSpec] = (),
    metadata: Mapping[str, Any] | None = None,
    code_version: str | None = None,
) -> Callable[..., dg.AssetsDefinition]:
    return dg.asset(
        key=[stage, name],
        group_name=stage,
        partitions_def=WEEKLY,
        pool=WAREHOUSE_POOL,
        deps=list(deps),
        kinds=set(kinds),
        owners=list(owners),
        description=description,
        check_specs=list(check_specs) or None,
        metadata=dict(metadata) if metadata else None,
        code_version=code_version,
        tags={"stage": stage},
    )
