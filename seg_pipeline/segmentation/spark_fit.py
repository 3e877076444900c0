"""The hybrid segmenter's two heavy steps on Spark: MLlib K-means on all rows, DBSCAN per segment in parallel.

:class:`SparkHybridSegmenter` is a :class:`~seg_pipeline.segmentation.estimators.HybridSegmenter` whose ``fit``
replaces exactly two things and keeps every rule:

- k comes from the existing k rule (:func:`~seg_pipeline.segmentation.kselect.select_k`) on its fixed-seed sample
  of at most 10 k rows, then MLlib ``KMeans`` (``k-means||`` initialisation, the same seed; or the given / warm
  start centres, like the parent) fits all rows (:class:`SparkKMeansSegmenter`);
- each K-means segment's micro-communities come from the existing per-segment DBSCAN
  (:meth:`HybridSegmenter._segment_micro`, with its row cap and memory guard) run inside ``applyInPandas``, one
  group per segment, so segments are clustered on the executors in parallel.

Outlier radii, micro-community acceptance and the final assignment are the parent's code, so the fitted object
has the same attributes and the same ``predict`` (and the model logged from it serves without Spark).
"""

from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from seg_pipeline.segmentation.estimators import (
    HybridSegmenter,
    KMeansSegmenter,
    _check_k_range,
    _check_outlier_X,
    _median_mad,
    _MicroCommunities,
    _outlier_radius,
    _row_distance,
    _seed,
    _two_nearest,
)
from seg_pipeline.segmentation.kselect import select_k

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MAX_ITER = 300  # sklearn's default; MLlib's is 20, too few to converge on 1M rows with k up to 10


def _frame(spark: "SparkSession", X: np.ndarray, **columns: np.ndarray) -> "DataFrame":
    """Rows of ``X`` as a Spark DataFrame with a ``features`` vector column (plus any extra columns)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    data = pd.DataFrame({"row": np.arange(X.shape[0]), "x": list(X), **columns})
    return spark.createDataFrame(data).withColumn("features", array_to_vector(F.col("x")))


def spark_kmeans(spark: "SparkSession", X: np.ndarray, k: int, seed: int,
                 init: np.ndarray | None = None) -> tuple[np.ndarray, float, int]:
    """Fit MLlib K-means on all rows, from ``k-means||`` or from given centres; returns (centres, inertia, iters).

    Given centres go through the RDD API's ``initialModel`` (the DataFrame API has no such parameter), which
    needs classic Spark (not Spark Connect); its iteration count is not reported (-1).
    """
    if init is not None:
        from pyspark.mllib.clustering import KMeans as RddKMeans
        from pyspark.mllib.clustering import KMeansModel

        rows = spark.sparkContext.parallelize(list(X), max(2, spark.sparkContext.defaultParallelism))
        fitted = RddKMeans.train(rows, k, maxIterations=MAX_ITER, seed=seed, epsilon=1e-6,
                                 initialModel=KMeansModel(list(np.asarray(init, dtype=float))))
        centres = np.asarray(fitted.clusterCenters, dtype=float)
        return centres, float(fitted.computeCost(rows)), -1
    from pyspark.ml.clustering import KMeans

    model = KMeans(k=k, seed=seed, initMode="k-means||", maxIter=MAX_ITER, tol=1e-6).fit(_frame(spark, X))
    centres = np.asarray(model.clusterCenters(), dtype=float)
    return centres, float(model.summary.trainingCost), int(model.summary.numIter)


def _active_spark() -> "SparkSession":
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError("the Spark segmenters need an active SparkSession (SEG_ENGINE=spark starts one)")
    return spark


class SparkKMeansSegmenter(KMeansSegmenter):
    """:class:`KMeansSegmenter` whose fits on all rows run on Spark MLlib (k still chosen on the seeded sample)."""

    def fit(self, X: np.ndarray, y: object = None) -> "SparkKMeansSegmenter":
        """Choose k like the parent, fit on Spark (given centres, else ``k-means||``), keep the better warm start."""
        spark = _active_spark()
        self._validate_params()
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32]), dtype=float)
        rs = check_random_state(self.random_state)
        seed = _seed(rs)
        self.k_selection_ = None
        if self.n_clusters == "auto":
            lo, hi = _check_k_range(self.k_range)
            self.k_selection_ = select_k(X, range(lo, hi + 1), random_state=seed, min_share=float(self.min_share))
            k = self.k_selection_.k
        else:
            k = int(self.n_clusters)
        if k > X.shape[0]:
            raise ValueError(f"n_clusters={k} is larger than the number of rows ({X.shape[0]})")
        given = self.init if self.init is not None and self.init.shape[0] == k else None
        fits = [spark_kmeans(spark, X, k, seed, given)]
        warm = self.k_selection_.centers.get(k) if self.k_selection_ is not None else None
        if warm is not None and given is None:  # the sample fit that chose k is also a start on all rows
            fits.append(spark_kmeans(spark, X, k, seed, warm))
        labelled = [(_two_nearest(X, c)[0], c, cost, it) for c, cost, it in fits]
        labels, centres, cost, iters = min(labelled, key=lambda f: (self._share_short(f[0], k), f[2]))
        self.n_clusters_ = k
        self.cluster_centers_ = centres
        self.labels_ = labels
        self.inertia_ = cost
        self.n_iter_ = iters
        return self


def _micro_schema() -> str:
    return "segment long, micro long, eps double, core array<double>"


class SparkHybridSegmenter(HybridSegmenter):
    """:class:`HybridSegmenter` with K-means on Spark MLlib and per-segment DBSCAN in ``applyInPandas``.

    Uses this process's active SparkSession (the Spark engine's, :func:`~seg_pipeline.warehouse.spark_session.
    spark_session`). Parameters and fitted attributes are the parent's.
    """

    def fit(self, X: np.ndarray, y: object = None, *, outlier_X: np.ndarray | None = None) -> "SparkHybridSegmenter":
        """Choose k on the sample, fit K-means on Spark, find micro-communities per segment on Spark, assign."""
        spark = _active_spark()
        self._validate_params()
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32]), dtype=float)
        outlier_X = _check_outlier_X(X, outlier_X)
        rs = check_random_state(self.random_state)
        km = SparkKMeansSegmenter(
            self.n_clusters, k_range=self.k_range, n_init=self.n_init, min_share=self.min_share,
            init=self.init, random_state=_seed(rs),
        ).fit(X)
        self.kmeans_ = km
        self.k_selection_ = km.k_selection_
        self.inertia_ = km.inertia_
        self.cluster_centers_ = km.cluster_centers_
        k = km.n_clusters_
        labels, dist, _ = _two_nearest(X, self.cluster_centers_)
        if outlier_X is not None:
            dist = _row_distance(outlier_X, self.cluster_centers_[labels])
        seeds = np.array([_seed(rs) for _ in range(k)])  # one per segment, drawn like the parent's loop
        medians, mads, micro = self._spark_segments(spark, X, labels, dist, k, seeds)
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
        return self

    def _spark_segments(self, spark: "SparkSession", X: np.ndarray, labels: np.ndarray, dist: np.ndarray, k: int,
                        seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, _MicroCommunities]:
        """Per segment: median/MAD of member distances (driver) and micro-communities (one Spark group each)."""
        medians, mads = np.full(k, np.nan), np.full(k, np.nan)
        for seg in range(k):
            rows = np.flatnonzero(labels == seg)
            if rows.size:
                medians[seg], mads[seg] = _median_mad(dist[rows])
        min_samples = self.min_samples if self.min_samples is not None else max(2 * X.shape[1], 2)
        small = max(min_samples * 4, 2 * self.min_micro_size)
        params = self.get_params()

        def one_segment(group: pd.DataFrame) -> pd.DataFrame:
            segment = int(group["segment"].iloc[0])
            xseg = np.vstack(list(group.sort_values("row")["x"]))
            if xseg.shape[0] <= small:
                return pd.DataFrame(columns=["segment", "micro", "eps", "core"])
            cores, eps = HybridSegmenter(**params)._segment_micro(xseg, min_samples, int(seeds[segment]))
            return pd.DataFrame([(segment, i, eps, row.tolist()) for i, core in enumerate(cores) for row in core],
                                columns=["segment", "micro", "eps", "core"])

        frame = _frame(spark, X, segment=labels.astype(np.int64)).select("row", "x", "segment")
        found = frame.groupBy("segment").applyInPandas(one_segment, _micro_schema()).toPandas()
        micro = _MicroCommunities()
        ordered = found.sort_values(["segment", "micro"], kind="stable")
        for (segment, _), group in ordered.groupby(["segment", "micro"], sort=True):
            micro.add(np.vstack(list(group["core"])), int(cast(int, segment)), float(group["eps"].iloc[0]))
        return medians, mads, micro
