"""Feature preprocessing for segmentation: impute, log1p heavy tails, cap, scale, one-hot.

Distances drive every clustering step, so a handful of huge accounts (seats, MRR, event counts) must not
dominate them: heavy-tailed counts are log1p-transformed, every numeric column is capped at quantiles learnt at
fit (so next week's extreme values cannot stretch the space) and then scaled.
"""

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted, validate_data

SCALERS = ("standard", "robust", "minmax", "none")
ONEHOT_TOP = 5  # one-hot keeps this many most frequent values; the rest share one "infrequent" column
# two accounts with different values differ in two one-hot columns: this weight puts them 1 apart, the reach of
# one standardized feature, so a categorical column cannot outweigh behaviour
ONEHOT_WEIGHT = float(np.sqrt(0.5))


def weight_onehot(X: np.ndarray) -> np.ndarray:
    """Scale one-hot columns by :data:`ONEHOT_WEIGHT` (a named function so stored models stay loadable)."""
    return np.asarray(X, dtype=float) * ONEHOT_WEIGHT


def signed_log1p(X: np.ndarray, mask: tuple[bool, ...] = ()) -> np.ndarray:
    """``sign(x)·log1p(|x|)`` on the masked columns; safe for the odd negative count from a bad source."""
    X = np.asarray(X, dtype=float).copy()
    cols = np.asarray(mask, dtype=bool) if len(mask) else np.ones(X.shape[1], dtype=bool)
    X[:, cols] = np.sign(X[:, cols]) * np.log1p(np.abs(X[:, cols]))
    return X


class QuantileClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Winsorise each column at quantiles learnt at fit, so outliers cannot stretch the scaled space."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"quantiles": [tuple, None]}

    def __init__(self, quantiles: tuple[float, float] | None = (0.01, 0.99)) -> None:
        """Store the quantiles unchanged (sklearn validates parameters in ``fit``); ``None`` disables clipping."""
        self.quantiles = quantiles

    def fit(self, X: np.ndarray, y: object = None) -> "QuantileClipper":
        """Learn each column's clip bounds at the configured quantiles, ignoring NaN."""
        self._validate_params()
        X = validate_data(self, X, dtype=float, ensure_all_finite="allow-nan")
        if self.quantiles is None:
            self.lower_ = np.full(X.shape[1], -np.inf)
            self.upper_ = np.full(X.shape[1], np.inf)
            return self
        lo, hi = self.quantiles
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"quantiles must satisfy 0 <= low < high <= 1, got {self.quantiles!r}")
        self.lower_ = np.nanquantile(X, lo, axis=0)
        self.upper_ = np.nanquantile(X, hi, axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Clip each column to the bounds learnt in ``fit``."""
        check_is_fitted(self, "lower_")
        X = validate_data(self, X, dtype=float, reset=False, ensure_all_finite="allow-nan")
        clipped: np.ndarray = np.clip(X, self.lower_, self.upper_)
        return clipped


def make_scaler(name: str) -> StandardScaler | RobustScaler | MinMaxScaler | None:
    """Make a fresh scaler for ``name`` (one of :data:`SCALERS`); ``None`` for "none" (keep the input's units)."""
    scalers = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}
    if name == "none":
        return None
    if name not in scalers:
        raise ValueError(f"unknown scaler {name!r}; expected one of {', '.join(SCALERS)}")
    return scalers[name]()


def build_preprocessor(
    numeric: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    ordinal: Mapping[str, Sequence[str]] | None = None,
    heavy_tailed: Sequence[str] = (),
    scaler: str = "robust",
    clip_quantiles: tuple[float, float] | None = (0.01, 0.99),
) -> Pipeline:
    """Unfitted preprocessing pipeline over a DataFrame with the named columns.

    Numeric: median-impute → signed log1p on ``heavy_tailed`` → cap at ``clip_quantiles`` → scale
    (``standard|robust|minmax|none``). Ordinal (column -> levels, lowest first): rank, unknown or missing
    values median-imputed, then the same scaler. Categorical: one-hot over the :data:`ONEHOT_TOP` most frequent
    values (rare and unknown ones share the "infrequent" column), weighted by :data:`ONEHOT_WEIGHT`.
    Output order: numeric, ordinal, one-hot; names (``get_feature_names_out()``) are the input names, plus
    ``<col>_<value>`` for one-hot.
    """
    numeric = list(numeric)
    categorical = list(categorical)
    ordinal = dict(ordinal or {})
    unknown_heavy = set(heavy_tailed) - set(numeric)
    if unknown_heavy:
        raise ValueError(f"heavy_tailed columns not in numeric: {sorted(unknown_heavy)}")
    if not numeric and not categorical and not ordinal:
        raise ValueError("no feature columns given")
    mask = tuple(c in set(heavy_tailed) for c in numeric)
    scale = make_scaler(scaler)
    num_pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("log1p", FunctionTransformer(signed_log1p, kw_args={"mask": mask}, feature_names_out="one-to-one")),
            ("clip", QuantileClipper(clip_quantiles)),
            ("scale", "passthrough" if scale is None else scale),
        ]
    )
    transformers: list[tuple[str, object, list[str]]] = []
    if numeric:
        transformers.append(("num", num_pipe, numeric))
    if ordinal:
        transformers.append(("ord", _ordinal_pipe(ordinal, scaler), list(ordinal)))
    if categorical:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01,
                               max_categories=ONEHOT_TOP + 1, sparse_output=False)
        weight = FunctionTransformer(weight_onehot, feature_names_out="one-to-one")
        transformers.append(("cat", Pipeline([("onehot", onehot), ("weight", weight)]), categorical))
    columns = ColumnTransformer(transformers, verbose_feature_names_out=False, remainder="drop")
    return Pipeline([("columns", columns)])


def _ordinal_pipe(ordinal: Mapping[str, Sequence[str]], scaler: str) -> Pipeline:
    """Rank of each ordered category (unknown or missing -> median rank), scaled like the numeric block."""
    scale = make_scaler(scaler)
    encoder = OrdinalEncoder(
        categories=[list(levels) for levels in ordinal.values()],
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
    )
    return Pipeline([
        ("rank", encoder),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", "passthrough" if scale is None else scale),
    ])


def transform_unclipped(pre: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """``pre.transform(frame)`` with the quantile cap skipped, for outlier distances.

    Capping protects centroids and scales from extreme accounts, but it also pulls those accounts back into the
    crowd; outlier detection must see how far they really are.
    """
    columns: ColumnTransformer = pre.named_steps["columns"]
    blocks = []
    for name, trans, cols in columns.transformers_:
        if name == "remainder" or isinstance(trans, str):
            continue
        part = frame[cols]
        if isinstance(trans, Pipeline):
            for step_name, step in trans.steps:
                if step_name != "clip" and not isinstance(step, str):
                    part = step.transform(part)
        else:
            part = trans.transform(part)
        blocks.append(np.asarray(part, dtype=float))
    out = np.hstack(blocks)
    for _, step in pre.steps[1:]:  # steps after the column blocks (the model's whitening) apply as they are
        out = step.transform(out)
    return np.asarray(out, dtype=float)


class Whiten(TransformerMixin, BaseEstimator):
    """Multiply rows by a fixed matrix: the weekly model's last step (:mod:`seg_pipeline.segmentation.metric`).

    The matrix is estimated with the segments, not from the rows this step sees, so ``fit`` only records it.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        """Keep the whitening matrix (d x d) unchanged (sklearn's rule)."""
        self.matrix = matrix

    def fit(self, X: np.ndarray, y: object = None) -> "Whiten":
        """Record the matrix as fitted."""
        self.matrix_ = np.asarray(self.matrix, dtype=float)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return ``X @ matrix``."""
        out: np.ndarray = np.asarray(X, dtype=float) @ self.matrix_
        return out
