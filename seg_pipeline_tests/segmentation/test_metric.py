"""The shared-covariance metric: it must separate segments that Euclidean K-means cuts the wrong way."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.segmentation.metric import shared_covariance_whitening
from seg_pipeline.segmentation.preprocess import Whiten, build_preprocessor, transform_unclipped


def _tilted(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three segments apart along (1, -1), each spread along (1, 1) by noise both features share (rho 0.9)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 400)
    X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], labels.size) + np.column_stack([labels, -labels])
    return (X - X.mean(axis=0)) / X.std(axis=0), labels


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_whitening_follows_the_shared_spread_euclidean_kmeans_cuts_across(seed: int) -> None:
    X, truth = _tilted(seed)
    km = KMeans(3, n_init=4, random_state=0).fit(X)
    found = shared_covariance_whitening(X, km.cluster_centers_, seed=0)
    assert found is not None
    w, centres = found
    whitened = KMeans(3, init=centres, n_init=1).fit(X @ w)
    assert adjusted_rand_score(truth, whitened.labels_) > adjusted_rand_score(truth, km.labels_) + 0.05


def test_whitening_needs_segments_and_rows() -> None:
    X, _ = _tilted(4)
    assert shared_covariance_whitening(X, X[:1], seed=0) is None  # one segment: nothing shared to estimate
    assert shared_covariance_whitening(X[:3], X[:2], seed=0) is None  # fewer rows than features + segments


def test_whiten_step_applies_to_the_unclipped_rows_too() -> None:
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) ** 2})
    pre = build_preprocessor(["a", "b"], clip_quantiles=None)
    X = np.asarray(pre.fit_transform(frame))
    matrix = np.array([[2.0, 0.0], [1.0, 0.5]])
    pre.steps.append(("whiten", Whiten(matrix).fit(X)))
    np.testing.assert_allclose(pre.transform(frame), X @ matrix)
    np.testing.assert_allclose(transform_unclipped(pre, frame), X @ matrix)


def test_warm_centres_are_this_weeks_means_of_last_weeks_segments() -> None:
    from seg_pipeline.segmentation.train import _warm_centres

    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0], [5.0, 5.0]])
    ids = np.array(["a", "b", "c", "d", "new"])
    previous = pd.Series({"a": 3, "b": 3, "c": 7, "d": 7, "gone": 9})
    np.testing.assert_allclose(_warm_centres(X, ids, previous, 2), [[1.0, 0.0], [11.0, 10.0]])
    assert _warm_centres(X, ids, previous, 3) is None  # last week had another k: no warm start
    assert _warm_centres(X, ids, None, 2) is None
