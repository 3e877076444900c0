"""A tiny warehouse with planted-persona features and a temporary MLflow store, through the real resources."""

from dataclasses import dataclass
from datetime import date

import pytest

from seg_pipeline.defs.resources import ModelRegistryResource, WarehouseResource, build_resources
from seg_pipeline.segmentation.tracking import MlflowTracker
from seg_pipeline.settings import Settings
from seg_pipeline.warehouse.duck import replace_partition
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

ACCOUNTS = 300


@dataclass
class Env:
    settings: Settings
    warehouse: Warehouse
    tracker: MlflowTracker

    def write_features(self, week: date, seed: int = 1, accounts: int = ACCOUNTS, **columns: object) -> int:
        """Planted-persona rows of ``features.account_features`` for ``week``, ``columns`` overridden; the count."""
        frame, _ = make_accounts(accounts, seed=seed)
        frame = frame.assign(**columns)
        frame.insert(1, "week_start", week)
        with self.warehouse.connect() as con:
            return replace_partition(con, "features", "account_features", frame, key=week)


@pytest.fixture
def env(tmp_path) -> Env:
    settings = Settings().with_home(tmp_path / "home")
    resources = build_resources(settings)
    warehouse, registry = resources["warehouse"], resources["model_registry"]
    assert isinstance(warehouse, WarehouseResource)
    assert isinstance(registry, ModelRegistryResource)
    return Env(settings, warehouse.engine(), registry.tracker())
