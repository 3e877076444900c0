import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.segmentation.estimators import DBSCANSegmenter, HybridSegmenter, KMeansSegmenter

BLOBS = make_blobs(2_000, n_features=4, centers=4, cluster_std=0.6, random_state=11)


def _make(algorithm: str, seed: int) -> KMeansSegmenter | DBSCANSegmenter | HybridSegmenter:
    if algorithm == "kmeans":
        return KMeansSegmenter(k_range=(2, 8), random_state=seed)
    if algorithm == "dbscan":
        return DBSCANSegmenter(random_state=seed)
    return HybridSegmenter(k_range=(2, 8), random_state=seed)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("algorithm", ["kmeans", "dbscan", "hybrid"])
def test_recovers_blobs(algorithm: str, seed: int) -> None:
    X, y = BLOBS
    est = _make(algorithm, seed).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.98
    if algorithm != "dbscan":
        assert est.cluster_centers_.shape == (4, 4)
        assert est.k_selection_.k == 4


@pytest.mark.parametrize("algorithm", ["kmeans", "dbscan", "hybrid"])
def test_same_seed_same_labels(algorithm: str) -> None:
    X, _ = make_blobs(1_500, n_features=3, centers=5, cluster_std=2.0, random_state=3)
    a = _make(algorithm, 42).fit(X).labels_
    b = _make(algorithm, 42).fit(X).labels_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("maker", [make_moons, make_circles])
def test_dbscan_beats_kmeans_on_non_convex_shapes(maker) -> None:
    kwargs = {"factor": 0.4} if maker is make_circles else {}
    X, y = maker(1_500, noise=0.05, random_state=0, **kwargs)
    km = KMeansSegmenter(2, random_state=0).fit(X)
    db = DBSCANSegmenter(min_samples=8, random_state=0).fit(X)
    assert adjusted_rand_score(y, db.labels_) > 0.95
    assert adjusted_rand_score(y, km.labels_) < 0.6


@pytest.mark.parametrize(
    ("est", "match"),
    [
        (KMeansSegmenter(n_clusters=0), "n_clusters"),
        (KMeansSegmenter(n_clusters="many"), "n_clusters"),
        (KMeansSegmenter(k_range=(1, 5)), "k_range"),
        (KMeansSegmenter(n_init=0), "n_init"),
        (DBSCANSegmenter(eps=-1.0), "eps"),
        (DBSCANSegmenter(min_samples=0), "min_samples"),
        (DBSCANSegmenter(max_rows=0), "max_rows"),
        (HybridSegmenter(min_micro_size=0), "min_micro_size"),
        (HybridSegmenter(outlier_mad=0.0), "outlier_mad"),
    ],
)
def test_invalid_params_raise_at_fit(est, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        est.fit(BLOBS[0])


def test_kmeans_too_many_clusters_raises() -> None:
    with pytest.raises(ValueError, match="larger than the number of rows"):
        KMeansSegmenter(10).fit(np.random.default_rng(0).normal(size=(5, 2)))


def test_estimators_follow_the_sklearn_contract() -> None:
    est = HybridSegmenter(3, eps=0.5, random_state=1)
    assert clone(est).get_params() == est.get_params()
    assert not hasattr(est, "labels_")  # nothing computed in __init__


def test_kmeans_predict_and_transform_match_fit() -> None:
    X, _ = BLOBS
    km = KMeansSegmenter(4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    dist = km.transform(X)
    assert dist.shape == (len(X), 4)
    np.testing.assert_array_equal(dist.argmin(axis=1), km.labels_)
    assert km.k_selection_ is None  # fixed k overrides selection


def test_degenerate_results_warn() -> None:
    X, _ = BLOBS
    with pytest.warns(UserWarning, match="every point noise"):
        DBSCANSegmenter(eps=1e-6, min_samples=5, random_state=0).fit(X)
    dup = np.repeat([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], [50, 50, 1], axis=0)
    with pytest.warns(UserWarning, match="single-row cluster"):
        KMeansSegmenter(3, random_state=0).fit(dup)


def test_dbscan_guard_subsamples_and_assigns_the_rest() -> None:
    X, y = make_blobs(6_000, n_features=3, centers=3, cluster_std=0.5, random_state=5)
    db = DBSCANSegmenter(min_samples=10, max_rows=2_000, random_state=0).fit(X)
    assert db.subsampled_
    assert db.n_fit_rows_ == 2_000
    assert db.labels_.shape == (6_000,)
    assert adjusted_rand_score(y, db.labels_) > 0.98
    # a memory limit below the estimate shrinks the sample further instead of risking an OOM kill
    small = DBSCANSegmenter(min_samples=10, max_rows=6_000, memory_limit_bytes=2_000_000, random_state=0).fit(X)
    assert small.subsampled_
    assert small.n_fit_rows_ < 6_000
    assert small.memory_estimate_bytes_ <= 2_000_000
    assert adjusted_rand_score(y, small.labels_) > 0.95


def test_dbscan_guard_refuses_when_subsampling_disabled() -> None:
    X, _ = make_blobs(3_000, n_features=3, centers=3, random_state=5)
    with pytest.raises(ValueError, match="subsampling is disabled"):
        DBSCANSegmenter(min_samples=10, max_rows=None, memory_limit_bytes=1_000, random_state=0).fit(X)


def test_dbscan_predict_marks_far_points_noise() -> None:
    X, _ = BLOBS
    db = DBSCANSegmenter(random_state=0).fit(X)
    labels = db.predict(np.vstack([X[:5], np.full((1, 4), 1e3)]))
    np.testing.assert_array_equal(labels[:5], db.labels_[:5])
    assert labels[-1] == -1


def _blob_with_hidden_community() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0, 0], 1.0, size=(3_000, 3))
    b = rng.normal([12, 0, 0], 1.0, size=(3_000, 3))
    micro = rng.normal([0, 6, 0], 0.3, size=(150, 3))  # dense, close to blob a: K-means (k=2) folds it in
    far = np.array([[0.0, -40.0, 0.0], [40.0, 0.0, 30.0]])
    X = np.vstack([a, b, micro, far])
    kind = np.r_[np.zeros(6_000), np.ones(150), np.full(2, 2)]
    return X, kind


def test_hybrid_finds_micro_community_and_flags_outliers() -> None:
    X, kind = _blob_with_hidden_community()
    h = HybridSegmenter(2, min_samples=8, min_micro_size=50, random_state=0).fit(X)
    micro = h.micro_labels_ >= 0
    assert h.n_micro_ == 1
    assert micro[kind == 1].mean() > 0.95
    assert micro[kind == 0].mean() < 0.01
    assert h.is_outlier_[kind == 2].all()
    assert h.is_outlier_[kind == 0].mean() < 0.01
    assert not (h.is_outlier_ & micro).any()
    assert (h.margin_ >= 0).all()
    detail = h.predict_detail(X)
    np.testing.assert_array_equal(detail.labels, h.labels_)
    np.testing.assert_array_equal(detail.micro_labels, h.micro_labels_)
    np.testing.assert_array_equal(detail.is_outlier, h.is_outlier_)


def test_hybrid_ignores_lattice_splits() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4_000, 4))
    X[:, 0] = rng.poisson(0.3, 4_000)  # a sparse count: dense blocks at 0 and 1 one step apart
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = HybridSegmenter(2, min_micro_size=50, random_state=0).fit(X)
    assert h.n_micro_ == 0
