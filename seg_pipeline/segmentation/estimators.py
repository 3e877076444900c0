"""Scikit-learn style clustering estimators for customer segmentation.

``KMeansSegmenter`` gives the main segments (k chosen by :func:`select_k` unless fixed), ``DBSCANSegmenter``
finds dense groups and noise behind a size/memory guard (global DBSCAN at 100k×20 rows was killed by SIGSEGV
here), ``HDBSCANSegmenter`` does the same without a radius to choose, and ``HybridSegmenter`` runs DBSCAN
inside each K-means segment so micro-communities and outliers are found at any scale. They follow the sklearn
contract: ``__init__`` stores params verbatim, ``_parameter_constraints`` validated once at the top of ``fit``,
randomness via ``check_random_state``, fitted attributes end in ``_``.
"""

import math
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN, HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from seg_pipeline.segmentation.kselect import KSelection, find_knee, select_k

GIB = 1024**3
_CHUNK = 50_000  # rows per nearest-neighbour query batch: bounds memory when assigning 1M rows
_MEM_PROBE = 1_000  # rows whose neighbour counts estimate DBSCAN memory

_EPS_PROBE = 2_000  # rows whose k-distance and density clustering select eps (cost grows ~ rows²)
_EPS_CANDIDATES = 24  # geometric grid of eps values tried against the density clustering
_FAR_FENCE = 3.0  # Tukey's "far out" fence: k-distances above Q3 + 3 IQR belong to far outliers
_MIN_CLUSTER_SHARE = 0.02  # HDBSCAN's smallest cluster when selecting eps: 2 % of the rows (at least min_samples)

EPS_RULE = (
    "density-based selection: HDBSCAN (min_samples as DBSCAN's, smallest cluster max(min_samples, 2 % of rows)) "
    "clusters the rows (a fixed-seed probe of 2000 above that, carried to all rows by k-distance quantile); eps "
    "is the value, among 24 geometric steps from the 10th percentile of the k-distance to the largest k-distance "
    "inside Tukey's far fence (Q3 + 3 IQR), whose DBSCAN labels agree best (adjusted Rand index on the rows "
    "HDBSCAN clusters) with HDBSCAN's, the larger eps on ties; when HDBSCAN finds fewer than 2 clusters, the "
    "knee of the log k-distance curve trimmed at the same fence"
)


def _seed(rs: np.random.RandomState) -> int:
    return int(rs.randint(np.iinfo(np.int32).max))


def _check_k_range(k_range: tuple[int, int] | list[int]) -> tuple[int, int]:
    if len(k_range) != 2 or not all(isinstance(k, Integral) for k in k_range):
        raise ValueError(f"k_range must be (k_min, k_max) integers, got {k_range!r}")
    lo, hi = int(k_range[0]), int(k_range[1])
    if not 2 <= lo <= hi:
        raise ValueError(f"k_range must satisfy 2 <= k_min <= k_max, got {k_range!r}")
    return lo, hi


def _two_nearest(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest centre index, its distance and (2nd-nearest − nearest) distance, in row chunks."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int64)
    d1 = np.empty(n)
    margin = np.empty(n)
    c_sq = (centers**2).sum(axis=1)
    for start in range(0, n, _CHUNK):
        xb = X[start : start + _CHUNK]
        d = np.sqrt(np.maximum((xb**2).sum(axis=1)[:, None] - 2 * xb @ centers.T + c_sq[None, :], 0.0))
        order = np.argsort(d, axis=1, kind="stable")
        sl = slice(start, start + xb.shape[0])
        labels[sl] = order[:, 0]
        d1[sl] = d[np.arange(xb.shape[0]), order[:, 0]]
        margin[sl] = d[np.arange(xb.shape[0]), order[:, 1]] - d1[sl] if centers.shape[0] > 1 else np.inf
    return labels, d1, margin


def _row_distance(X: np.ndarray, centers_per_row: np.ndarray) -> np.ndarray:
    dist: np.ndarray = np.sqrt(((np.asarray(X, dtype=float) - centers_per_row) ** 2).sum(axis=1))
    return dist


def nearest_core_labels(
    X: np.ndarray, components: np.ndarray, component_labels: np.ndarray, eps: float | np.ndarray
) -> np.ndarray:
    """Label of the nearest core sample when within its eps, else -1 (DBSCAN's rule for non-core points)."""
    out = np.full(X.shape[0], -1, dtype=np.int64)
    if components.shape[0] == 0 or X.shape[0] == 0:
        return out
    eps_arr = np.broadcast_to(np.asarray(eps, dtype=float), (components.shape[0],))
    nn = NearestNeighbors(n_neighbors=1).fit(components)
    for start in range(0, X.shape[0], _CHUNK):
        dist, ind = nn.kneighbors(X[start : start + _CHUNK])
        idx = ind[:, 0]
        ok = dist[:, 0] <= eps_arr[idx]
        out[start : start + len(idx)] = np.where(ok, component_labels[idx], -1)
    return out


def _sorted_kdist(X: np.ndarray, probe: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Sorted distance of each probe row to its ``n_neighbors``-th neighbour in ``X`` (itself excluded)."""
    dist, _ = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(X).kneighbors(probe)
    return np.sort(dist[:, -1])


def _core_distances(X: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each row's distance to its ``n_neighbors``-th neighbour in ``X`` (itself excluded), in row order."""
    dist, _ = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(X).kneighbors(X)
    out: np.ndarray = dist[:, -1]
    return out


def _inside_far_fence(kdist: np.ndarray) -> np.ndarray:
    """Keep the k-distances at or below Q3 + 3 IQR: far outliers' distances would otherwise own the curve's shape."""
    q1, q3 = np.quantile(kdist, [0.25, 0.75])
    kept: np.ndarray = kdist[kdist <= q3 + _FAR_FENCE * (q3 - q1)]
    return kept


def _trimmed_knee_eps(kdist: np.ndarray) -> float:
    """Knee of the log k-distance curve inside the far fence (90th percentile when it has no knee)."""
    kept = _inside_far_fence(kdist)
    kept = kept[kept > 0]
    if kept.size < 3:
        return float(np.quantile(kdist, 0.9))
    knee = find_knee(np.arange(kept.size), np.log(kept), curve="convex", direction="increasing")
    return float(kept[int(knee)]) if knee is not None else float(np.quantile(kept, 0.9))


def dbscan_cut(edges: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN's labels at ``eps`` from the neighbour pairs (row, col, distance) within a radius >= eps.

    ``edges`` are sorted by distance and hold every row's pair with itself. Core rows have >= ``min_samples``
    neighbours within eps (themselves counted, as in scikit-learn); cores joined within eps form the clusters;
    a border row joins its nearest core neighbour's cluster (scikit-learn takes the first one found); the rest
    is noise (-1). Re-cutting one edge list costs milliseconds where re-running DBSCAN costs ~0.2 s per eps.
    """
    rows, cols, dist = edges
    within = dist <= eps
    r, c = rows[within], cols[within]
    core = np.bincount(r, minlength=n) >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    both = core[r] & core[c]
    graph = sparse.coo_matrix((np.ones(int(both.sum()), dtype=np.int8), (r[both], c[both])), shape=(n, n))
    _, comp = connected_components(graph.tocsr(), directed=False)
    labels[core] = comp[core]
    to_core = ~core[r] & core[c]  # pairs are in distance order, so a row's first pair is its nearest core
    border, first = np.unique(r[to_core], return_index=True)
    labels[border] = comp[c[to_core][first]]
    return labels


def _density_selected_eps(xs: np.ndarray, min_samples: int, kdist: np.ndarray) -> float | None:
    """Eps whose DBSCAN labels best reproduce HDBSCAN's clusters on ``xs``; None when HDBSCAN finds < 2."""
    min_size = max(min_samples, math.ceil(_MIN_CLUSTER_SHARE * xs.shape[0]))
    if xs.shape[0] < 2 * min_size:
        return None
    reference = HDBSCAN(min_cluster_size=min_size, min_samples=min_samples, copy=True).fit(xs).labels_
    if len(set(reference.tolist()) - {-1}) < 2:
        return None
    top = float(_inside_far_fence(kdist).max())
    low = float(np.quantile(kdist, 0.1))
    if not 0 < low < top:
        return None
    graph = NearestNeighbors(radius=top).fit(xs).radius_neighbors_graph(xs, mode="distance").tocoo()
    order = np.argsort(graph.data, kind="stable")
    edges = (graph.row[order].astype(np.int64), graph.col[order].astype(np.int64), graph.data[order])
    clustered = reference >= 0
    best_score, best_eps = -np.inf, None
    for eps in np.geomspace(low, top, _EPS_CANDIDATES):
        labels = dbscan_cut(edges, xs.shape[0], float(eps), min_samples)
        score = adjusted_rand_score(reference[clustered], labels[clustered])
        if score >= best_score:
            best_score, best_eps = score, float(eps)
        if len(np.unique(labels[clustered])) == 1 and labels[clustered][0] >= 0:
            break  # DBSCAN clusters only merge as eps grows: every larger eps scores the same or worse
    return best_eps


def estimate_eps(X: np.ndarray, min_samples: int, rng: np.random.RandomState) -> float:
    """Choose DBSCAN's eps by density-based selection, robust to far outliers (see :data:`EPS_RULE`).

    The plain knee of the k-distance curve collapses to one cluster when a few far outliers exist: their huge
    k-distances flatten the rest of the curve, so the knee lands at the bulk's largest distance (Mall customers:
    1 cluster; a centre-and-ring shape with corner outliers: ARI 0). HDBSCAN needs no radius, so it names the
    dense groups; eps is then the radius at which DBSCAN finds those same groups. Above 2000 rows the selection
    runs on a fixed-seed probe of 2000 and is carried to all rows by quantile: eps is the k-distance (to all
    rows) at the same quantile as the probe's eps among the probe's own k-distances, so the share of core rows
    is kept (a probe is sparser, so its radius is larger than the full data's).
    """
    n = X.shape[0]
    n_neighbors = min(min_samples, n - 1)
    probe = X if n <= _EPS_PROBE else X[np.sort(rng.choice(n, _EPS_PROBE, replace=False))]
    kdist = _sorted_kdist(X, probe, n_neighbors)
    own = kdist if probe.shape[0] == n else _sorted_kdist(probe, probe, min(min_samples, probe.shape[0] - 1))
    eps = _density_selected_eps(probe, min_samples, own)
    if eps is not None and probe.shape[0] < n:
        eps = float(np.quantile(kdist, float(np.searchsorted(own, eps, side="right")) / own.size))
    if eps is None:
        eps = _trimmed_knee_eps(kdist)
    if eps <= 0:  # duplicates everywhere: any positive radius joins identical rows
        eps = float(kdist[kdist > 0].min()) if (kdist > 0).any() else 1e-9
    return eps


# bytes per stored neighbour: the architecture notes measured 1.9 x 8; benchmarks/bench_segmentation.py measured
# global DBSCAN growing ~1.6x more than that (562 vs 341 MiB at 20k rows, 2312 vs 1485 MiB at 50k), so the guard
# uses 3.0 x 8 to stay on the safe side
_BYTES_PER_NEIGHBOUR = 3.0 * 8


def estimate_dbscan_bytes(X: np.ndarray, eps: float, rng: np.random.RandomState) -> int:
    """≈ 3 × rows × mean neighbours-per-point × 8 bytes (measured), neighbours counted on a probe."""
    probe = X if X.shape[0] <= _MEM_PROBE else X[rng.choice(X.shape[0], _MEM_PROBE, replace=False)]
    counts = NearestNeighbors(radius=eps).fit(X).radius_neighbors(probe, return_distance=False)
    mean_nbrs = float(np.mean([len(c) for c in counts]))
    return int(_BYTES_PER_NEIGHBOUR * X.shape[0] * mean_nbrs)


NOISE_WARN_SHARE = 0.5  # a density run leaving half the rows as noise describes the noise, not the data


def density_result_problem(labels: np.ndarray) -> str | None:
    """Say what is wrong when a density clustering found at most one cluster or left >= 50 % noise, else None."""
    labels = np.asarray(labels)
    n_clusters = len(set(labels.tolist()) - {-1})
    noise = float((labels == -1).mean()) if labels.size else 0.0
    if noise >= 1.0:
        return "labelled every point noise"
    if n_clusters <= 1:
        return f"found a single cluster ({noise:.0%} noise)"
    if noise >= NOISE_WARN_SHARE:
        return f"labelled {noise:.0%} of the rows noise ({n_clusters} clusters)"
    return None


def warn_density_result(labels: np.ndarray, what: str, fix: str) -> None:
    """Emit a ``UserWarning`` naming the run when :func:`density_result_problem` finds one."""
    problem = density_result_problem(labels)
    if problem is not None:
        warnings.warn(f"{what} {problem}; {fix}", UserWarning, stacklevel=3)


class KMeansSegmenter(ClusterMixin, BaseEstimator):
    """K-means with k chosen by :func:`select_k` (``n_clusters="auto"``) or fixed.

    k selection runs on a fixed-seed sample; the final K-means is fitted on all rows. ``min_share`` > 0 makes
    k selection consider only candidates whose smallest cluster holds that share of the rows, and the final fit
    prefer a solution that keeps it.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "k_range": [tuple, list],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "min_share": [Interval(Real, 0.0, 1.0, closed="left")],
        "init": [np.ndarray, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters: str | int = "auto",
        *,
        k_range: tuple[int, int] = (2, 10),
        n_init: int = 10,
        min_share: float = 0.0,
        init: np.ndarray | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        """Store the hyper-parameters unchanged (sklearn's rule: they are validated in ``fit``)."""
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.n_init = n_init
        self.min_share = min_share
        self.init = init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> "KMeansSegmenter":
        """Choose k (when auto) and fit K-means on all rows."""
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        rs = check_random_state(self.random_state)
        self.k_selection_: KSelection | None = None
        if self.n_clusters == "auto":
            lo, hi = _check_k_range(self.k_range)
            self.k_selection_ = select_k(
                X, range(lo, hi + 1), random_state=_seed(rs), min_share=float(self.min_share)
            )
            k = self.k_selection_.k
        else:
            k = int(self.n_clusters)
        if k > X.shape[0]:
            raise ValueError(f"n_clusters={k} is larger than the number of rows ({X.shape[0]})")
        # float32 Lloyd is ~3x faster here; labels are recomputed in float64 against the centres
        X32 = X.astype(np.float32)
        if self.init is not None and self.init.shape[0] == k:  # given centres: refine them, no restarts
            km = KMeans(n_clusters=k, init=self.init.astype(np.float32), n_init=1).fit(X32)
        else:
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=_seed(rs)).fit(X32)
        warm = self.k_selection_.centers.get(k) if self.k_selection_ is not None else None
        if warm is not None:
            # the sample fit that chose k is also a good start on all rows; keep whichever fits better
            km_warm = KMeans(n_clusters=k, init=warm.astype(np.float32), n_init=1).fit(X32)
            km = min((km, km_warm), key=lambda m: (self._share_short(m.labels_, k), m.inertia_))
        self.n_clusters_ = k
        self.cluster_centers_ = km.cluster_centers_.astype(np.float64)
        self.labels_ = _two_nearest(np.asarray(X, dtype=float), self.cluster_centers_)[0]
        self.inertia_ = float(km.inertia_)
        self.n_iter_ = int(km.n_iter_)
        sizes = np.bincount(self.labels_, minlength=k)
        if (sizes <= 1).any():
            warnings.warn(
                f"K-means produced {(sizes <= 1).sum()} empty or single-row cluster(s) out of {k}; "
                "k is too large for this data",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _share_short(self, labels: np.ndarray, k: int) -> bool:
        """Tell whether the smallest cluster holds less than ``min_share`` of the rows (the gate would refuse it)."""
        return bool(np.bincount(labels, minlength=k).min() < self.min_share * len(labels))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest cluster centre."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return _two_nearest(np.asarray(X, dtype=float), self.cluster_centers_)[0]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distance to every cluster centre."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        diff = np.asarray(X, dtype=float)[:, None, :] - self.cluster_centers_[None, :, :]
        dist: np.ndarray = np.sqrt((diff**2).sum(axis=2))
        return dist


class DBSCANSegmenter(ClusterMixin, BaseEstimator):
    """DBSCAN behind a size/memory guard, with eps chosen by :func:`estimate_eps` when not given.

    ``min_samples`` defaults to 2 × n_features. Before fitting, memory is estimated as ≈ 3 × rows ×
    neighbours-per-point × 8 bytes. When rows exceed ``max_rows`` or the estimate exceeds
    ``memory_limit_bytes``, DBSCAN runs on a fixed-seed subsample (shrunk until the estimate fits) and every
    other row takes the label of its nearest core sample within eps, else noise. With ``max_rows=None``
    subsampling is disabled and an over-limit fit raises ``ValueError`` instead of risking an OOM kill.
    When a user-given eps is used on a subsample, ``min_samples`` is scaled by the sampling fraction so the
    density threshold means the same thing.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "eps": [Interval(Real, 0.0, None, closed="neither"), None],
        "min_samples": [Interval(Integral, 1, None, closed="left"), None],
        "max_rows": [Interval(Integral, 1, None, closed="left"), None],
        "memory_limit_bytes": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        eps: float | None = None,
        *,
        min_samples: int | None = None,
        max_rows: int | None = 50_000,
        memory_limit_bytes: int = 2 * GIB,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        """Store the hyper-parameters unchanged (sklearn's rule: they are validated in ``fit``)."""
        self.eps = eps
        self.min_samples = min_samples
        self.max_rows = max_rows
        self.memory_limit_bytes = memory_limit_bytes
        self.random_state = random_state

    def _guarded_sample(
        self, X: np.ndarray, min_samples: int, rs: np.random.RandomState
    ) -> tuple[np.ndarray, int, float, int]:
        """(rows to fit, their min_samples, eps, memory estimate): all rows, or a sample shrunk until it fits."""
        n = X.shape[0]
        m = n if self.max_rows is None else min(n, int(self.max_rows))
        floor = max(10 * min_samples, 200)
        for _ in range(4):
            idx = np.arange(n) if m == n else np.sort(rs.choice(n, m, replace=False))
            xs = X[idx]
            ms = min_samples if self.eps is None else max(2, math.ceil(min_samples * m / n))
            eps = float(self.eps) if self.eps is not None else estimate_eps(xs, ms, rs)
            est = estimate_dbscan_bytes(xs, eps, rs)
            if est <= self.memory_limit_bytes:
                return idx, ms, eps, est
            if self.max_rows is None:
                raise ValueError(
                    f"DBSCAN on {n} rows with eps={eps:.4g} would need ≈ {est / GIB:.1f} GiB "
                    f"(limit {self.memory_limit_bytes / GIB:.1f} GiB) and subsampling is disabled "
                    "(max_rows=None); set max_rows, lower eps or raise memory_limit_bytes"
                )
            # memory grows ~ rows² (neighbours per point scale with the sample), so shrink by the square root
            m_new = int(m * math.sqrt(self.memory_limit_bytes / est) * 0.9)
            if m_new < floor:
                raise ValueError(
                    f"DBSCAN with eps={eps:.4g} would need ≈ {est / GIB:.1f} GiB even on {m} rows "
                    f"(limit {self.memory_limit_bytes / GIB:.1f} GiB); lower eps or raise memory_limit_bytes"
                )
            m = m_new
        raise ValueError("DBSCAN memory guard could not find a sample size that fits the limit")

    def fit(self, X: np.ndarray, y: object = None) -> "DBSCANSegmenter":
        """Fit DBSCAN on all rows or a guarded subsample; label the rest by nearest core sample."""
        self._validate_params()
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32]), dtype=float)
        n, d = X.shape
        rs = check_random_state(self.random_state)
        min_samples = int(self.min_samples) if self.min_samples is not None else max(2 * d, 2)
        if n <= min_samples:
            raise ValueError(f"DBSCAN needs more rows ({n}) than min_samples ({min_samples})")
        idx, ms, eps, est = self._guarded_sample(X, min_samples, rs)
        xs = X[idx]
        db = DBSCAN(eps=eps, min_samples=ms).fit(xs)
        self.eps_ = eps
        self.min_samples_ = ms
        self.n_fit_rows_ = len(idx)
        self.subsampled_ = len(idx) < n
        self.memory_estimate_bytes_ = est
        self.components_ = xs[db.core_sample_indices_]
        self.core_sample_indices_ = idx[db.core_sample_indices_]
        self.component_labels_ = db.labels_[db.core_sample_indices_].astype(np.int64)
        labels = np.full(n, -1, dtype=np.int64)
        labels[idx] = db.labels_
        if self.subsampled_:
            rest = np.setdiff1d(np.arange(n), idx, assume_unique=True)
            labels[rest] = nearest_core_labels(X[rest], self.components_, self.component_labels_, eps)
        self.labels_ = labels
        warn_density_result(
            labels, f"DBSCAN (eps={eps:.4g}, min_samples={ms})", "raise eps or lower min_samples when most rows "
            "are noise, lower eps when one cluster swallows the rest, or try HDBSCAN (no eps to choose)"
        )
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Label of the nearest core sample within eps, else -1 (noise)."""
        check_is_fitted(self, "components_")
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False), dtype=float)
        return nearest_core_labels(X, self.components_, self.component_labels_, self.eps_)


class HDBSCANSegmenter(ClusterMixin, BaseEstimator):
    """Scikit-learn's HDBSCAN (no radius to choose) behind a row cap.

    ``min_samples`` defaults to 2 × n_features like DBSCAN's, ``min_cluster_size`` to max(min_samples, 2 % of
    the fitted rows). HDBSCAN's memory grows with rows × neighbours and its time faster than linearly, so above
    ``max_rows`` it is fitted on a fixed-seed subsample and every other row takes the label of its nearest
    clustered sample when within that sample's core distance (its distance to its min_samples-th neighbour),
    else noise: the same rule DBSCAN's guard uses with a per-point radius.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_cluster_size": [Interval(Integral, 2, None, closed="left"), None],
        "min_samples": [Interval(Integral, 1, None, closed="left"), None],
        "max_rows": [Interval(Integral, 100, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        min_cluster_size: int | None = None,
        *,
        min_samples: int | None = None,
        max_rows: int = 50_000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        """Store the hyper-parameters unchanged (sklearn's rule: they are validated in ``fit``)."""
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> "HDBSCANSegmenter":
        """Fit HDBSCAN on all rows or a capped subsample; label the rest by nearest clustered sample."""
        self._validate_params()
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32]), dtype=float)
        n, d = X.shape
        rs = check_random_state(self.random_state)
        min_samples = int(self.min_samples) if self.min_samples is not None else max(2 * d, 2)
        if n <= min_samples:
            raise ValueError(f"HDBSCAN needs more rows ({n}) than min_samples ({min_samples})")
        idx = np.arange(n) if n <= self.max_rows else np.sort(rs.choice(n, int(self.max_rows), replace=False))
        xs = X[idx]
        mcs = self.min_cluster_size or max(min_samples, math.ceil(_MIN_CLUSTER_SHARE * len(idx)))
        fitted = HDBSCAN(min_cluster_size=int(mcs), min_samples=min_samples, copy=True).fit(xs)
        clustered = fitted.labels_ >= 0
        core_dist = _core_distances(xs, min(min_samples, len(idx) - 1))
        self.min_samples_ = min_samples
        self.min_cluster_size_ = int(mcs)
        self.n_fit_rows_ = len(idx)
        self.subsampled_ = len(idx) < n
        self.components_ = xs[clustered]
        self.component_labels_ = fitted.labels_[clustered].astype(np.int64)
        self.component_radius_ = core_dist[clustered]
        labels = np.full(n, -1, dtype=np.int64)
        labels[idx] = fitted.labels_
        if self.subsampled_:
            rest = np.setdiff1d(np.arange(n), idx, assume_unique=True)
            labels[rest] = nearest_core_labels(X[rest], self.components_, self.component_labels_,
                                               self.component_radius_)
        self.labels_ = labels
        warn_density_result(
            labels, f"HDBSCAN (min_cluster_size={mcs}, min_samples={min_samples})",
            "lower --min-samples when most rows are noise, or check that the features separate the rows",
        )
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Label of the nearest clustered sample within its core distance, else -1 (noise)."""
        check_is_fitted(self, "components_")
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False), dtype=float)
        return nearest_core_labels(X, self.components_, self.component_labels_, self.component_radius_)


@dataclass(frozen=True)
class HybridAssignment:
    """Per-row result of the hybrid assignment rule (shared by ``HybridSegmenter`` and the saved model)."""

    labels: np.ndarray
    micro_labels: np.ndarray
    is_outlier: np.ndarray
    margin: np.ndarray
    distance: np.ndarray


def hybrid_assign(
    X: np.ndarray,
    centers: np.ndarray,
    outlier_radius: np.ndarray,
    micro_components: np.ndarray,
    micro_component_labels: np.ndarray,
    micro_component_segments: np.ndarray,
    micro_eps: np.ndarray,
    outlier_X: np.ndarray | None = None,
) -> HybridAssignment:
    """Assign each row its segment, micro-community and outlier flag.

    Nearest centre → segment; micro-community = nearest micro core sample of the same segment within its
    eps; outlier = farther than the segment's radius and in no micro-community. ``outlier_X`` (same rows, e.g.
    without the quantile cap) is where the outlier distance is measured; default ``X``.
    """
    labels, dist, margin = _two_nearest(X, centers)
    far = dist if outlier_X is None else _row_distance(outlier_X, centers[labels])
    micro = np.full(X.shape[0], -1, dtype=np.int64)
    for seg in np.unique(micro_component_segments):
        rows = np.flatnonzero(labels == seg)
        cores = micro_component_segments == seg
        micro[rows] = nearest_core_labels(
            X[rows], micro_components[cores], micro_component_labels[cores], micro_eps[cores]
        )
    is_outlier = (far > outlier_radius[labels]) & (micro == -1)
    return HybridAssignment(labels, micro, is_outlier, margin, dist)


def _check_outlier_X(X: np.ndarray, outlier_X: np.ndarray | None) -> np.ndarray | None:
    if outlier_X is None:
        return None
    outlier_X = np.asarray(outlier_X, dtype=float)
    if outlier_X.shape != X.shape:
        raise ValueError(f"outlier_X shape {outlier_X.shape} differs from X shape {X.shape}")
    return outlier_X


def _median_mad(distances: np.ndarray) -> tuple[float, float]:
    """Median of the distances and their median absolute deviation from it."""
    median = float(np.median(distances))
    return median, float(np.median(np.abs(distances - median)))


def _outlier_radius(medians: np.ndarray, mads: np.ndarray, outlier_mad: float) -> np.ndarray:
    """Per-segment radius median + ``outlier_mad`` × 1.4826 × MAD; inf where there is no spread (or no rows).

    A segment that attracted a clump of outliers has an inflated MAD; capping it at the median MAD of all
    segments keeps each radius tied to the typical within-segment spread.
    """
    positive = mads[np.isfinite(mads) & (mads > 0)]
    pooled = float(np.median(positive)) if positive.size else 0.0
    spread = np.fmin(mads, pooled)
    radius = np.where(spread > 0, medians + outlier_mad * 1.4826 * spread, np.inf)
    return np.nan_to_num(radius, nan=np.inf)


@dataclass
class _MicroCommunities:
    """Core samples of the accepted micro-communities, collected segment by segment (global ids 0..n-1)."""

    components: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    segments: list[np.ndarray] = field(default_factory=list)
    eps: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, cores: np.ndarray, segment: int, eps: float) -> None:
        """Record one micro-community of ``segment``: its core samples and the eps they were found with."""
        n = cores.shape[0]
        self.components.append(cores)
        self.labels.append(np.full(n, self.count, dtype=np.int64))
        self.segments.append(np.full(n, segment, dtype=np.int64))
        self.eps.append(np.full(n, eps))
        self.count += 1

    def arrays(self, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(core samples, community id, segment, eps) per core sample; empty arrays when there are none."""
        if not self.components:
            return (np.empty((0, n_features)), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                    np.empty(0))
        return (np.vstack(self.components), np.concatenate(self.labels), np.concatenate(self.segments),
                np.concatenate(self.eps))


class HybridSegmenter(ClusterMixin, BaseEstimator):
    """K-means main segments, then guarded DBSCAN inside each segment for micro-communities and outliers.

    Per segment, the largest DBSCAN cluster is the segment's body; other DBSCAN clusters with at least
    ``min_micro_size`` rows whose mean lies at least ``min_micro_separation`` × the body's median radius from the
    body's mean become micro-communities (global ids 0..n-1) and keep their core samples and eps.
    A row is an outlier when it is farther from its centroid (measured in ``outlier_X`` when given to ``fit``)
    than the segment's radius (median + ``outlier_mad`` × 1.4826 × MAD of member distances, the MAD capped at
    the median MAD over segments) and in no micro-community; outliers keep their nearest segment in
    ``labels_`` but are always flagged in ``is_outlier_``. Running DBSCAN per segment on ≤
    ``max_rows_per_segment`` rows keeps memory bounded at 1M accounts.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "k_range": [tuple, list],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "min_share": [Interval(Real, 0.0, 1.0, closed="left")],
        "eps": [Interval(Real, 0.0, None, closed="neither"), None],
        "min_samples": [Interval(Integral, 1, None, closed="left"), None],
        "min_micro_size": [Interval(Integral, 1, None, closed="left")],
        "min_micro_separation": [Interval(Real, 0.0, None, closed="left")],
        "outlier_mad": [Interval(Real, 0.0, None, closed="neither")],
        "init": [np.ndarray, None],
        "max_rows_per_segment": [Interval(Integral, 100, None, closed="left")],
        "memory_limit_bytes": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters: str | int = "auto",
        *,
        k_range: tuple[int, int] = (2, 10),
        n_init: int = 4,
        min_share: float = 0.0,
        eps: float | None = None,
        min_samples: int | None = None,
        min_micro_size: int = 30,
        min_micro_separation: float = 2.0,
        outlier_mad: float = 5.0,
        init: np.ndarray | None = None,
        max_rows_per_segment: int = 5_000,
        memory_limit_bytes: int = 2 * GIB,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        """Store the hyper-parameters unchanged (sklearn's rule: they are validated in ``fit``)."""
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.n_init = n_init
        self.min_share = min_share
        self.eps = eps
        self.min_samples = min_samples
        self.min_micro_size = min_micro_size
        self.min_micro_separation = min_micro_separation
        self.outlier_mad = outlier_mad
        self.init = init
        self.max_rows_per_segment = max_rows_per_segment
        self.memory_limit_bytes = memory_limit_bytes
        self.random_state = random_state

    def kmeans_seed(self) -> int:
        """Seed :meth:`fit` gives its K-means (its first draw), for a caller that runs the K-means step alone."""
        return _seed(check_random_state(self.random_state))

    def fit(self, X: np.ndarray, y: object = None, *, outlier_X: np.ndarray | None = None) -> "HybridSegmenter":
        """K-means on all rows, then DBSCAN per segment; see the class docstring for the rules.

        ``outlier_X``: the same rows in the space where outlier distances are measured (e.g. before the
        quantile cap, :func:`~seg_pipeline.segmentation.preprocess.transform_unclipped`); default ``X``.
        """
        self._validate_params()
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32]), dtype=float)
        outlier_X = _check_outlier_X(X, outlier_X)
        rs = check_random_state(self.random_state)
        km = KMeansSegmenter(
            self.n_clusters, k_range=self.k_range, n_init=self.n_init, min_share=self.min_share,
            init=self.init, random_state=_seed(rs),
        ).fit(X)
        self.kmeans_ = km
        self.k_selection_ = km.k_selection_
        self.inertia_ = km.inertia_
        self.cluster_centers_ = km.cluster_centers_
        labels, dist, _ = _two_nearest(X, self.cluster_centers_)
        if outlier_X is not None:
            dist = _row_distance(outlier_X, self.cluster_centers_[labels])
        medians, mads, micro = self._fit_segments(X, labels, dist, km.n_clusters_, rs)
        self.outlier_radius_ = _outlier_radius(medians, mads, self.outlier_mad)
        (self.micro_components_, self.micro_component_labels_, self.micro_component_segments_,
         self.micro_eps_) = micro.arrays(X.shape[1])
        self.n_micro_ = micro.count
        res = self._assign(X, outlier_X)
        self.labels_ = res.labels
        self.micro_labels_ = res.micro_labels
        self.is_outlier_ = res.is_outlier
        self.margin_ = res.margin
        self.distance_ = res.distance
        if res.is_outlier.mean() > 0.2:
            warnings.warn(
                f"{res.is_outlier.mean():.0%} of rows are outliers; the segments do not describe this data",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _fit_segments(
        self, X: np.ndarray, labels: np.ndarray, dist: np.ndarray, k: int, rs: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray, "_MicroCommunities"]:
        """Per segment: median and MAD of member distances, and the micro-communities DBSCAN finds in it."""
        medians = np.full(k, np.nan)
        mads = np.full(k, np.nan)
        micro = _MicroCommunities()
        min_samples = self.min_samples if self.min_samples is not None else max(2 * X.shape[1], 2)
        for seg in range(k):
            rows = np.flatnonzero(labels == seg)
            seg_seed = _seed(rs)  # drawn for every segment so seeds do not depend on earlier outcomes
            if rows.size == 0:
                continue
            medians[seg], mads[seg] = _median_mad(dist[rows])
            if rows.size <= max(min_samples * 4, 2 * self.min_micro_size):
                continue
            cores, eps = self._segment_micro(X[rows], min_samples, seg_seed)
            for core in cores:
                micro.add(core, seg, eps)
        return medians, mads, micro

    def _segment_micro(self, xseg: np.ndarray, min_samples: int, seed: int) -> tuple[list[np.ndarray], float]:
        """(core samples of each micro-community, DBSCAN's eps) inside one segment's rows.

        The largest DBSCAN cluster is the segment's body; another cluster is a micro-community when it has at
        least ``min_micro_size`` rows and its mean sits ``min_micro_separation`` body radii from the body's.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an all-noise segment just has no micro-community
            db = DBSCANSegmenter(
                self.eps,
                min_samples=min_samples,
                max_rows=self.max_rows_per_segment,
                memory_limit_bytes=self.memory_limit_bytes,
                random_state=seed,
            ).fit(xseg)
        found = db.labels_[db.labels_ >= 0]
        if found.size == 0:
            return [], db.eps_
        counts = np.bincount(found)
        body = int(np.argmax(counts))
        body_mean = xseg[db.labels_ == body].mean(axis=0)
        body_radius = float(np.median(np.linalg.norm(xseg[db.labels_ == body] - body_mean, axis=1)))
        cores = []
        for lab in range(len(counts)):
            if lab == body or counts[lab] < self.min_micro_size:
                continue
            # lattice features (days, counts) split a body into adjacent dense blocks; a real
            # micro-community sits apart from the body
            gap = float(np.linalg.norm(xseg[db.labels_ == lab].mean(axis=0) - body_mean))
            if gap < self.min_micro_separation * body_radius:
                continue
            cores.append(db.components_[db.component_labels_ == lab])
        return cores, db.eps_

    def _assign(self, X: np.ndarray, outlier_X: np.ndarray | None = None) -> HybridAssignment:
        return hybrid_assign(
            X,
            self.cluster_centers_,
            self.outlier_radius_,
            self.micro_components_,
            self.micro_component_labels_,
            self.micro_component_segments_,
            self.micro_eps_,
            outlier_X,
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict the main segment (nearest centroid) of each row."""
        return self.predict_detail(X).labels

    def predict_detail(self, X: np.ndarray, *, outlier_X: np.ndarray | None = None) -> HybridAssignment:
        """Segment, micro-community, outlier flag, margin and distance for new rows."""
        check_is_fitted(self, "cluster_centers_")
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False), dtype=float)
        return self._assign(X, None if outlier_X is None else np.asarray(outlier_X, dtype=float))
