import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from seg_pipeline.segmentation.kselect import select_k, silhouettes


@pytest.mark.parametrize("true_k", [3, 5, 7])
def test_recovers_planted_k(true_k: int) -> None:
    X, _ = make_blobs(3_000, n_features=8, centers=true_k, random_state=true_k, cluster_std=1.0)
    sel = select_k(X, range(2, 11), random_state=0)
    assert sel.k == true_k
    assert sel.knee is not None
    assert abs(sel.knee - true_k) <= 1
    assert list(sel.scores.columns) == ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]
    assert list(sel.scores["k"]) == list(range(2, 11))
    assert f"k={true_k}" in sel.reason
    assert "knee" in sel.reason


def test_deterministic_for_a_seed_and_uses_a_sample() -> None:
    X, _ = make_blobs(25_000, n_features=5, centers=4, random_state=1)
    a = select_k(X, range(2, 7), random_state=3, silhouette_sample=2_000)
    b = select_k(X, range(2, 7), random_state=3, silhouette_sample=2_000)
    assert a.k == b.k == 4
    assert a.scores.equals(b.scores)


def test_no_knee_falls_back_to_best_silhouette() -> None:
    X, _ = make_blobs(1_000, n_features=4, centers=3, random_state=0)
    sel = select_k(X, [3, 4], random_state=0)  # two points: no curve, no knee
    assert sel.knee is None
    assert sel.k == 3
    assert "no knee" in sel.reason


def test_silhouettes_match_sklearn() -> None:
    X, y = make_blobs(1_500, n_features=6, centers=4, random_state=0)
    rng = np.random.default_rng(0)
    labelings = [y, rng.integers(0, 3, len(y)), np.r_[np.zeros(len(y) - 1, dtype=int), 1]]
    ours = silhouettes(X, labelings, chunk=400)
    ref = [silhouette_score(X, lab) for lab in labelings]
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_invalid_ranges_raise() -> None:
    X, _ = make_blobs(200, n_features=2, centers=2, random_state=0)
    with pytest.raises(ValueError, match="empty"):
        select_k(X, [])
    with pytest.raises(ValueError, match=">= 2"):
        select_k(X, range(1, 4))
    with pytest.raises(ValueError, match="distinct rows"):
        select_k(np.zeros((50, 2)), range(2, 4))
