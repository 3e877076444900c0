"""K-means on Spark MLlib and DBSCAN per segment in applyInPandas give the segments the local segmenter gives."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.segmentation.estimators import HybridSegmenter
from seg_pipeline_tests.spark.conftest import requires_spark

pytestmark = [pytest.mark.spark, requires_spark]


@pytest.fixture(scope="module")
def session(spark_config):
    """Return the local session (re-created when an earlier test stopped it, e.g. the standalone-cluster test)."""
    from seg_pipeline.warehouse.spark_session import spark_session

    return spark_session(spark_config)


@pytest.fixture(scope="module")
def accounts() -> np.ndarray:
    """Demo-like scaled features: 4 segments of unequal size, one hiding a dense micro-community, a few outliers."""
    rng = np.random.default_rng(5)
    X, _ = make_blobs(n_samples=[900, 600, 400, 250], n_features=5, cluster_std=0.7, random_state=5)
    micro = X[:900].mean(axis=0) + np.array([2.6, 0, 0, 0, 0]) + rng.normal(0, 0.08, (60, 5))
    outliers = rng.uniform(-15, 15, (10, 5))
    return np.vstack([X, micro, outliers])


def test_spark_segments_match_the_local_segmenter(session, accounts):
    from seg_pipeline.segmentation.spark_fit import SparkHybridSegmenter

    params = {"random_state": 7, "min_micro_size": 30, "min_micro_separation": 1.0}
    local = HybridSegmenter(4, **params).fit(accounts)
    spark = SparkHybridSegmenter(4, **params).fit(accounts)
    assert adjusted_rand_score(local.labels_, spark.labels_) >= 0.99
    assert spark.n_micro_ == local.n_micro_ >= 1
    assert adjusted_rand_score(local.micro_labels_, spark.micro_labels_) >= 0.99
    assert (spark.is_outlier_ == local.is_outlier_).mean() >= 0.99
    assert spark.is_outlier_[-10:].all()


def test_a_fitted_spark_segmenter_assigns_new_rows_without_spark(session, accounts):
    from seg_pipeline.segmentation.spark_fit import SparkHybridSegmenter

    fitted = SparkHybridSegmenter(4, random_state=7, min_micro_size=30, min_micro_separation=1.0).fit(accounts)
    detail = HybridSegmenter.predict_detail(fitted, accounts[:50])  # the parent's numpy code, no session used
    assert (detail.labels == fitted.labels_[:50]).all()
