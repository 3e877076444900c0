"""One weekly asset per file in ``dbt_like_sql/`` with lineage parsed from the SQL (groups staging,
intermediate, features); the feature table also carries quality checks and the feature registry."""

from collections.abc import Iterator

import dagster as dg

from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import column_schema, weekly_asset
from seg_pipeline.features import registry
from seg_pipeline.partitions import week_of, weekly_check
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.duck import connect, ensure_schemas
from seg_pipeline.warehouse.sql_models import SqlModel, discover, run_model

ModelEvent = dg.AssetCheckResult | dg.MaterializeResult

# numeric feature -> (min, max) that any sane week respects; None = unbounded on that side
FEATURE_RANGES: dict[str, tuple[float | None, float | None]] = {
    "active_days": (0, 7),
    "feature_breadth": (0, 12),
    "key_feature_adoption": (0, 1),
    "api_share": (0, 1),
    "seat_utilisation": (0, 1.5),
    "csat_avg": (1, 5),
    "activation_score": (0, 100),
    "support_load_score": (0, 100),
    "weekly_active_users": (0, None),
    "tickets_opened": (0, None),
    "p1_tickets": (0, None),
    "open_backlog": (0, None),
    "seats": (0, None),
    "mrr": (0, None),
    "wau_trend": (-1, None),
}


def _registry_markdown() -> str:
    frame = registry.registry_frame()[["name", "dtype", "source", "kind", "clustering", "description"]]
    return frame.to_markdown(index=False) if hasattr(frame, "to_markdown") else frame.to_string(index=False)


def _feature_checks(con, week) -> list[dg.AssetCheckResult]:
    t = "features.account_features"
    key_row = con.execute(
        f"SELECT count(*), count(DISTINCT account_id), count(*) FILTER (WHERE account_id IS NULL) "
        f"FROM {t} WHERE week_start = ?",
        [week],
    ).fetchall()[0]
    rows, distinct, null_ids = (int(v) for v in key_row) if key_row else (0, 0, 0)
    # one scan counts every feature's out-of-range rows (bounds are constants of this module, not input)
    counts = []
    for name, (lo, hi) in FEATURE_RANGES.items():
        conds = [f'"{name}" IS NULL'] + ([f'"{name}" < {lo}'] if lo is not None else []) + (
            [f'"{name}" > {hi}'] if hi is not None else [])
        counts.append(f'count(*) FILTER (WHERE {" OR ".join(conds)}) AS "{name}"')
    bad = con.execute(f"SELECT {', '.join(counts)} FROM {t} WHERE week_start = ?", [week]).fetchdf().iloc[0]
    violations = {c: int(v) for c, v in bad.items() if v}
    null_cols = [f.name for f in registry.FEATURES if f.kind != "categorical"]
    null_sql = ", ".join(f'avg(("{c}" IS NULL)::int) AS "{c}"' for c in null_cols)
    null_rates = con.execute(f"SELECT {null_sql} FROM {t} WHERE week_start = ?", [week]).fetchdf().iloc[0]
    worst = {c: float(v) for c, v in null_rates.items() if v and v > 0}
    return [
        dg.AssetCheckResult(
            check_name="keys_unique_not_null",
            passed=rows == distinct and null_ids == 0 and rows > 0,
            metadata={"rows": rows, "distinct_accounts": distinct, "null_account_ids": null_ids},
        ),
        dg.AssetCheckResult(
            check_name="feature_ranges",
            passed=not violations,
            metadata={"violations": dg.MetadataValue.json(violations)},
        ),
        dg.AssetCheckResult(
            check_name="feature_null_rates",
            passed=not worst,
            metadata={"null_rates": dg.MetadataValue.json(worst)},
            description="Features are explicit values (zeros + has_activity flag), never NULL.",
        ),
    ]


def _publish_registry(con) -> None:  # type: ignore[no-untyped-def]
    """Keep ``features.feature_registry`` queryable next to the features it documents."""
    frame = registry.registry_frame()
    con.register("_registry", frame)
    try:
        con.execute("CREATE OR REPLACE TABLE features.feature_registry AS SELECT * FROM _registry")
    finally:
        con.unregister("_registry")


def build_model_asset(model: SqlModel) -> dg.AssetsDefinition:
    key = dg.AssetKey([model.layer, model.name])
    deps = [dg.AssetKey([schema, table]) for schema, table in model.deps]
    is_features = model.table == ("features", "account_features")
    check_specs = (
        [
            weekly_check("keys_unique_not_null", asset=key, blocking=True,
                              description="One row per (account_id, week_start), never a NULL id."),
            weekly_check("feature_ranges", asset=key, description="Features stay inside their documented range."),
            weekly_check("feature_null_rates", asset=key, description="No feature is NULL."),
        ]
        if is_features
        else []
    )
    static_meta: dict[str, object] = {
        "sql_file": dg.MetadataValue.path(str(model.path)),
        "table": ".".join(model.table),
    }
    if is_features:
        static_meta["feature_registry"] = dg.MetadataValue.md(_registry_markdown())

    @weekly_asset(
        model.layer,
        model.name,
        deps=deps,
        code_version=model.code_version,
        kinds={"duckdb", "sql"},
        owners=["team:data-engineering"] if not is_features else ["team:data-science"],
        description=model.description or f"SQL model {model.layer}.{model.name}",
        metadata=static_meta,
        check_specs=check_specs,
    )
    def _model(context: dg.AssetExecutionContext, seg: SegResource) -> Iterator[ModelEvent]:
        settings: Settings = seg.settings()
        week = week_of(context.partition_key)
        with connect(settings.warehouse_path) as con:
            ensure_schemas(con)
            rows = run_model(con, model, week, memory_limit=settings.sql_memory_limit or None)
            schema = column_schema(con, model.layer, model.name)
            checks = _feature_checks(con, week) if is_features else []
            if is_features:
                _publish_registry(con)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": schema,
                "week_start": str(week),
            }
        )
        yield from checks

    return _model


def _models() -> list[SqlModel]:
    return discover(Settings().sql_dir)


sql_model_assets = [build_model_asset(m) for m in _models()]
