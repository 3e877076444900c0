"""Stable segment ids across retrains: match new K-means clusters to the champion's segments.

K-means labels are arbitrary per fit (another seed relabelled 100 % of accounts here); matching clusters to the
previous segments by the accounts they share (Hungarian assignment) brought that to 0 %, so a migration
downstream means the account moved, not that the labels moved.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class Alignment:
    """How one fit's clusters map onto the stable segment ids.

    ``mapping``: new cluster → stable segment id; ``new_ids``: ids created now; ``retired_ids``: previous
    segments no new cluster matched.
    """

    mapping: dict[int, int]
    new_ids: list[int]
    retired_ids: list[int]


def align_clusters(
    new_labels: pd.Series,
    previous_segments: pd.Series | None,
    *,
    new_centroids: np.ndarray | None = None,
    previous_centroids: dict[int, np.ndarray] | None = None,
    next_id: int,
    min_jaccard: float = 0.1,
) -> Alignment:
    """Map each new cluster label to a stable segment id.

    With accounts shared between ``new_labels`` and ``previous_segments`` (both indexed by account_id), the
    contingency table of shared accounts is matched with ``linear_sum_assignment`` maximising the number of
    shared accounts that keep their segment (so downstream migrations are real moves); a pair is
    kept only when its Jaccard overlap (shared accounts in both / in either) is ≥ ``min_jaccard``, so a cluster
    that merely borrows a few accounts from a vanished segment is new, not a rename. Without shared accounts,
    ``new_centroids`` (row i = cluster i) are matched to ``previous_centroids`` by Euclidean distance (all pairs
    kept; both must be in the same feature space). Unmatched clusters get ids ``next_id, next_id + 1, …`` in
    label order; unmatched previous segments are retired.
    """
    if new_labels.index.has_duplicates:
        raise ValueError("new_labels has duplicate account ids")
    clusters = sorted(int(c) for c in pd.unique(new_labels))
    prev_ids: list[int] = []
    mapping: dict[int, int] = {}
    if previous_segments is not None and len(previous_segments):
        if previous_segments.index.has_duplicates:
            raise ValueError("previous_segments has duplicate account ids")
        prev_ids = sorted(int(s) for s in pd.unique(previous_segments.dropna()))
        shared = new_labels.index.intersection(previous_segments.dropna().index)
    else:
        shared = pd.Index([])
    if previous_segments is not None and len(shared) and prev_ids:
        mapping = _match_by_accounts(new_labels, previous_segments, shared, clusters, prev_ids, min_jaccard)
    elif previous_centroids and new_centroids is not None:
        prev_ids = sorted(previous_centroids)
        mapping = _match_by_centroids(new_centroids, previous_centroids, clusters, prev_ids)
    elif previous_centroids:
        prev_ids = sorted(previous_centroids)
    new_ids = _issue_new_ids(mapping, clusters, max([next_id, *(i + 1 for i in prev_ids)]))
    matched = set(mapping.values())
    retired = [i for i in prev_ids if i not in matched]
    return Alignment(mapping=dict(sorted(mapping.items())), new_ids=new_ids, retired_ids=retired)


def _match_by_accounts(
    new_labels: pd.Series,
    previous_segments: pd.Series,
    shared: pd.Index,
    clusters: list[int],
    prev_ids: list[int],
    min_jaccard: float,
) -> dict[int, int]:
    """Hungarian matching of the shared-accounts contingency table; weak overlaps (Jaccard) stay unmatched."""
    table = pd.crosstab(new_labels.loc[shared].astype(int), previous_segments.loc[shared].astype(int))
    table = table.reindex(index=clusters, columns=prev_ids, fill_value=0)
    counts = table.to_numpy(dtype=float)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    n_new = counts.sum(axis=1)
    n_prev = counts.sum(axis=0)
    mapping: dict[int, int] = {}
    for r, c in zip(rows, cols, strict=True):
        union = n_new[r] + n_prev[c] - counts[r, c]
        if union > 0 and counts[r, c] / union >= min_jaccard:
            mapping[clusters[r]] = prev_ids[c]
    return mapping


def _match_by_centroids(
    new_centroids: np.ndarray, previous_centroids: dict[int, np.ndarray], clusters: list[int], prev_ids: list[int]
) -> dict[int, int]:
    """Hungarian matching of centroids by Euclidean distance (every pair kept)."""
    prev = np.vstack([previous_centroids[i] for i in prev_ids])
    new = np.asarray(new_centroids, dtype=float)[clusters]
    cost = np.sqrt(((new[:, None, :] - prev[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    return {clusters[r]: prev_ids[c] for r, c in zip(rows, cols, strict=True)}


def _issue_new_ids(mapping: dict[int, int], clusters: list[int], first_id: int) -> list[int]:
    """Give every unmatched cluster the next fresh id, in label order (updates ``mapping``); returns them."""
    new_ids: list[int] = []
    nid = first_id
    for c in clusters:
        if c not in mapping:
            mapping[c] = nid
            new_ids.append(nid)
            nid += 1
    return new_ids
