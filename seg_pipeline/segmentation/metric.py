"""The distance the weekly segments use: Euclidean after whitening by the segments' shared covariance.

Plain K-means measures every scaled feature alike, so features that vary a lot *inside* every segment (a noisy
weekly count) blur the borders as much as features that tell segments apart. Estimating one covariance shared by
all segments (a tied-covariance Gaussian mixture started from the K-means centres) and whitening by it makes
nearest-centroid assignment use the Mahalanobis distance under that covariance: noisy, correlated directions
count less, separating ones more. This is linear discriminant analysis without labels.

Measured on simulated companies (benchmarks/README.md): weekly ARI against the planted personas rose from
0.85-0.93 to 0.93-0.96, close to a supervised linear classifier on the same features (0.95-0.98).
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

# Added to the diagonal of the shared covariance (the features are standardized, variance 1). It bounds how much
# a feature that barely varies inside segments can be magnified (at most 1 / sqrt(REG) ≈ 4.5 times), so a
# near-constant column cannot dominate the distances.
REG_COVAR = 0.05
MAX_ITER = 20


def shared_covariance_whitening(
    X: np.ndarray, centers: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(whitening matrix ``W``, refined centres in the whitened space), or None.

    ``X @ W`` has the shared within-segment covariance whitened.

    None when there is nothing to estimate (one segment, fewer rows than features plus segments).
    """
    k, d = centers.shape
    if k < 2 or X.shape[0] <= d + k:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few EM steps refine the metric; no need to converge
        gm = GaussianMixture(k, covariance_type="tied", means_init=centers, reg_covar=REG_COVAR,
                             max_iter=MAX_ITER, random_state=seed).fit(X)
    w = np.asarray(gm.precisions_cholesky_, dtype=float)
    return w, np.asarray(gm.means_, dtype=float) @ w
