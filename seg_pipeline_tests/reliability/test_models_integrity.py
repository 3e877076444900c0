"""Model tampering: a stored model loads only allow-listed types, checked against the registry, on every path."""

import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import pytest
import skops.io as sio
import yaml

from seg_pipeline.defs.model.assets import segmentation_model
from seg_pipeline.defs.resources import ModelRegistryResource, WarehouseResource, build_resources
from seg_pipeline.segmentation.tracking import (
    MODEL_FILE,
    PYFUNC_ENTRY_FILE,
    TAG_SHA,
    MlflowTracker,
    ModelIntegrityError,
    sha256_file,
)
from seg_pipeline.settings import Settings
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.model.conftest import Env
from seg_pipeline_tests.segmentation.test_tracking import _result

pytestmark = pytest.mark.reliability


@pytest.fixture
def tracker(tmp_path: Path) -> MlflowTracker:
    return MlflowTracker(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}", tmp_path / "artifacts")


def _version_dir(tracker: MlflowTracker, version: str) -> Path:
    """Find the registered version's pyfunc folder under the artifact root (what an attacker with disk access edits)."""
    model_id = tracker.client.get_model_version(tracker.model_name, version).source.rsplit("/", 1)[-1]
    (skops_file,) = [p for p in tracker.artifact_root.rglob(MODEL_FILE) if model_id in p.parts]
    return skops_file.parent.parent


def _skops_file(tracker: MlflowTracker, version: str) -> Path:
    (path,) = _version_dir(tracker, version).rglob(MODEL_FILE)
    return path


def write_exec_skops(path: Path, marker: Path) -> None:
    """Write a skops file whose loading calls ``builtins.exec`` (a constructor node), creating ``marker`` if it runs."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    node = {"__class__": "exec", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "content": [{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                                     "content": json.dumps(code), "is_json": True, "__id__": 3}], "__id__": 2},
            "__id__": 1}
    sio.dump({"model": "placeholder"}, path)
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
    schema["content"]["model"] = node
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))


def test_crafted_exec_model_is_refused_even_with_the_registry_hash_rewritten(
    tracker: MlflowTracker, tmp_path: Path
) -> None:
    res = _result(1)
    version = tracker.log_week(res, week_start=date(2026, 1, 5), tags={"dagster.run_id": "r1"})
    target, marker = _skops_file(tracker, version), tmp_path / "pwned"
    write_exec_skops(target, marker)
    tracker.client.set_model_version_tag(tracker.model_name, version, TAG_SHA, sha256_file(target))
    with pytest.raises(ModelIntegrityError, match=r"outside the allow-list.*builtins\.exec"):
        tracker.load_version(version)
    assert not marker.exists()


def _rewrite_mlmodel_sha(folder: Path, sha: str) -> None:
    mlmodel = folder / "MLmodel"
    doc: dict[str, Any] = yaml.safe_load(mlmodel.read_text())
    doc["flavors"]["python_function"]["config"]["sha256"] = sha
    doc.setdefault("metadata", {})["sha256"] = sha
    mlmodel.write_text(yaml.safe_dump(doc))


def test_pyfunc_with_a_swapped_model_and_rewritten_mlmodel_hash_is_refused(tracker: MlflowTracker) -> None:
    version = tracker.log_week(_result(1), week_start=date(2026, 1, 5), tags={"dagster.run_id": "r1"})
    target = _skops_file(tracker, version)
    sio.dump(_result(9).model, target)  # a well-formed model nobody registered
    _rewrite_mlmodel_sha(_version_dir(tracker, version), sha256_file(target))
    with tracker.active(), pytest.raises(ModelIntegrityError, match="no recorded SHA-256"):
        mlflow.pyfunc.load_model(f"models:/{tracker.model_name}/{version}")
    with pytest.raises(ModelIntegrityError):
        tracker.load_pyfunc(version)


def test_pyfunc_with_tampered_entry_code_is_refused_before_it_runs(tracker: MlflowTracker, tmp_path: Path) -> None:
    version = tracker.log_week(_result(1), week_start=date(2026, 1, 5), tags={"dagster.run_id": "r1"})
    marker = tmp_path / "pwned"
    (entry,) = _version_dir(tracker, version).rglob(PYFUNC_ENTRY_FILE)
    entry.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + entry.read_text())
    with pytest.raises(ModelIntegrityError, match="entry code"):
        tracker.load_pyfunc(version)
    assert not marker.exists()
    untouched = tracker.log_week(_result(2), week_start=date(2026, 1, 12), tags={"dagster.run_id": "r2"})
    assert len(tracker.load_pyfunc(untouched).predict(_result(2).features.head(5))) == 5


@pytest.fixture
def model_env(tmp_path: Path) -> Env:
    """Build a tiny warehouse and MLflow store under tmp_path, through the real resources."""
    settings = Settings().with_home(tmp_path / "home")
    resources = build_resources(settings)
    warehouse, registry = resources["warehouse"], resources["model_registry"]
    assert isinstance(warehouse, WarehouseResource)
    assert isinstance(registry, ModelRegistryResource)
    return Env(settings, warehouse.engine(), registry.tracker())


def _materialize(env: Env, week: date) -> dg.ExecuteInProcessResult:
    with weekly_instance(week.isoformat()) as instance:
        return dg.materialize([segmentation_model], partition_key=week.isoformat(), instance=instance,
                              raise_on_error=False, resources=build_resources(env.settings))


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return found


@pytest.mark.e2e  # three weekly Dagster runs with real training: ~90 s each test
def test_tampered_champion_falls_back_to_the_previous_good_version_and_alerts(model_env: Env) -> None:
    env = model_env
    week1 = date(2026, 1, 5)
    weeks = [week1 + timedelta(days=7 * i) for i in range(3)]
    for w in weeks[:2]:
        env.write_features(w)
        assert _materialize(env, w).success
    champion = env.tracker.champion_version()
    assert champion == "2"
    target = _skops_file(env.tracker, champion)
    target.write_bytes(target.read_bytes()[:-40])  # truncated / tampered bytes
    env.write_features(weeks[2])
    result = _materialize(env, weeks[2])
    assert result.success
    integrity = _check(result, "champion_integrity")
    assert not integrity.passed
    assert integrity.severity == dg.AssetCheckSeverity.WARN
    assert "previous good version v1" in (integrity.description or "")
    alerts = [json.loads(line) for line in env.settings.outbox_dir.joinpath("alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["engineer"]
    assert "champion model v2 refused" in alerts[0]["subject"]
    meta = result.asset_materializations_for_node("model__segmentation_model")[0].metadata
    assert meta["serving_version"].value in {"1", "3"}  # the fallback's week: its own model or v1, never v2


@pytest.mark.e2e  # three weekly Dagster runs with real training: ~90 s each test
def test_no_loadable_champion_blocks_the_week_with_an_alert(model_env: Env) -> None:
    env = model_env
    week1 = date(2026, 1, 5)
    env.write_features(week1)
    assert _materialize(env, week1).success
    target = _skops_file(env.tracker, "1")
    target.unlink()
    week2 = week1 + timedelta(days=7)
    env.write_features(week2)
    result = _materialize(env, week2)
    integrity = _check(result, "champion_integrity")
    assert not integrity.passed
    assert integrity.severity == dg.AssetCheckSeverity.ERROR
    assert "week is blocked" in (integrity.description or "")
    assert not _check(result, "quality_gate").passed
    assert env.settings.outbox_dir.joinpath("alerts.jsonl").exists()
