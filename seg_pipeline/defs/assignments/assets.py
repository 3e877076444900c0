"""Assignments stage: every active account gets this week's stable segment from the serving champion."""

import json
from datetime import date

import dagster as dg
import pandas as pd

from seg_pipeline.defs.model.assets import load_week_features, serving_model
from seg_pipeline.defs.resources import SegResource
from seg_pipeline.defs.weekly import column_schema, weekly_asset
from seg_pipeline.partitions import week_of
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.warehouse.duck import connect, ensure_schemas, replace_partition, transaction

KEY = dg.AssetKey(["assignments", "account_segments"])


def update_catalog(con, model, week: date, version: str) -> int:  # type: ignore[no-untyped-def]
    """Upsert the serving model's segments, mark ids it no longer has retired; returns the catalog size."""
    with transaction(con):
        for sid in model.segment_ids:
            profile = json.dumps({k: round(float(v), 4) for k, v in model.profiles_z.get(sid, {}).items()})
            con.execute(
                """
                INSERT INTO assignments.segment_catalog VALUES (?, ?, ?, ?, 'active', ?, ?)
                ON CONFLICT (segment_id) DO UPDATE SET
                    segment_name = excluded.segment_name,
                    first_week = least(segment_catalog.first_week, excluded.first_week),
                    last_week = greatest(segment_catalog.last_week, excluded.last_week),
                    status = 'active', profile_json = excluded.profile_json, model_version = excluded.model_version
                """,
                [int(sid), model.segment_names.get(sid, f"Segment {sid}"), week, week, profile, version],
            )
        con.execute(
            "UPDATE assignments.segment_catalog SET status = 'retired' "
            "WHERE segment_id NOT IN (SELECT unnest(?::INTEGER[])) AND last_week <= ?",
            [[int(sid) for sid in model.segment_ids], week],
        )
    return int(con.execute("SELECT count(*) FROM assignments.segment_catalog").fetchall()[0][0])


@weekly_asset(
    "assignments", "account_segments",
    deps=[dg.AssetKey(["model", "segmentation_model"])],
    kinds={"duckdb", "mlflow"},
    owners=["team:data-science"],
    description=(
        "One row per active account per week: stable segment id and persona name, DBSCAN micro-community, "
        "outlier flag (noise is never silently assigned to a segment), margin (distance gap to the second-nearest "
        "centroid; small = borderline) and the model version that assigned it - the @champion after this week's "
        "gate. Also maintains assignments.segment_catalog (id, name, first/last week, active/retired)."
    ),
)
def account_segments(context: dg.AssetExecutionContext, seg: SegResource) -> dg.MaterializeResult:
    settings = seg.settings()
    week = week_of(context.partition_key)
    tracker = MlflowTracker.from_settings(settings)
    model, version = serving_model(settings, tracker, week)
    with connect(settings.warehouse_path) as con:
        ensure_schemas(con)
        features = load_week_features(con, week, list(model.features) + list(model.categorical))
        assigned = model.assign(features)
        assigned.insert(1, "week_start", week)
        assigned["model_version"] = str(version)
        assigned["run_id"] = context.run.run_id
        assigned = assigned.sort_values("account_id").reset_index(drop=True)
        replace_partition(con, "assignments", "account_segments", assigned, key=week)
        catalog_size = update_catalog(con, model, week, str(version))
        schema = column_schema(con, "assignments", "account_segments")
    sizes = assigned.groupby("segment_id").size()
    names = model.segment_names
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(assigned),
            "model_version": str(version),
            "segments": len(sizes),
            "outliers": int(assigned["is_outlier"].sum()),
            "in_micro_community": int(assigned["micro_community"].notna().sum()),
            "median_margin": float(assigned["margin"].median()) if len(assigned) else 0.0,
            "segment_sizes": dg.MetadataValue.md(
                pd.DataFrame({"segment_id": sizes.index, "name": [names.get(i, "") for i in sizes.index],
                              "accounts": sizes.values}).to_markdown(index=False)
            ),
            "catalog_segments": catalog_size,
            **{f"size_segment_{int(k)}": int(v) for k, v in sizes.items()},
            "dagster/column_schema": schema,
        }
    )
