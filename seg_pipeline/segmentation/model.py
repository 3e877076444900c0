"""The deployable segmentation model: preprocessing + stable-id centroids + micro-communities + names.

Holds only numpy arrays, plain dicts/lists and the fitted sklearn preprocessor, so it can be stored with skops
(no pickle) and served by the MLflow pyfunc. DBSCAN has no ``predict``; micro-community membership for new
accounts uses DBSCAN's own rule for non-core points: within eps of a core sample.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from seg_pipeline.segmentation.estimators import hybrid_assign
from seg_pipeline.segmentation.preprocess import transform_unclipped

ASSIGN_COLUMNS = ["account_id", "segment_id", "segment_name", "micro_community", "is_outlier", "margin", "distance"]


@dataclass
class SegmentationModel:
    """Fitted model with centroids keyed by stable segment id (``segment_ids[i]`` ↔ ``centroids[i]``)."""

    preprocessor: Pipeline
    features: list[str]
    categorical: list[str]
    segment_ids: list[int]
    centroids: np.ndarray  # (n_segments, n_transformed_features), preprocessed space
    segment_names: dict[int, str]
    outlier_radius: dict[int, float]
    micro_components: np.ndarray  # core samples of micro-communities, preprocessed space
    micro_component_labels: np.ndarray  # global micro-community id per core sample
    micro_component_segments: np.ndarray  # stable segment id per core sample
    micro_eps: np.ndarray  # eps per core sample (the eps of its segment's DBSCAN)
    version: str = ""
    max_segment_id: int = -1  # highest id ever issued (retired ids are never reused)
    max_micro_id: int = -1  # same for micro-community ids
    profiles_z: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def centroids_by_id(self) -> dict[int, np.ndarray]:
        """Centroid of each stable segment id (preprocessed space)."""
        return {sid: self.centroids[i] for i, sid in enumerate(self.segment_ids)}

    def profiles_z_frame(self) -> pd.DataFrame:
        """Standardized centroid profiles (index = segment id) as used for naming."""
        return pd.DataFrame.from_dict(self.profiles_z, orient="index").sort_index()

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Preprocess feature rows into the model's space (missing columns raise a ``ValueError``)."""
        self._check(features)
        return np.asarray(self.preprocessor.transform(features), dtype=float)

    def _check(self, features: pd.DataFrame) -> None:
        missing = [c for c in [*self.features, *self.categorical] if c not in features.columns]
        if missing:
            raise ValueError(f"features missing columns the model was trained on: {missing}")

    def assign(self, features: pd.DataFrame) -> pd.DataFrame:
        """Assign accounts to stable segments, micro-communities and outliers.

        Nearest centroid → segment; micro-community when within eps of one of its core samples (same
        segment); outlier when farther than the segment's radius learnt at fit (measured before the quantile
        cap) and in no micro-community. Returns ``ASSIGN_COLUMNS``; ``micro_community`` is nullable Int64
        (NA = none).
        """
        if "account_id" not in features.columns:
            raise ValueError("features must have an account_id column")
        X = self.transform(features)
        far = transform_unclipped(self.preprocessor, features)
        ids = np.asarray(self.segment_ids, dtype=np.int64)
        pos = {sid: i for i, sid in enumerate(self.segment_ids)}
        # micro-community core samples are keyed by stable id; the assignment rule works on row positions
        micro_pos = np.array([pos[s] for s in self.micro_component_segments], dtype=np.int64)
        radius = np.array([self.outlier_radius[s] for s in self.segment_ids], dtype=float)
        res = hybrid_assign(
            X,
            self.centroids,
            radius,
            self.micro_components,
            self.micro_component_labels,
            micro_pos,
            self.micro_eps,
            outlier_X=far,
        )
        seg = ids[res.labels]
        micro = pd.array(np.where(res.micro_labels >= 0, res.micro_labels, 0), dtype="Int64")
        micro[res.micro_labels < 0] = pd.NA
        return pd.DataFrame(
            {
                "account_id": features["account_id"].to_numpy(),
                "segment_id": seg.astype(np.int32),
                "segment_name": [self.segment_names.get(int(s), f"Segment {s}") for s in seg],
                "micro_community": micro,
                "is_outlier": res.is_outlier.astype(bool),
                "margin": res.margin,
                "distance": res.distance,
            },
            columns=ASSIGN_COLUMNS,
        )
