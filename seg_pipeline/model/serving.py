"""Which model assigns a week: the version the model stage recorded for it, else the current @champion."""

from datetime import date

from seg_pipeline.model import tables
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.warehouse.engine import Warehouse


class NoChampionError(RuntimeError):
    """No model may assign the week: the first week's model failed its quality gate."""


def serving_version(warehouse: Warehouse, week: date) -> str | None:
    """Return the model version recorded in ``model.training_runs`` as serving ``week`` (None if none was)."""
    with warehouse.connect() as con:
        return tables.serving_version(con, week)


def serving_model(warehouse: Warehouse, tracker: MlflowTracker, week: date) -> tuple[SegmentationModel, str]:
    """(SegmentationModel, version) that assigns ``week``: its recorded serving version, else @champion."""
    version = serving_version(warehouse, week)
    if version is not None:
        return tracker.load_version(version), version
    champion = tracker.load_serving_champion()
    if champion is None:
        raise NoChampionError("no @champion model in MLflow yet: the first week's model failed its gate")
    if champion.model is None:
        raise NoChampionError(f"@champion v{champion.champion} and every earlier good version were refused on load "
                              f"({champion.refused}); restore the model files or promote a good version")
    return champion.model, str(champion.version)
