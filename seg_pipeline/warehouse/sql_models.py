"""The dbt-like SQL model runner.

Each ``dbt_like_sql/<layer>/<table>.sql`` file is one plain SELECT that builds ``<layer>.<table>`` for one week.
Dependencies are the tables the query reads, found with sqlglot (a real parser, not a regex); the runner owns the
DDL, so every file also runs unchanged in the DuckDB CLI once ``$week_start`` / ``$week_end`` are set.
:func:`run_sql_model` is the staging and intermediate stages' week; the features stage adds its checks.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from seg_pipeline.outcomes import Columns, StageResult
from seg_pipeline.settings import PROJECT_ROOT
from seg_pipeline.warehouse.dialects import transpile_sql
from seg_pipeline.warehouse.duck import ident, replace_partition_sql, table_columns
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.spark_session import SparkConfig

SQL_DIR = PROJECT_ROOT / "dbt_like_sql"  # the project's models; discovered once per process by project_models()
LAYERS = ("staging", "intermediate", "features")
SOURCE_SCHEMAS = ("raw",)
ALLOWED_PARAMS = frozenset({"week_start", "week_end"})
_PREFIX = {"staging": "stg_", "intermediate": "int_", "features": ""}


class SqlModelError(ValueError):
    """A SQL model file that cannot be used; the message starts with the file's path."""


@dataclass(frozen=True)
class SqlModel:
    """One parsed model file: what it builds (``layer.name``), what it reads and how it is materialized."""

    layer: str
    name: str
    path: Path
    sql: str
    deps: tuple[tuple[str, str], ...]
    params: tuple[str, ...]
    description: str = ""
    materialized: str = "table"  # "table": one week replaced per run; "view": a relation over all weeks

    @property
    def table(self) -> tuple[str, str]:
        """Return ``(schema, table)`` the model writes: its layer and name."""
        return (self.layer, self.name)

    @property
    def code_version(self) -> str:
        """Changes exactly when the SQL text changes (Dagster flags the asset as stale)."""
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


_CONFIG = re.compile(r"^--\s*materialized\s*:\s*(\w+)\s*$")


def _header(sql: str) -> tuple[str, str]:
    """Read (description, materialization) from the leading ``--`` comment block."""
    lines, materialized = [], "table"
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        config = _CONFIG.match(stripped)
        if config:
            materialized = config.group(1).lower()
        else:
            lines.append(stripped.removeprefix("--").strip())
    return " ".join(lines), materialized


def _statement(path: Path, sql: str) -> exp.Query:
    """Parse the file's single SELECT with the DuckDB dialect."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        raise SqlModelError(f"{path}: {exc}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(f"{path}: a model must be exactly one SELECT statement")
    return statements[0]


def _tables_read(path: Path, tree: exp.Query) -> tuple[tuple[str, str], ...]:
    """List ``(schema, table)`` of every table the query reads; CTEs and inline VALUES are not tables."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    deps: set[tuple[str, str]] = set()
    for table in tree.find_all(exp.Table):
        if not table.db:
            if table.name in ctes or isinstance(table.this, exp.Values) or not table.name:
                continue
            raise SqlModelError(f"{path}: table {table.name!r} must be schema-qualified (e.g. raw.{table.name})")
        deps.add((table.db, table.name))
    return tuple(sorted(deps))


def _params(path: Path, tree: exp.Query) -> tuple[str, ...]:
    """Return the ``$name`` parameters the query binds; only the week window is allowed."""
    params = sorted({p.name for p in tree.find_all(exp.Placeholder) if p.name})
    unknown = set(params) - ALLOWED_PARAMS
    if unknown:
        raise SqlModelError(f"{path}: unknown parameter(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_PARAMS)}")
    return tuple(params)


def parse_model(path: Path, layer: str) -> SqlModel:
    """Parse one model file: check it is a single SELECT, find the tables it reads and its parameters."""
    sql = path.read_text(encoding="utf-8")
    name = path.stem
    try:
        ident(name)
    except ValueError as exc:
        raise SqlModelError(f"{path}: file name must be a lower-case table name ({exc})") from exc
    if not name.startswith(_PREFIX[layer]):
        raise SqlModelError(f"{path}: models in {layer}/ are named {_PREFIX[layer]}<name>")
    tree = _statement(path, sql)
    deps, params = _tables_read(path, tree), _params(path, tree)
    description, materialized = _header(sql)
    if materialized not in ("table", "view"):
        raise SqlModelError(f"{path}: materialized must be table or view, not {materialized!r}")
    if materialized == "view" and params:
        raise SqlModelError(f"{path}: a view spans all weeks and cannot use parameters {list(params)}")
    return SqlModel(layer, name, path, sql, deps, params, description, materialized)


def discover(sql_dir: Path) -> list[SqlModel]:
    """All models under ``sql_dir`` in dependency order; unknown or cyclic dependencies fail loudly."""
    models: dict[tuple[str, str], SqlModel] = {}
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            model = parse_model(path, layer)
            models[model.table] = model
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key, model in models.items():
        for dep in model.deps:
            if dep[0] not in SOURCE_SCHEMAS and dep not in models:
                raise SqlModelError(f"{model.path}: reads {dep[0]}.{dep[1]}, which no model or source provides")
            if dep == key:
                raise SqlModelError(f"{model.path}: a model cannot read its own table")
        graph[key] = {d for d in model.deps if d in models}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise SqlModelError(f"{sql_dir}: dependency cycle between models {exc.args[1]}") from exc
    return [models[k] for k in order]


@cache
def project_models() -> tuple[SqlModel, ...]:
    """Load the models under :data:`SQL_DIR` in dependency order, once per process (asset wiring imports them)."""
    return tuple(discover(SQL_DIR))


def layer_models(layer: str) -> list[SqlModel]:
    """Return the project's models of one layer (= Dagster group = DuckDB schema), in dependency order."""
    if layer not in LAYERS:
        raise ValueError(f"unknown SQL model layer {layer!r}; known: {', '.join(LAYERS)}")
    return [m for m in project_models() if m.layer == layer]


def week_params(model: SqlModel, week_start: date) -> dict[str, object]:
    """Bound parameters for the partition window ``[week_start, week_start + 7 days)``."""
    values = {"week_start": week_start, "week_end": week_start + timedelta(days=7)}
    return {name: values[name] for name in model.params}


def _refresh_view(con: duckdb.DuckDBPyConnection, model: SqlModel, week_start: date) -> int:
    """(Re)define a view model and return its row count for the week (readers filter it by week themselves)."""
    target = f"{ident(model.layer)}.{ident(model.name)}"
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(model.layer)}")
        con.execute(f"CREATE OR REPLACE VIEW {target} AS {model.sql}")
        sql = f"SELECT count(*) FROM {target} WHERE week_start = ?"  # noqa: S608 - target is ident().ident()
        return int(con.execute(sql, [week_start]).fetchall()[0][0])
    except duckdb.Error as exc:
        raise SqlModelError(f"{model.path}: {exc}") from exc


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$", re.IGNORECASE)


def run_model(
    con: duckdb.DuckDBPyConnection, model: SqlModel, week_start: date, *, memory_limit: str | None = None
) -> int:
    """Materialize one week of ``model`` (replace the week's slice in one transaction); returns its row count.

    ``memory_limit`` (e.g. "128MB") caps DuckDB while the model runs; operators spill to disk beyond it. Measured
    on 9 M events: peak RSS 230 MB instead of 643 MB, at about twice the time (still 4x faster than pandas).
    """
    if model.materialized == "view":
        return _refresh_view(con, model, week_start)
    if memory_limit:
        if not _MEMORY.match(memory_limit.strip()):
            raise ValueError(f"memory limit {memory_limit!r} is not like '128MB' or '2GB'")
        con.execute(f"SET memory_limit = '{memory_limit.strip()}'")
    try:
        return replace_partition_sql(
            con, model.layer, model.name, model.sql, week_params(model, week_start), key=week_start
        )
    except duckdb.Error as exc:
        raise SqlModelError(f"{model.path}: {exc}") from exc
    finally:
        if memory_limit:
            con.execute("RESET memory_limit")


def materialize_week(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    week_start: date,
    *,
    memory_limit: str | None = None,
    spark: SparkConfig | None = None,
) -> dict[str, object]:
    """Run ``model`` for the week on an open writer connection; returns the materialization's metadata.

    With ``spark`` the week is computed by Spark from the transpiled SQL and loaded into the same DuckDB table.
    """
    if spark is not None:
        from seg_pipeline.warehouse.spark_models import run_model_spark  # pyspark only on the Spark engine

        rows = run_model_spark(con, model, week_start, spark)
    else:
        rows = run_model(con, model, week_start, memory_limit=memory_limit)
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": Columns(tuple(table_columns(con, model.layer, model.name))),
        "week_start": str(week_start),
        **({"engine": "spark"} if spark is not None else {}),
    }


def run_sql_model(model: SqlModel, week: date, warehouse: Warehouse) -> StageResult:
    """One week of a staging or intermediate model: build it and describe it (these layers carry no checks)."""
    with warehouse.connect() as con:
        metadata = materialize_week(con, model, week, memory_limit=warehouse.sql_memory_limit, spark=warehouse.spark)
    return StageResult(metadata)


def transpile(model: SqlModel, dialect: str, *, week_start: date | None = None) -> str:
    """Return ``model``'s SQL in ``dialect`` (``seg sql``); with ``week_start`` its parameters become DATE literals.

    The DuckDB file stays the source; the rewrites sqlglot does not do itself are in warehouse/dialects.py.
    """
    params = None
    if week_start is not None:
        params = {k: v for k, v in week_params(model, week_start).items() if isinstance(v, date)}
    return transpile_sql(model.sql, dialect, params=params)
