"""Weekly training: preprocess → hybrid segmentation → stable ids → names → metrics → quality gate.

Pure logic; the model stage (``seg_pipeline.model.stage``) calls :func:`train_week` with this week's
``features.account_features`` and the current champion, logs the result to MLflow and promotes it only when
``gate.passed``.
"""

from dataclasses import dataclass, field, replace
from datetime import date
from typing import cast

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from sklearn.pipeline import Pipeline

from seg_pipeline.features import registry
from seg_pipeline.segmentation.align import Alignment, align_clusters
from seg_pipeline.segmentation.estimators import HybridSegmenter, KMeansSegmenter
from seg_pipeline.segmentation.featureset import MIN_FEATURES, ORDINAL_LEVELS, default_numeric
from seg_pipeline.segmentation.kselect import KSelection, NoAdmissibleKError, k_bounds, silhouettes
from seg_pipeline.segmentation.metric import shared_covariance_whitening
from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.segmentation.personas import name_segments
from seg_pipeline.segmentation.preprocess import Whiten, build_preprocessor, transform_unclipped
from seg_pipeline.warehouse.spark_session import SparkConfig

SCORE_COLUMNS = ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]
MIN_ACCOUNTS = 50  # below this a week's segments say nothing: blocked, not trained
WEEKLY, STRUCTURAL = "weekly", "structural"
RETRAIN_MODES = (WEEKLY, STRUCTURAL)


class TrainingBlockedError(Exception):
    """This week's data cannot give a model the gate could accept (too few accounts, features or a valid k).

    The model stage turns it into a failed ``quality_gate``: the champion serves the week when there is one,
    else the week is blocked with this reason.
    """


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes a weekly model; ``heavy_tailed=None`` takes the registry's flags.

    ``scaler`` defaults to "standard": on planted-persona data robust scaling let near-constant columns
    (api_share's IQR is ~0.03) dominate the distances and merged three personas (ARI 0.62 vs 0.98).
    """

    features: tuple[str, ...] = field(default_factory=default_numeric)
    ordinal: tuple[str, ...] = ()  # ordered categories (firmographics), levels from featureset.ORDINAL_LEVELS
    categorical: tuple[str, ...] = ()  # one-hot over the top values (firmographics)
    heavy_tailed: tuple[str, ...] | None = None
    scaler: str = "standard"
    clip_quantiles: tuple[float, float] | None = (0.01, 0.99)
    k_range: tuple[int, int] = (3, 10)
    fixed_k: int | None = None
    eps: float | None = None
    min_samples: int | None = None
    min_micro_size: int | None = None  # None: max(30, min_micro_share × accounts)
    min_micro_share: float = 0.005
    outlier_mad: float = 5.0  # outlier radius = median + this × 1.4826 × MAD of distances to the centroid
    n_init: int = 4
    seed: int = 7
    silhouette_sample: int = 10_000
    min_segment_share: float = 0.01
    silhouette_floor: float = 0.05
    stability_floor: float = 0.5
    # trend features are legitimately all-zero until there are 4 weeks of history: kept without a warning
    # (a constant column adds nothing to the distances); any other constant or all-null column is dropped from
    # the week's training and reported
    allow_constant: tuple[str, ...] = ("wau_trend",)
    # the weekly (warm) refit keeps a settled champion's k; a structural retrain re-selects it (see plan_retrain)
    hold_k: bool = True
    # segments use the Mahalanobis distance under their shared covariance (segmentation/metric.py)
    shared_covariance: bool = True
    # SEG_ENGINE=spark: the K-means fits on all rows and the per-segment DBSCAN run on Spark (segmentation/spark_fit.py)
    spark: SparkConfig | None = None

    def heavy(self) -> list[str]:
        """Features to log1p: ``heavy_tailed`` when given, else those the feature registry flags heavy-tailed."""
        if self.heavy_tailed is not None:
            return list(self.heavy_tailed)
        known = set(registry.feature_names())
        return [f for f in self.features if f in known and registry.get(f).heavy_tailed]


@dataclass(frozen=True)
class GateResult:
    """Quality gate for promotion; ``reasons`` lists every failed check (empty when passed)."""

    passed: bool
    reasons: list[str]


@dataclass(frozen=True)
class TrainResult:
    """A trained week: the model, its assignments (stable ids), metrics, k selection, profiles and gate."""

    model: SegmentationModel
    assignments: pd.DataFrame
    metrics: dict[str, float]
    k_selection: KSelection
    profiles: pd.DataFrame
    profiles_z: pd.DataFrame
    gate: GateResult
    alignment: Alignment
    config: TrainConfig  # the effective configuration: ``features`` without the dropped columns
    week_start: date
    dropped_features: dict[str, str] = field(default_factory=dict)  # column -> why it was left out this week
    retrain: str = WEEKLY  # "weekly" (warm refit) or "structural" (drift-triggered), see plan_retrain


def _validate(features: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Reject inputs that point at a bug upstream (no ids, duplicates, missing columns); coerce numerics."""
    if "account_id" not in features.columns:
        raise ValueError("features must have an account_id column")
    dupes = features["account_id"].duplicated()
    if dupes.any():
        raise ValueError(f"duplicate account_id in features, e.g. {features.loc[dupes, 'account_id'].iloc[0]!r}")
    cols = [*config.features, *config.ordinal, *config.categorical]
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ValueError(f"features missing columns: {missing}")
    out = features.copy()
    num = out[list(config.features)].apply(pd.to_numeric, errors="coerce").astype(float)
    out[list(config.features)] = num.replace([np.inf, -np.inf], np.nan)  # ±inf → NaN → median-imputed
    return out


def _uninformative(features: pd.DataFrame, config: TrainConfig) -> dict[str, str]:
    """Columns that cannot separate accounts this week (all-null or one value), with the reason."""
    dropped: dict[str, str] = {}
    for col in [*config.features, *config.ordinal, *config.categorical]:
        values = features[col]
        if values.isna().all():
            dropped[col] = "all null"
        elif values.nunique(dropna=True) <= 1 and col not in config.allow_constant:
            value = values.dropna().iloc[0]
            dropped[col] = f"constant ({value.item() if isinstance(value, np.generic) else value!r})"
    return dropped


def _usable_config(features: pd.DataFrame, config: TrainConfig) -> tuple[TrainConfig, dict[str, str]]:
    """(config without this week's uninformative columns, dropped column -> reason); blocks when too few remain.

    A company's data often has a feature it never uses (no API, no invites): that column is left out of this
    week's model and reported, rather than failing the week.
    """
    if len(features) < MIN_ACCOUNTS:
        raise TrainingBlockedError(f"only {len(features)} accounts this week; training needs at least {MIN_ACCOUNTS}")
    dropped = _uninformative(features, config)
    keep = replace(
        config,
        features=tuple(c for c in config.features if c not in dropped),
        ordinal=tuple(c for c in config.ordinal if c not in dropped),
        categorical=tuple(c for c in config.categorical if c not in dropped),
        heavy_tailed=None if config.heavy_tailed is None else tuple(c for c in config.heavy_tailed if c not in dropped),
    )
    # an allowed-constant column (wau_trend early on) is kept but does not count as information
    left = [c for c in (*keep.features, *keep.ordinal, *keep.categorical) if features[c].nunique(dropna=True) > 1]
    if len(left) < MIN_FEATURES:
        reasons = ", ".join(f"{c}: {why}" for c, why in dropped.items())
        raise TrainingBlockedError(
            f"only {len(left)} clustering feature(s) carry information this week ({', '.join(left) or 'none'}; "
            f"dropped {reasons}): check the week's usage and CRM exports, or choose features with SEG_FEATURES"
        )
    return keep, dropped


def _previous_segments(
    features: pd.DataFrame, champion: SegmentationModel | None, champion_assignments: pd.DataFrame | None
) -> pd.Series | None:
    """Champion segments of the accounts: last published assignments, else the champion applied to this week."""
    ids = pd.Index(features["account_id"])
    if champion_assignments is not None and len(champion_assignments):
        prev = champion_assignments.drop_duplicates("account_id", keep="last").set_index("account_id")["segment_id"]
        if len(ids.intersection(prev.index)):
            return prev.astype(int)
    if champion is not None:
        return champion.assign(features).set_index("account_id")["segment_id"].astype(int)
    return None


def _align_micro(
    account_ids: np.ndarray,
    micro_labels: np.ndarray,
    champion: SegmentationModel | None,
    champion_assignments: pd.DataFrame | None,
) -> tuple[dict[int, int], int]:
    """Stable micro-community ids, aligned like segments through the accounts they share with last week's."""
    found = micro_labels >= 0
    new = pd.Series(micro_labels[found], index=account_ids[found])
    prev: pd.Series | None = None
    if champion_assignments is not None and "micro_community" in champion_assignments:
        last = champion_assignments.dropna(subset=["micro_community"]).drop_duplicates("account_id", keep="last")
        prev = last.set_index("account_id")["micro_community"].astype(int)
    next_id = champion.max_micro_id + 1 if champion is not None else 0
    mapping = align_clusters(new, prev, next_id=next_id).mapping if len(new) else {}
    return mapping, max([next_id - 1, *mapping.values()])


def _profiles_z(Xnum: np.ndarray, seg: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Segment means of the preprocessed features in population standard deviations."""
    mu = Xnum.mean(axis=0)
    sd = Xnum.std(axis=0)
    sd[sd == 0] = 1.0
    frame = pd.DataFrame((Xnum - mu) / sd, columns=columns)
    frame["segment_id"] = seg
    return frame.groupby("segment_id").mean().sort_index()


def _spark_classes(config: TrainConfig) -> tuple[type[KMeansSegmenter], type[HybridSegmenter]]:
    """Return the K-means and hybrid segmenter classes for the engine (Spark ones start its session first)."""
    if config.spark is None:
        return KMeansSegmenter, HybridSegmenter
    from seg_pipeline.segmentation.spark_fit import SparkHybridSegmenter, SparkKMeansSegmenter
    from seg_pipeline.warehouse.spark_session import spark_session

    spark_session(config.spark)
    return SparkKMeansSegmenter, SparkHybridSegmenter


def _hybrid(config: TrainConfig, n: int, k: int | None, init: np.ndarray | None = None) -> HybridSegmenter:
    """Build the configured segmenter; ``k`` None chooses k by the k rule within the bounds ``n`` accounts allow."""
    hybrid_class = HybridSegmenter if config.spark is None else _spark_classes(config)[1]
    return hybrid_class(
        "auto" if k is None else k,
        k_range=k_bounds(config.k_range, n, config.min_segment_share) if k is None else config.k_range,
        n_init=config.n_init,
        min_share=config.min_segment_share if k is None else 0.0,
        eps=config.eps,
        min_samples=config.min_samples,
        outlier_mad=config.outlier_mad,
        min_micro_size=config.min_micro_size or max(30, int(np.ceil(config.min_micro_share * n))),
        init=init,
        random_state=config.seed,
    )


def _warm_centres(X: np.ndarray, account_ids: np.ndarray, previous: pd.Series | None, k: int) -> np.ndarray | None:
    """Return this week's mean of each champion segment (scaled space) to warm-start a held k; None when k differs."""
    if previous is None:
        return None
    prev = pd.Series(account_ids).map(previous)
    known = prev.notna().to_numpy()
    if not known.any() or prev[known].nunique() != k:
        return None
    frame = pd.DataFrame(X[known]).assign(seg=prev[known].to_numpy())
    centres: np.ndarray = frame.groupby("seg").mean().to_numpy()
    return centres


def _fit_hybrid(
    features: pd.DataFrame, config: TrainConfig, previous: pd.Series | None = None
) -> tuple[Pipeline, np.ndarray, np.ndarray, HybridSegmenter]:
    """Fit the preprocessor and the hybrid segmenter; returns (preprocessor, scaled rows, model-space rows, segmenter).

    With ``shared_covariance`` K-means first finds k and the centres in the scaled space (with a k held from the
    champion, ``previous`` segments give a warm start, kept when it fits better than the restarts), the segments' shared
    covariance is estimated from them (:mod:`~seg_pipeline.segmentation.metric`), and the segmenter is fitted
    again with that k in the whitened space, which becomes the last preprocessing step. Scaled rows (before
    whitening) are what segment profiles are described in.
    """
    pre = build_preprocessor(
        list(config.features),
        categorical=list(config.categorical),
        ordinal={c: ORDINAL_LEVELS[c] for c in config.ordinal},
        heavy_tailed=config.heavy(),
        scaler=config.scaler,
        clip_quantiles=config.clip_quantiles,
    )
    X = np.asarray(pre.fit_transform(features), dtype=float)
    kmeans_class = _spark_classes(config)[0]
    if not config.shared_covariance:
        hybrid = _hybrid(config, len(features), config.fixed_k).fit(X, outlier_X=transform_unclipped(pre, features))
        return pre, X, X, hybrid
    auto = config.fixed_k is None
    km = kmeans_class(
        "auto" if config.fixed_k is None else config.fixed_k,
        k_range=k_bounds(config.k_range, len(features), config.min_segment_share) if auto else config.k_range,
        n_init=config.n_init, min_share=config.min_segment_share if auto else 0.0,
        random_state=_hybrid(config, len(features), None).kmeans_seed(),  # the seed the one-step fit gives it
    ).fit(X)
    warm = _warm_centres(X, features["account_id"].to_numpy(), previous, km.n_clusters_)
    if warm is not None:  # a held k: last week's segments are a start; keep whichever fits better
        km_warm = kmeans_class(km.n_clusters_, n_init=1, init=warm, random_state=config.seed).fit(X)
        km = min((km, km_warm), key=lambda m: m.inertia_)
    whitening = shared_covariance_whitening(X, km.cluster_centers_, config.seed)
    if whitening is None:
        Xm, init = X, km.cluster_centers_
    else:
        pre.steps.append(("whiten", Whiten(whitening[0]).fit(X)))
        Xm, init = X @ whitening[0], whitening[1]
    hybrid = _hybrid(config, len(features), km.n_clusters_, init)
    hybrid.fit(Xm, outlier_X=transform_unclipped(pre, features))
    hybrid.k_selection_ = km.k_selection_
    return pre, X, Xm, hybrid


@dataclass(frozen=True)
class _StableIds:
    """This fit's K-means clusters mapped to stable segment ids."""

    alignment: Alignment
    present: list[int]  # clusters that kept at least one account
    segment_ids: list[int]  # stable id of each present cluster
    to_id: np.ndarray  # cluster -> stable id (-1: a cluster that lost every account)
    labels: np.ndarray  # stable id of each account
    next_id: int  # first id this lineage had not issued before this fit


def _stable_segment_ids(
    hybrid: HybridSegmenter, account_ids: np.ndarray, previous: pd.Series | None, champion: SegmentationModel | None
) -> _StableIds:
    """Align the clusters to the champion's segments through shared accounts; new clusters get new ids."""
    next_id = champion.max_segment_id + 1 if champion is not None else 0
    alignment = align_clusters(pd.Series(hybrid.labels_, index=account_ids), previous, next_id=next_id)
    present = sorted(alignment.mapping)
    seg_ids = [alignment.mapping[c] for c in present]
    to_id = np.full(len(hybrid.cluster_centers_), -1, dtype=np.int64)
    to_id[present] = seg_ids
    return _StableIds(alignment, present, seg_ids, to_id, to_id[hybrid.labels_], next_id)


def _segment_names(profiles_z: pd.DataFrame, champion: SegmentationModel | None) -> dict[int, str]:
    """Persona names, keeping the champion's name where a segment's profile did not change materially."""
    prev_names = champion.segment_names if champion is not None else None
    prev_z = champion.profiles_z_frame() if champion is not None and champion.profiles_z else None
    return name_segments(profiles_z, previous=prev_names, previous_profiles_z=prev_z)


def _raw_profiles(
    features: pd.DataFrame, numeric_cols: list[str], ids: _StableIds, is_outlier: np.ndarray
) -> pd.DataFrame:
    """Segment means in raw units, outliers left out."""
    raw = features[numeric_cols].assign(segment_id=ids.labels)[~is_outlier]
    return raw.groupby("segment_id").mean().reindex(sorted(ids.segment_ids))


def _stable_micro_ids(
    account_ids: np.ndarray,
    hybrid: HybridSegmenter,
    champion: SegmentationModel | None,
    champion_assignments: pd.DataFrame | None,
) -> tuple[dict[int, int], int]:
    """(micro-community -> stable id, highest micro id issued), new ids for communities that matched none."""
    micro_map, max_micro = _align_micro(account_ids, hybrid.micro_labels_, champion, champion_assignments)
    for m in np.unique(hybrid.micro_component_labels_):  # a community whose members all went elsewhere
        if int(m) not in micro_map:
            max_micro += 1
            micro_map[int(m)] = max_micro
    return micro_map, max_micro


def _build_model(
    pre: Pipeline,
    config: TrainConfig,
    hybrid: HybridSegmenter,
    ids: _StableIds,
    names: dict[int, str],
    profiles_z: pd.DataFrame,
    micro: tuple[dict[int, int], int],
    week_start: date,
) -> SegmentationModel:
    """Build the deployable model: centroids, radii and micro-community cores keyed by stable ids."""
    micro_map, max_micro = micro
    present, seg_ids = ids.present, ids.segment_ids
    return SegmentationModel(
        preprocessor=pre,
        features=list(config.features),
        categorical=[*config.ordinal, *config.categorical],  # string columns the model reads
        segment_ids=seg_ids,
        centroids=hybrid.cluster_centers_[present],
        segment_names=names,
        outlier_radius={sid: float(hybrid.outlier_radius_[c]) for c, sid in zip(present, seg_ids, strict=True)},
        micro_components=hybrid.micro_components_,
        micro_component_labels=np.array([micro_map[int(m)] for m in hybrid.micro_component_labels_], dtype=np.int64),
        micro_component_segments=ids.to_id[hybrid.micro_component_segments_],
        micro_eps=hybrid.micro_eps_,
        version=f"{week_start.isoformat()}-k{len(seg_ids)}-seed{config.seed}",
        max_segment_id=max([ids.next_id - 1, *seg_ids]),
        max_micro_id=max_micro,
        profiles_z={int(cast(int, i)): {str(k): float(v) for k, v in row.items()} for i, row in profiles_z.iterrows()},
    )


def _k_selection(
    hybrid: HybridSegmenter, n_segments: int, metrics: dict[str, float], config: TrainConfig,
    held_reason: str | None = None,
) -> KSelection:
    """Return the segmenter's k selection; with a fixed or held k, a one-row table of this fit's scores."""
    return hybrid.k_selection_ or KSelection(
        k=n_segments,
        scores=pd.DataFrame(
            [{"k": n_segments, **{m: metrics[m] for m in SCORE_COLUMNS[1:]}}], columns=SCORE_COLUMNS
        ),
        knee=None,
        reason=held_reason or f"k={config.fixed_k}: fixed by configuration (overrides the k-selection rule)",
    )


def structural_seed(seed: int, week_start: date) -> int:
    """Seed of a structural retrain: its own stream, deterministic per (seed, week), never the weekly seed."""
    state = np.random.SeedSequence([seed, week_start.toordinal(), 0x5EED]).generate_state(1)[0]
    return int(state % (2**31 - 1))


@dataclass(frozen=True)
class RetrainPlan:
    """What a week's retrain may change: its mode, the configuration it fits with, and why k is what it is."""

    mode: str
    config: TrainConfig
    reason: str | None  # replaces the k rule's reason when k is held; None = the rule decides


def plan_retrain(
    config: TrainConfig, mode: str, champion: SegmentationModel | None, *, provisional_champion: bool,
    week_start: date, accounts: int,
) -> RetrainPlan:
    """Decide what this retrain may change.

    ``weekly`` (warm refit): a settled champion's k is kept, the seed is the configured one, and the new clusters
    are aligned to the champion's segments — centroids follow the customers, the segment structure does not move.
    ``structural`` (requested by the drift sensor): k is re-selected from scratch by the k rule, K-means starts
    from a fresh initialisation (its own seed stream, twice the restarts) and DBSCAN's eps is re-estimated in the
    new segments; the result is still aligned to the champion, so ids and names carry over where segments stay.
    Without a champion, against a provisional one, or with ``fixed_k`` configured both modes pick k the same way.
    """
    if mode not in RETRAIN_MODES:
        raise ValueError(f"unknown retrain mode {mode!r}: use one of {', '.join(RETRAIN_MODES)}")
    if mode == STRUCTURAL:
        fresh = replace(config, seed=structural_seed(config.seed, week_start), n_init=max(2 * config.n_init, 8))
        return RetrainPlan(mode, fresh, None)
    if config.fixed_k is not None or champion is None or provisional_champion or not config.hold_k:
        return RetrainPlan(mode, config, None)
    held = len(champion.segment_ids)
    lo, hi = k_bounds(config.k_range, accounts, config.min_segment_share)
    if not lo <= held <= hi:
        return RetrainPlan(mode, config, None)
    reason = (f"k={held}: held from the champion {champion.version} (weekly warm refit; a drift-triggered "
              "structural retrain re-selects k)")
    return RetrainPlan(mode, replace(config, fixed_k=held), reason)


def _fit_planned(
    features: pd.DataFrame, plan: RetrainPlan, previous: pd.Series | None = None
) -> tuple[Pipeline, np.ndarray, np.ndarray, HybridSegmenter, RetrainPlan]:
    """Fit under the plan; a held k that leaves a segment under the gate's minimum share falls back to the rule."""
    try:
        pre, X, Xm, hybrid = _fit_hybrid(features, plan.config, previous if plan.reason else None)
        if plan.reason is not None:
            sizes = np.bincount(hybrid.labels_, minlength=len(hybrid.cluster_centers_))
            if sizes.min() < plan.config.min_segment_share * len(features):
                plan = RetrainPlan(plan.mode, replace(plan.config, fixed_k=None), None)
                pre, X, Xm, hybrid = _fit_hybrid(features, plan.config)
    except NoAdmissibleKError as exc:
        raise TrainingBlockedError(str(exc)) from exc
    return pre, X, Xm, hybrid, plan


def train_week(
    features: pd.DataFrame,
    config: TrainConfig,
    *,
    champion: SegmentationModel | None,
    champion_assignments: pd.DataFrame | None,
    week_start: date,
    provisional_champion: bool = False,
    retrain: str = WEEKLY,
) -> TrainResult:
    """Train this week's model and assign every account a stable segment.

    New K-means clusters are aligned to the champion's segments through the accounts they share, so retraining
    the same week with another seed changes no account's segment; unmatched clusters get new ids (above every
    id the champion lineage ever issued), unmatched champion segments are retired. Names come from
    :func:`name_segments`, keeping last week's name when a profile did not change materially. The gate checks
    the smallest segment share, the silhouette floor and (with a champion) the stability ARI floor — except
    against a ``provisional_champion``, one trained before the company's history was long enough to show
    sustained behaviour (see ``model.stage.WARMUP_WEEKS``): holding on to it would freeze the warm-up picture,
    and in a ``structural`` retrain, whose purpose is to let the structure change (see :func:`plan_retrain`).

    All-null and constant columns are left out of this week's model (``dropped_features``); k is chosen in the
    range :func:`~seg_pipeline.segmentation.kselect.k_bounds` allows for the number of accounts, among candidates
    that keep the gate's minimum segment share. Raises :class:`TrainingBlockedError` (with the reason) when too
    few accounts, too few informative features or no admissible k remain.
    """
    features = _validate(features, config)
    config, dropped = _usable_config(features, config)
    plan = plan_retrain(config, retrain, champion, provisional_champion=provisional_champion,
                        week_start=week_start, accounts=len(features))
    previous = _previous_segments(features, champion, champion_assignments)
    pre, X, Xm, hybrid, plan = _fit_planned(features, plan, previous)
    config = plan.config
    account_ids = features["account_id"].to_numpy()
    ids = _stable_segment_ids(hybrid, account_ids, previous, champion)
    numeric_cols = list(config.features)
    # ColumnTransformer puts the numeric block first, in input order
    profiles_z = _profiles_z(X[:, : len(numeric_cols)], ids.labels, numeric_cols)
    names = _segment_names(profiles_z, champion)
    micro = _stable_micro_ids(account_ids, hybrid, champion, champion_assignments)
    model = _build_model(pre, config, hybrid, ids, names, profiles_z, micro, week_start)
    assignments = model.assign(features)
    assignments.insert(1, "week_start", week_start)
    metrics = _metrics(Xm, assignments, hybrid, previous, config)
    return TrainResult(
        model=model,
        assignments=assignments,
        metrics=metrics,
        k_selection=_k_selection(hybrid, len(ids.segment_ids), metrics, config, plan.reason),
        profiles=_raw_profiles(features, numeric_cols, ids, hybrid.is_outlier_),
        profiles_z=profiles_z,
        gate=_gate(metrics, ids.segment_ids, config,
                   has_champion=previous is not None and not provisional_champion and retrain != STRUCTURAL),
        alignment=ids.alignment,
        config=config,
        week_start=week_start,
        dropped_features=dropped,
        retrain=retrain,
    )


def _metrics(
    X: np.ndarray,
    assignments: pd.DataFrame,
    hybrid: HybridSegmenter,
    previous: pd.Series | None,
    config: TrainConfig,
) -> dict[str, float]:
    seg = assignments["segment_id"].to_numpy()
    n = len(seg)
    rng = np.random.default_rng(config.seed)
    idx = np.sort(rng.choice(n, config.silhouette_sample, replace=False)) if n > config.silhouette_sample else None
    sample_x, sample_seg = (X, seg) if idx is None else (X[idx], seg[idx])
    multi = len(np.unique(seg)) > 1
    metrics: dict[str, float] = {
        "silhouette": silhouettes(sample_x, [sample_seg])[0] if len(np.unique(sample_seg)) > 1 else float("nan"),
        "calinski_harabasz": float(calinski_harabasz_score(X, seg)) if multi else float("nan"),
        "davies_bouldin": float(davies_bouldin_score(X, seg)) if multi else float("nan"),
        "inertia": float(hybrid.inertia_),
        "noise_share": float(assignments["is_outlier"].mean()),
        "micro_share": float(assignments["micro_community"].notna().mean()),
        "n_segments": float(len(np.unique(seg))),
        "n_micro_communities": float(hybrid.n_micro_),
        "n_accounts": float(n),
    }
    if previous is not None:
        cur = assignments.set_index("account_id")["segment_id"]
        shared = cur.index.intersection(previous.index)
        if len(shared):
            a, b = previous.loc[shared].to_numpy(), cur.loc[shared].to_numpy()
            metrics["stability_ari"] = float(adjusted_rand_score(a, b))
            metrics["changed_share"] = float(np.mean(a != b))
        metrics["shared_accounts"] = float(len(shared))
    for sid, count in zip(*np.unique(seg, return_counts=True), strict=True):
        metrics[f"size_{int(sid)}"] = float(count)
    return metrics


def _gate(metrics: dict[str, float], seg_ids: list[int], config: TrainConfig, *, has_champion: bool) -> GateResult:
    reasons: list[str] = []
    n = metrics["n_accounts"]
    for sid in seg_ids:
        share = metrics.get(f"size_{sid}", 0.0) / n
        if share < config.min_segment_share:
            reasons.append(f"segment {sid} holds {share:.2%} of accounts (< {config.min_segment_share:.2%})")
    sil = metrics["silhouette"]
    if not np.isfinite(sil) or sil < config.silhouette_floor:
        reasons.append(f"silhouette {sil:.3f} below the floor {config.silhouette_floor:.3f}")
    if has_champion and "stability_ari" in metrics and metrics["stability_ari"] < config.stability_floor:
        reasons.append(
            f"stability ARI vs champion {metrics['stability_ari']:.3f} below the floor {config.stability_floor:.3f}"
        )
    return GateResult(passed=not reasons, reasons=reasons)
