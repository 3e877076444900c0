"""Automatic DBSCAN eps robust to far outliers, HDBSCAN, density warnings and `--k-max` in `seg segment`."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from seg_pipeline.cli import main
from seg_pipeline.segmentation.adhoc import InputError, k_edge_note, run_segment
from seg_pipeline.segmentation.estimators import (
    DBSCANSegmenter,
    HDBSCANSegmenter,
    dbscan_cut,
    density_result_problem,
    estimate_eps,
)
from seg_pipeline.segmentation.kselect import select_k

_REPO = Path(__file__).resolve().parents[2]
# the repository's ../shared/data; a git worktree of it sits one level deeper
DATA = next((p for p in (_REPO / ".." / "shared" / "data", _REPO / ".." / ".." / "shared" / "data") if p.is_dir()),
            _REPO / ".." / "shared" / "data")
MALL = DATA / "mall_customers" / "Mall_Customers.csv"
MALL_FEATURES = "Annual Income (k$),Spending Score (1-100)"
needs_mall = pytest.mark.skipif(not MALL.is_file(), reason=f"public dataset not present at {MALL}")


def ring_centre_corners(seed: int, *, per_corner: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Make a dense centre blob, a ring around it and a few far outliers at the four corners (label -1).

    The corner groups are far enough that their k-distances dwarf the rest: the plain knee of the k-distance
    curve then lands at the bulk's largest distance and joins centre and ring.
    """
    rng = np.random.default_rng(seed)
    centre = rng.normal(0.0, 0.5, (300, 2))
    angle = rng.uniform(0.0, 2 * np.pi, 400)
    radius = rng.normal(4.0, 0.25, 400)
    ring = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    corners = [np.array([sx * 12.0, sy * 12.0]) + rng.normal(0.0, 1.0, (per_corner, 2))
               for sx in (-1, 1) for sy in (-1, 1)]
    X = np.vstack([centre, ring, *corners])
    y = np.r_[np.zeros(300), np.ones(400), -np.ones(4 * per_corner)].astype(int)
    return X, y


def _ari_without_outliers(y: np.ndarray, labels: np.ndarray) -> float:
    keep = y != -1
    return float(adjusted_rand_score(y[keep], labels[keep]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_automatic_eps_separates_ring_and_centre_despite_corner_outliers(seed: int) -> None:
    X, y = ring_centre_corners(seed)
    db = DBSCANSegmenter(random_state=0).fit(X)
    assert _ari_without_outliers(y, db.labels_) > 0.98
    assert (db.labels_[y == -1] == -1).mean() >= 0.75  # the corner points stay noise, not a cluster of their own
    assert len(set(db.labels_.tolist()) - {-1}) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hdbscan_separates_ring_and_centre_despite_corner_outliers(seed: int) -> None:
    X, y = ring_centre_corners(seed)
    hdb = HDBSCANSegmenter(random_state=0).fit(X)
    assert _ari_without_outliers(y, hdb.labels_) > 0.98
    assert len(set(hdb.labels_.tolist()) - {-1}) == 2


def test_automatic_eps_holds_when_far_outliers_join_blobs() -> None:
    X, y = make_blobs(600, centers=4, cluster_std=0.6, random_state=1)
    span = X.max(axis=0) - X.min(axis=0)
    far = X.max(axis=0) + 1.5 * span + np.random.default_rng(0).normal(0.0, 0.5, (6, 2))
    Xo, yo = np.vstack([X, far]), np.r_[y, -np.ones(6, dtype=int)]
    db = DBSCANSegmenter(random_state=0).fit(Xo)
    assert _ari_without_outliers(yo, db.labels_) > 0.95


def test_probe_eps_is_carried_to_all_rows_by_quantile() -> None:
    """Above the 2000-row probe the eps must fit the full data's density, not the sparser probe's."""
    X, y = make_moons(8_000, noise=0.06, random_state=0)
    eps = estimate_eps(X, 4, np.random.RandomState(0))
    labels = DBSCAN(eps=eps, min_samples=4).fit(X).labels_
    assert adjusted_rand_score(y, labels) > 0.95
    assert (labels == -1).mean() < 0.05


def test_dbscan_cut_reproduces_dbscan() -> None:
    X, _ = make_moons(800, noise=0.08, random_state=0)
    graph = NearestNeighbors(radius=0.2).fit(X).radius_neighbors_graph(X, mode="distance").tocoo()
    order = np.argsort(graph.data, kind="stable")
    edges = (graph.row[order].astype(np.int64), graph.col[order].astype(np.int64), graph.data[order])
    for eps in (0.05, 0.08, 0.12, 0.2):
        ours = dbscan_cut(edges, X.shape[0], eps, 8)
        ref = DBSCAN(eps=eps, min_samples=8).fit(X).labels_
        np.testing.assert_array_equal(ours == -1, ref == -1)  # same core/border/noise split
        assert adjusted_rand_score(ref, ours) > 0.98  # border rows may join another adjacent cluster


def test_density_warning_on_one_cluster_and_on_mostly_noise() -> None:
    X, _ = make_blobs(300, centers=3, random_state=0)
    with pytest.warns(UserWarning, match="found a single cluster"):
        DBSCANSegmenter(eps=100.0, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="of the rows noise"):
        DBSCANSegmenter(eps=0.25, min_samples=4, random_state=0).fit(X)
    assert density_result_problem(np.array([0, 0, 1, 1, -1])) is None
    assert density_result_problem(np.array([0, 1, -1, -1])) == "labelled 50% of the rows noise (2 clusters)"


def test_hdbscan_subsample_labels_the_rest_by_nearest_clustered_sample() -> None:
    X, y = make_blobs(3_000, centers=[(0, 0), (8, 0), (0, 8)], cluster_std=0.7, random_state=2)
    hdb = HDBSCANSegmenter(max_rows=600, random_state=0).fit(X)
    assert hdb.subsampled_
    assert hdb.n_fit_rows_ == 600
    assert adjusted_rand_score(y, hdb.labels_) > 0.9
    np.testing.assert_array_equal(hdb.predict(X[:50]), hdb.labels_[:50])


def _csv(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    df = pd.DataFrame({f"f{i}": X[:, i] for i in range(X.shape[1])})
    if y is not None:
        df["truth"] = y
    df.to_csv(path, index=False)
    return path


def test_segment_cli_warns_about_a_single_density_cluster(tmp_path: Path) -> None:
    X, _ = make_blobs(300, centers=3, random_state=0)
    src = _csv(tmp_path / "b.csv", X)
    out = CliRunner().invoke(main, ["segment", str(src), "--features", "f0,f1", "--algorithm", "dbscan",
                                    "--eps", "50", "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "warning: DBSCAN (eps=50" in out.output
    assert "single cluster" in out.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert any("single cluster" in w for w in summary["warnings"])


def test_segment_hdbscan_rejects_eps(tmp_path: Path) -> None:
    X, _ = make_blobs(100, centers=2, random_state=0)
    with pytest.raises(InputError, match="--eps does not apply"):
        run_segment(_csv(tmp_path / "b.csv", X), ["f0", "f1"], tmp_path / "o", algorithm="hdbscan", eps=1.0)
    with pytest.raises(InputError, match="--k-max must be at least 2"):
        run_segment(_csv(tmp_path / "b.csv", X), ["f0", "f1"], tmp_path / "o", k_max=1)


def test_k_edge_note_names_the_edge() -> None:
    X, _ = make_blobs(400, centers=6, n_features=4, cluster_std=0.5, random_state=0)
    top = select_k(X, range(2, 5), random_state=0)
    assert top.k == 4
    assert "largest k searched (2-4)" in (k_edge_note(top) or "")
    inside = select_k(X, range(2, 9), random_state=0)
    assert inside.k == 6
    assert k_edge_note(inside) is None


def _fifteen_blobs(tmp_path: Path) -> tuple[Path, np.ndarray]:
    X, y = make_blobs(750, centers=15, n_features=6, cluster_std=1.0, random_state=4)
    return _csv(tmp_path / "b15.csv", X), y


def test_k_max_lets_auto_k_find_fifteen_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEG_K_MAX", raising=False)
    src, y = _fifteen_blobs(tmp_path)
    feats = ",".join(f"f{i}" for i in range(6))
    capped = CliRunner().invoke(main, ["segment", str(src), "--features", feats, "--out", str(tmp_path / "a")])
    assert capped.exit_code == 0, capped.output
    assert "k=10" in capped.output
    assert "largest k searched (2-10)" in capped.output
    monkeypatch.setenv("SEG_K_MAX", "20")  # honoured when --k-max is not given
    wide = CliRunner().invoke(main, ["segment", str(src), "--features", feats, "--out", str(tmp_path / "b")])
    assert wide.exit_code == 0, wide.output
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert 14 <= summary["k"] <= 16
    labels = pd.read_csv(tmp_path / "b" / "assignments.csv")["segment"].to_numpy()
    assert adjusted_rand_score(y, labels) > 0.95


@needs_mall
def test_mall_default_segment_finds_five(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEG_K_MAX", raising=False)
    out = CliRunner().invoke(main, ["segment", str(MALL), "--features", MALL_FEATURES, "--id-col", "CustomerID",
                                    "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "summary.json").read_text())["k"] == 5


@needs_mall
@pytest.mark.parametrize("scaler", ["standard", "none"])
def test_mall_automatic_eps_dbscan_finds_at_least_four_clusters(tmp_path: Path, scaler: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # neither one cluster nor mostly noise
        summary = run_segment(MALL, MALL_FEATURES.split(","), tmp_path, algorithm="dbscan", scaler=scaler)
    assert summary["k"] >= 4
    assert summary["n_noise"] < 0.25 * summary["rows"]
    assert "warnings" not in summary


@needs_mall
def test_mall_hdbscan_finds_at_least_four_clusters(tmp_path: Path) -> None:
    summary = run_segment(MALL, MALL_FEATURES.split(","), tmp_path, algorithm="hdbscan")
    assert summary["k"] >= 4
    assert summary["min_cluster_size"] >= summary["min_samples"]
