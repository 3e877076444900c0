"""A tiny monitored warehouse: two weeks of features and assignments, and a real champion in a temporary MLflow.

Week 1 re-draws every account's persona, so most accounts move (the mass-migration gate fails) and features drift.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from seg_pipeline.defs.resources import ModelRegistryResource, WarehouseResource, build_resources
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.segmentation.train import TrainConfig, train_week
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.duck import replace_partition
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

W0, W1 = date(2026, 1, 5), date(2026, 1, 12)
ACCOUNTS = 120


@dataclass
class Monitored:
    settings: Settings
    warehouse: Warehouse
    tracker: MlflowTracker
    model: SegmentationModel
    version: str


def _assignments(model: SegmentationModel, features: pd.DataFrame, week: date, version: str) -> pd.DataFrame:
    out = model.assign(features)
    out.insert(1, "week_start", week)
    return out.assign(model_version=version, run_id="test")


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    """Features and assignments of W0 and W1, a W0 training run (the drift's training reference), a champion."""
    settings = Settings().with_home(Path(tmp_path_factory.mktemp("monitoring")) / "home")
    resources = build_resources(settings)
    warehouse, registry = resources["warehouse"], resources["model_registry"]
    assert isinstance(warehouse, WarehouseResource)
    assert isinstance(registry, ModelRegistryResource)
    engine, tracker = warehouse.engine(), registry.tracker()
    features = {W0: make_accounts(ACCOUNTS, seed=1)[0], W1: make_accounts(ACCOUNTS, seed=2)[0]}
    trained = train_week(features[W1], TrainConfig(fixed_k=4), champion=None, champion_assignments=None,
                         week_start=W1)
    version = tracker.log_week(trained, week_start=W1, tags={})
    tracker.promote(version, force=True)
    with engine.connect() as con:
        for week, frame in features.items():
            replace_partition(con, "features", "account_features", frame.assign(week_start=week), key=week)
            replace_partition(con, "assignments", "account_segments",
                              _assignments(trained.model, frame, week, version), key=week)
        con.execute("INSERT INTO model.training_runs (week_start, model_version, promoted) VALUES (?, ?, true)",
                    [W0, version])
    return Monitored(settings, engine, tracker, trained.model, version)
