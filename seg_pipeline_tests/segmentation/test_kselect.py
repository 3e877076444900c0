import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from seg_pipeline.segmentation.kselect import NoAdmissibleKError, k_bounds, select_k, silhouettes


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


@pytest.mark.parametrize(
    ("n", "share", "expected"),
    [(2_000, 0.01, (3, 10)), (215, 0.01, (3, 10)), (72, 0.01, (3, 6)), (2_000, 0.2, (3, 5)), (30, 0.0, (3, 3))],
)
def test_k_range_adapts_to_the_number_of_accounts_and_the_minimum_share(
    n: int, share: float, expected: tuple[int, int]
) -> None:
    assert k_bounds((3, 10), n, share) == expected


def test_k_range_that_cannot_hold_k_min_segments_is_refused_with_the_rule() -> None:
    with pytest.raises(NoAdmissibleKError, match=r"16 accounts allow at most k=2 segments .* lower SEG_K_MIN"):
        k_bounds((3, 10), 16, 0.01)
    with pytest.raises(NoAdmissibleKError, match="allow at most k=4"):
        k_bounds((5, 10), 1_000, 0.25)


def _blobs_with_far_singletons(singletons: int, seed: int) -> np.ndarray:
    X, _ = make_blobs(200 - singletons, n_features=6, centers=2, random_state=seed, cluster_std=1.0)
    far = 1_000.0 * np.eye(6)[:singletons] * np.where(np.arange(singletons) % 2, 1, -1)[:, None]
    return np.vstack([X, far])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_only_candidates_keeping_the_minimum_share_are_chosen(seed: int) -> None:
    X, y = make_blobs(400, n_features=5, centers=4, random_state=seed)
    group = X[y == 0].mean(axis=0) + 12.0 + np.random.default_rng(seed).normal(0, 0.3, (6, 5))
    X = np.vstack([X, group])  # 6 of 406 accounts (1.5 %) apart: the unconstrained choice isolates them
    free = select_k(X, range(3, 9), random_state=0)
    unconstrained = select_k(X, range(3, 9), random_state=0, min_share=1e-9)
    gated = select_k(X, range(3, 9), random_state=0, min_share=0.02)
    assert "smallest_share" not in free.scores  # ad-hoc studies keep their table
    assert free.k == unconstrained.k
    assert unconstrained.scores.set_index("k").loc[unconstrained.k, "smallest_share"] < 0.02
    assert gated.scores.set_index("k").loc[gated.k, "smallest_share"] >= 0.02
    assert gated.k < unconstrained.k
    assert "keep the minimum segment share" in gated.reason or "minimum share" in gated.reason


def test_no_admissible_k_names_the_smallest_segment_of_every_candidate() -> None:
    X = _blobs_with_far_singletons(6, seed=0)
    with pytest.raises(NoAdmissibleKError) as err:
        select_k(X, range(3, 6), random_state=0, min_share=0.02)
    text = str(err.value)
    assert text.startswith("no k in 3-5 keeps every segment at the gate's minimum share of 2.00% (smallest segment")
    for k in (3, 4, 5):
        assert f"k={k}: 0.50% (1 of 200)" in text
    assert "lower SEG_GATE_MIN_SEGMENT_SHARE or SEG_K_MIN" in text
