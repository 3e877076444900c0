import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from seg_pipeline.segmentation.align import align_clusters
from seg_pipeline.segmentation.estimators import KMeansSegmenter


def _ids(n: int) -> list[str]:
    return [f"acc_{i:05d}" for i in range(n)]


def test_retrain_with_another_seed_changes_no_segment() -> None:
    X, _ = make_blobs(3_000, n_features=5, centers=6, random_state=2)
    ids = _ids(len(X))
    first = KMeansSegmenter(6, random_state=1).fit(X).labels_
    second = KMeansSegmenter(6, random_state=99).fit(X).labels_
    assert (first != second).mean() > 0.5  # raw labels are arbitrary per fit
    prev = pd.Series(first + 10, index=ids)  # champion uses stable ids 10..15
    al = align_clusters(pd.Series(second, index=ids), prev, next_id=16)
    stable = np.array([al.mapping[c] for c in second])
    np.testing.assert_array_equal(stable, prev.to_numpy())
    assert al.new_ids == []
    assert al.retired_ids == []


def test_only_members_of_a_drifting_cluster_move() -> None:
    ids = _ids(900)
    prev = pd.Series(np.repeat([3, 5, 8], 300), index=ids)
    new = pd.Series(np.repeat([2, 0, 1], 300), index=ids)
    new.iloc[:60] = 0  # 60 members of segment 3 drift into the cluster that matches segment 5
    al = align_clusters(new, prev, next_id=9)
    assert al.mapping == {0: 5, 1: 8, 2: 3}
    moved = new.map(al.mapping) != prev
    assert moved.sum() == 60
    assert moved.iloc[:60].all()


def test_new_cluster_gets_new_id_and_vanished_segment_is_retired() -> None:
    ids = _ids(1_000)
    prev = pd.Series(np.repeat([0, 1, 2, 3], 250), index=ids)
    new = pd.Series(np.repeat([0, 1, 2, 3], 250), index=ids)
    new.iloc[750:] = np.resize([0, 1, 2], 250)  # segment 3 dissolves into the other three
    new.iloc[:60] = 4  # a new cluster splits off segment 0
    al = align_clusters(new, prev, next_id=7)
    assert al.mapping == {0: 0, 1: 1, 2: 2, 4: 7}
    assert al.new_ids == [7]
    assert al.retired_ids == [3]


def test_small_overlap_is_not_a_match() -> None:
    ids = _ids(400)
    prev = pd.Series(np.repeat([0, 1], 200), index=ids)
    new = pd.Series(np.r_[np.zeros(390, dtype=int), np.ones(10, dtype=int)], index=ids)
    al = align_clusters(new, prev, next_id=2)
    assert al.mapping == {0: 0, 1: 2}  # 10 borrowed accounts do not inherit segment 1
    assert al.retired_ids == [1]


def test_centroid_fallback_without_shared_accounts() -> None:
    new = pd.Series([0, 1, 1], index=["x", "y", "z"])
    prev = pd.Series([0, 1], index=["a", "b"])
    centroids = np.array([[10.0, 0.0], [0.0, 0.0]])
    al = align_clusters(
        new, prev, new_centroids=centroids, previous_centroids={4: np.zeros(2), 6: np.array([9.0, 1.0])}, next_id=7
    )
    assert al.mapping == {0: 6, 1: 4}


def test_first_week_and_id_safety() -> None:
    new = pd.Series([1, 0, 2], index=["a", "b", "c"])
    assert align_clusters(new, None, next_id=0).mapping == {0: 0, 1: 1, 2: 2}
    prev = pd.Series([5], index=["zz"])
    al = align_clusters(new, prev, next_id=0)  # a stale next_id never reuses a previous id
    assert min(al.mapping.values()) == 6
    assert al.retired_ids == [5]
    with pytest.raises(ValueError, match="duplicate"):
        align_clusters(pd.Series([0, 1], index=["a", "a"]), None, next_id=0)
