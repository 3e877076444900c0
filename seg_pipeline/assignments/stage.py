"""The assignments stage's week: every account gets its stable segment from the model serving the week."""

from datetime import date
from typing import cast

import pandas as pd

from seg_pipeline.assignments.tables import account_segments_columns, update_catalog, write_week_assignments
from seg_pipeline.features.store import load_week_features
from seg_pipeline.model.serving import serving_model
from seg_pipeline.outcomes import Columns, Markdown, StageResult
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.warehouse.engine import Warehouse


def assign_week(
    model: SegmentationModel, features: pd.DataFrame, week: date, version: str, run_id: str
) -> pd.DataFrame:
    """Build the week's ``assignments.account_segments`` rows, ordered by account, stamped with version and run."""
    assigned = model.assign(features)
    assigned.insert(1, "week_start", week)
    assigned["model_version"] = str(version)
    assigned["run_id"] = run_id
    return assigned.sort_values("account_id").reset_index(drop=True)


def _metadata(
    assigned: pd.DataFrame, model: SegmentationModel, version: str, catalog_size: int, columns: Columns
) -> dict[str, object]:
    sizes = assigned.groupby("segment_id").size()
    names = model.segment_names
    table = pd.DataFrame({"segment_id": sizes.index, "name": [names.get(i, "") for i in sizes.index],
                          "accounts": sizes.values})
    return {
        "dagster/row_count": len(assigned),
        "model_version": str(version),
        "segments": len(sizes),
        "outliers": int(assigned["is_outlier"].sum()),
        "in_micro_community": int(assigned["micro_community"].notna().sum()),
        "median_margin": float(assigned["margin"].median()) if len(assigned) else 0.0,
        "segment_sizes": Markdown(table.to_markdown(index=False)),
        "catalog_segments": catalog_size,
        **{f"size_segment_{int(cast(int, k))}": int(v) for k, v in sizes.items()},
        "dagster/column_schema": columns,
    }


def run_week(week: date, warehouse: Warehouse, tracker: MlflowTracker, run_id: str) -> StageResult:
    """Assign ``week`` with its serving model and refresh the segment catalog.

    Raises :class:`~seg_pipeline.model.serving.NoChampionError` when no model may serve the week.
    """
    model, version = serving_model(warehouse, tracker, week)
    with warehouse.connect() as con:
        features = load_week_features(con, week, list(model.features) + list(model.categorical))
        assigned = assign_week(model, features, week, version, run_id)
        write_week_assignments(con, week, assigned)
        catalog_size = update_catalog(con, model, week, str(version))
        columns = Columns(tuple(account_segments_columns(con)))
    return StageResult(_metadata(assigned, model, version, catalog_size, columns))
