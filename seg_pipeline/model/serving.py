"""Which model assigns a week: the version the model stage recorded for it, else the current @champion."""

from datetime import date
from typing import Any

from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.warehouse.engine import Warehouse


class NoChampionError(RuntimeError):
    """No model may assign the week: the first week's model failed its quality gate."""


def serving_version(warehouse: Warehouse, week: date) -> str | None:
    """The model version recorded in ``model.training_runs`` as serving ``week`` (None if none was)."""
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT serving_version FROM model.training_runs WHERE week_start = ? AND serving_version IS NOT NULL",
            [week],
        ).fetchall()
    return str(rows[0][0]) if rows else None


def serving_model(warehouse: Warehouse, tracker: MlflowTracker, week: date) -> tuple[Any, str]:
    """(SegmentationModel, version) that assigns ``week``: its recorded serving version, else @champion."""
    version = serving_version(warehouse, week)
    if version is not None:
        return tracker.load_version(version), version
    champion = tracker.load_champion()
    if champion is None:
        raise NoChampionError("no @champion model in MLflow yet: the first week's model failed its gate")
    return champion[0], str(champion[1])
