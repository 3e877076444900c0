"""MLflow tracking on a real SQLite store: runs, artifacts, registry alias, pyfunc round trip, integrity."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from seg_pipeline.segmentation.estimators import HybridSegmenter
from seg_pipeline.segmentation.kselect import KSelection, select_k
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.preprocess import build_preprocessor
from seg_pipeline.segmentation.tracking import (
    ALIAS,
    MODEL_FILE,
    MlflowTracker,
    ModelIntegrityError,
    dump_model,
    load_model_file,
)

FEATURES = ["logins", "tickets"]


def _features(seed: int, n: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = np.array([[5.0, 0.5], [40.0, 1.0], [10.0, 8.0]])
    X = np.vstack([c + rng.normal(0, [2.0, 0.5], size=(n // 3, 2)) for c in centers])
    return pd.DataFrame(
        {
            "account_id": [f"acc_{i:06d}" for i in range(len(X))],
            "logins": X[:, 0],
            "tickets": X[:, 1],
            "plan": rng.choice(["starter", "growth", "enterprise"], size=len(X)),
        }
    )


def _model(feats: pd.DataFrame, seed: int) -> tuple[SegmentationModel, np.ndarray, KSelection]:
    """Build a real SegmentationModel (skops types, micro-communities, outlier radii) from the estimators."""
    pre = build_preprocessor(FEATURES, categorical=["plan"], heavy_tailed=["logins"], scaler="standard").fit(feats)
    X = pre.transform(feats)
    est = HybridSegmenter(3, min_micro_size=3, random_state=seed).fit(X)
    sel = select_k(X, range(2, 6), random_state=seed)
    ids = [10, 11, 12]
    model = SegmentationModel(
        preprocessor=pre,
        features=FEATURES,
        categorical=["plan"],
        segment_ids=ids,
        centroids=est.cluster_centers_,
        segment_names={10: "Power Users", 11: "Steady Core", 12: "Support-Heavy Strugglers"},
        outlier_radius={sid: float(r) for sid, r in zip(ids, est.outlier_radius_, strict=True)},
        micro_components=est.micro_components_,
        micro_component_labels=est.micro_component_labels_,
        micro_component_segments=np.array([ids[s] for s in est.micro_component_segments_], dtype=np.int64),
        micro_eps=est.micro_eps_,
        version=f"test-{seed}",
    )
    return model, X, sel


def _result(seed: int, *, gate_passed: bool = True) -> SimpleNamespace:
    feats = _features(seed)
    model, _, sel = _model(feats, seed)
    assignments = model.assign(feats)
    profiles = feats[FEATURES].groupby(assignments["segment_id"].to_numpy()).mean()
    profiles_z = pd.DataFrame(model.centroids[:, :2], index=model.segment_ids, columns=FEATURES)
    metrics = {"silhouette": 0.61, "calinski_harabasz": 250.0, "davies_bouldin": 0.5, "inertia": 12.5,
               "noise_share": 0.0, "n_segments": 3, "stability_ari": 0.93, "changed_share": 0.04,
               **{f"size_{k}": int(v) for k, v in assignments["segment_id"].value_counts().items()}}
    config = SimpleNamespace(features=FEATURES, categorical=["plan"], scaler="standard", k_range=(2, 5),
                             fixed_k=None, eps=None, min_samples=None, seed=seed)
    gate = SimpleNamespace(passed=gate_passed, reasons=[] if gate_passed else ["silhouette 0.01 < floor 0.05"])
    return SimpleNamespace(model=model, assignments=assignments, metrics=metrics, k_selection=sel,
                           profiles=profiles, profiles_z=profiles_z, gate=gate, config=config, features=feats)


@pytest.fixture(scope="session")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> MlflowTracker:
    root = tmp_path_factory.mktemp("mlflow")
    return MlflowTracker(f"sqlite:///{(root / 'mlflow.db').as_posix()}", root / "artifacts")


@pytest.fixture(scope="session")
def week1(tracker: MlflowTracker) -> tuple[str, SimpleNamespace]:
    res = _result(1)
    version = tracker.log_week(res, week_start=date(2026, 1, 5), tags={"dagster.run_id": "run-w1"},
                               features=res.features)
    return version, res


def test_run_has_params_metrics_tags_and_artifacts(tracker: MlflowTracker, week1: tuple[str, Any]) -> None:
    version, res = week1
    assert version == "1"
    mv = tracker.client.get_model_version(tracker.model_name, version)
    run = tracker.client.get_run(mv.tags["mlflow_run_id"])
    assert run.data.tags["dagster.run_id"] == "run-w1"
    assert run.data.tags["seg.week_start"] == "2026-01-05"
    assert run.info.run_name == "week-2026-01-05"
    p = run.data.params
    assert p["features"] == "logins,tickets"
    assert p["scaler"] == "standard"
    assert p["k_range"] == "2,5"
    assert p["seed"] == "1"
    assert p["chosen_k"] == str(res.k_selection.k)
    m = run.data.metrics
    assert m["silhouette"] == pytest.approx(0.61)
    assert m["stability"] == pytest.approx(0.93)
    assert m["changed_share"] == pytest.approx(0.04)
    assert sum(v for k, v in m.items() if k.startswith("size_")) == 90
    arts = {a.path for a in tracker.client.list_artifacts(run.info.run_id)}
    assert {"k_selection.png", "k_selection.csv", "profile_heatmap.png", "projection_pca.png",
            "segment_profiles.csv", "gate.json"} <= arts
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="profile_heatmap.png",
                                                     tracking_uri=tracker.tracking_uri))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(tracker.artifact_root) in run.info.artifact_uri or run.info.artifact_uri.startswith(
        tracker.artifact_root.as_uri()
    )


def test_pyfunc_round_trip_through_champion_alias(tracker: MlflowTracker, week1: tuple[str, Any]) -> None:
    version, res = week1
    assert tracker.load_champion() is None  # nothing promoted yet
    tracker.promote(version)
    before = mlflow.get_tracking_uri()
    with tracker.active():
        loaded = mlflow.pyfunc.load_model(f"models:/{tracker.model_name}@{ALIAS}")
    assert mlflow.get_tracking_uri() == before  # global MLflow state restored
    new_accounts = _features(seed=99).sample(25, random_state=0)
    got = loaded.predict(new_accounts)
    expected = res.model.assign(new_accounts)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    model, champ = tracker.load_champion()
    assert champ == version
    pd.testing.assert_frame_equal(model.assign(new_accounts), expected)


def test_alias_moves_only_on_promote_and_only_when_gate_passed(
    tracker: MlflowTracker, week1: tuple[str, Any]
) -> None:
    v1, _ = week1
    tracker.promote(v1)
    failed = tracker.log_week(_result(2, gate_passed=False), week_start=date(2026, 1, 12),
                              tags={"dagster.run_id": "run-w2"})
    assert tracker.champion_version() == v1
    with pytest.raises(ValueError, match=f"model version {failed} did not pass the quality gate"):
        tracker.promote(failed)
    assert tracker.champion_version() == v1
    passed = tracker.log_week(_result(3), week_start=date(2026, 1, 19), tags={"dagster.run_id": "run-w3"})
    assert tracker.champion_version() == v1
    tracker.promote(passed)
    assert tracker.champion_version() == passed != v1


def test_retry_of_same_dagster_run_reuses_the_version(tracker: MlflowTracker) -> None:
    res = _result(4)
    tags = {"dagster.run_id": "run-w4"}
    first = tracker.log_week(res, week_start=date(2026, 1, 26), tags=tags)
    again = tracker.log_week(res, week_start=date(2026, 1, 26), tags=tags)
    assert again == first
    flt = f"name = '{tracker.model_name}' and tag.`seg.week_start` = '2026-01-26'"
    versions = tracker.client.search_model_versions(flt)
    assert len(versions) == 1


def test_tampered_model_file_is_refused(tracker: MlflowTracker) -> None:
    version = tracker.log_week(_result(5), week_start=date(2026, 2, 2), tags={"dagster.run_id": "run-w5"})
    model_id = tracker.client.get_model_version(tracker.model_name, version).source.rsplit("/", 1)[-1]
    target = [p for p in tracker.artifact_root.rglob(MODEL_FILE) if model_id in p.parts]
    assert len(target) == 1
    target[0].write_bytes(target[0].read_bytes() + b"\x00")
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        tracker.load_version(version)


def test_file_store_uri_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file store"):
        MlflowTracker(tmp_path.as_uri(), tmp_path / "a")
    with pytest.raises(ValueError, match="file store"):
        MlflowTracker(str(tmp_path / "mlruns"), tmp_path / "a")


@dataclass
class _Foreign:
    payload: str


def test_model_file_with_types_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / MODEL_FILE
    sha = dump_model({"model": _Foreign("x")}, path)
    with pytest.raises(ModelIntegrityError, match=r"outside the allow-list.*_Foreign"):
        load_model_file(path, expected_sha256=sha)
    with pytest.raises(ModelIntegrityError, match="no recorded SHA-256"):
        load_model_file(path, expected_sha256=None)
