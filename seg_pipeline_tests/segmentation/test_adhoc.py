"""`seg segment` on the published Mall-customers references, on synthetic blobs and on bad inputs."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from seg_pipeline.segmentation.adhoc import InputError, describe_profile, run_segment

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MALL = DATA / "mall_customers" / "Mall_Customers.csv"
MALL_FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]

needs_mall = pytest.mark.skipif(not MALL.is_file(), reason=f"public dataset not present at {MALL}")


def _blobs_csv(path: Path, *, n: int = 240, seed: int = 0) -> Path:
    X, _ = make_blobs(n_samples=n, centers=[(0, 0), (10, 10), (0, 10)], cluster_std=0.8, random_state=seed)
    df = pd.DataFrame({"cust": [f"c{i:04d}" for i in range(n)], "x": X[:, 0], "y": X[:, 1], "label": "a"})
    df.to_csv(path, index=False)
    return path


@needs_mall
def test_mall_kmeans_k5_matches_published_reference(tmp_path: Path) -> None:
    out = tmp_path / "km"
    summary = run_segment(
        MALL, MALL_FEATURES, out, id_col="CustomerID", algorithm="kmeans", k=5, scaler="none", seed=0
    )
    assert summary["k"] == 5
    assert summary["silhouette"] == pytest.approx(0.5539, abs=5e-4)
    assert summary["inertia"] == pytest.approx(44448.46, abs=0.05)
    assert sorted(s["size"] for s in summary["segments"]) == [22, 23, 35, 39, 81]
    assert summary["n_noise"] == 0
    by_name = {s["name"]: s["profile"] for s in summary["segments"]}
    rich_savers = by_name["high Annual Income, low Spending Score"]
    assert rich_savers["Annual Income (k$)"] == pytest.approx(88.20, abs=0.01)
    assert rich_savers["Spending Score (1-100)"] == pytest.approx(17.11, abs=0.01)
    assert len(by_name) == 5

    written = json.loads((out / "summary.json").read_text())
    assert written == summary
    assign = pd.read_csv(out / "assignments.csv", dtype={"CustomerID": str})
    assert list(assign.columns) == ["CustomerID", "segment"]
    assert assign["CustomerID"].iloc[0] == "0001"  # zero-padded ids survive
    sizes = assign["segment"].value_counts().to_dict()
    assert sizes == {s["id"]: s["size"] for s in summary["segments"]}


@needs_mall
def test_mall_dbscan_eps9_finds_seven_clusters_and_sixteen_noise(tmp_path: Path) -> None:
    summary = run_segment(
        MALL, MALL_FEATURES, tmp_path, id_col="CustomerID", algorithm="dbscan", eps=9, min_samples=4,
        scaler="none",
    )
    assert summary["k"] == 7
    assert summary["n_noise"] == 16
    assert summary["silhouette_noise_as_cluster"] == pytest.approx(0.425968, abs=1e-5)
    assign = pd.read_csv(tmp_path / "assignments.csv")
    assert (assign["segment"] == -1).sum() == 16
    assert summary["eps"] == 9.0
    assert summary["min_samples"] == 4


@needs_mall
def test_report_is_self_contained(tmp_path: Path) -> None:
    run_segment(MALL, MALL_FEATURES, tmp_path, algorithm="kmeans", k=5, scaler="none")
    html = (tmp_path / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 4  # elbow, silhouette, profiles, 2-D
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "high Annual Income, low Spending Score" in html


def test_hybrid_on_blobs_is_deterministic_and_complete(tmp_path: Path) -> None:
    src = _blobs_csv(tmp_path / "blobs.csv")
    a = run_segment(src, ["x", "y"], tmp_path / "a", id_col="cust", seed=3)
    b = run_segment(src, ["x", "y"], tmp_path / "b", id_col="cust", seed=3)
    assert a == b
    assert (tmp_path / "a" / "assignments.csv").read_bytes() == (tmp_path / "b" / "assignments.csv").read_bytes()
    assert a["algorithm"] == "hybrid"
    assert a["k"] == 3
    assert "k_reason" in a
    assign = pd.read_csv(tmp_path / "a" / "assignments.csv")
    assert list(assign.columns) == ["cust", "segment", "micro_community"]
    assert len(assign) == 240
    assert set(assign["segment"]) <= {s["id"] for s in a["segments"]} | {-1}
    assert sum(s["size"] for s in a["segments"]) + a["n_noise"] == 240


def test_without_id_column_rows_are_numbered(tmp_path: Path) -> None:
    src = _blobs_csv(tmp_path / "blobs.csv", n=60)
    summary = run_segment(src, ["x", "y"], tmp_path / "o", algorithm="kmeans", k=3, scaler="minmax")
    assign = pd.read_csv(tmp_path / "o" / "assignments.csv")
    assert assign["row"].tolist() == list(range(60))
    assert sorted(s["size"] for s in summary["segments"]) == [20, 20, 20]


def test_parquet_input_and_blank_values_are_skipped_and_counted(tmp_path: Path) -> None:
    df = pd.read_csv(_blobs_csv(tmp_path / "b.csv", n=60))
    df["y"] = df["y"].round(3).astype(str)
    df.loc[[5, 7], "y"] = " "  # the Telco TotalCharges pattern: blank strings in a numeric column
    src = tmp_path / "b.parquet"
    df.to_parquet(src)
    summary = run_segment(src, ["x", "y"], tmp_path / "o", id_col="cust", algorithm="kmeans", k=3)
    assert summary["rows"] == 58
    assert summary["rows_skipped"] == 2
    assign = pd.read_csv(tmp_path / "o" / "assignments.csv")
    assert "c0005" not in set(assign["cust"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["x", "nope"]}, r"column 'nope' not found in blobs.csv; available columns: 'cust', 'x', 'y'"),
        ({"features": ["x", "label"]}, r"column 'label' in blobs.csv is not numeric \(60 non-numeric values, e.g. 'a'"),
        ({"features": ["x"], "id_col": "missing_id"}, r"column 'missing_id' not found"),
        ({"features": ["x", "y"], "k": 60}, r"--k 60 needs more than 60 rows"),
        ({"features": ["x", "y"], "k": "many"}, r"--k must be 'auto' or an integer"),
        ({"features": ["x", "y"], "algorithm": "spectral"}, r"unknown algorithm 'spectral'"),
        ({"features": ["x", "y"], "scaler": "log"}, r"unknown scaler 'log'"),
        ({"features": []}, r"no features given"),
    ],
)
def test_bad_options_give_one_sentence_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    src = _blobs_csv(tmp_path / "blobs.csv", n=60)
    features = kwargs.pop("features")
    with pytest.raises(InputError, match=message):
        run_segment(src, features, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_too_few_rows(tmp_path: Path) -> None:
    src = tmp_path / "tiny.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}).to_csv(src, index=False)
    with pytest.raises(InputError, match="has 2 rows with complete features; clustering needs at least 3"):
        run_segment(src, ["x", "y"], tmp_path / "out", algorithm="kmeans", k=2)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"\x00\x01 definitely not parquet")
    with pytest.raises(InputError, match=r"cannot read broken\.parquet as Parquet"):
        run_segment(bad, ["x"], tmp_path / "out")
    with pytest.raises(InputError, match="does not exist"):
        run_segment(tmp_path / "nope.csv", ["x"], tmp_path / "out")


def test_constant_features_are_rejected(tmp_path: Path) -> None:
    src = tmp_path / "flat.csv"
    pd.DataFrame({"x": np.ones(20), "y": np.full(20, 2.0)}).to_csv(src, index=False)
    with pytest.raises(InputError, match="every feature is constant"):
        run_segment(src, ["x", "y"], tmp_path / "out")


@pytest.mark.parametrize(
    ("z", "name"),
    [
        ({"Annual Income (k$)": 1.2, "Spending Score (1-100)": -1.1}, "high Annual Income, low Spending Score"),
        ({"a": 0.1, "b": -0.2}, "mid a, mid b"),
        ({"a": 0.1, "b": -0.2, "c": 0.9, "d": -2.0, "e": 0.6, "f": 0.7}, "high c, low d, high f"),
        ({"a": 0.1, "b": -0.2, "c": 0.3, "d": -0.2}, "average on all features"),
    ],
)
def test_describe_profile(z: dict, name: str) -> None:
    assert describe_profile(pd.Series(z)) == name
