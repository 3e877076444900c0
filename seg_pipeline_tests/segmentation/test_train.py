from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.defs.resources import PolicyResource, build_resources
from seg_pipeline.segmentation.model import ASSIGN_COLUMNS, SegmentationModel
from seg_pipeline.segmentation.tracking import dump_model, load_model_file
from seg_pipeline.segmentation.train import TrainConfig, TrainingBlockedError, TrainResult, train_week
from seg_pipeline.settings import Settings
from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

WEEK = date(2026, 1, 5)
N = 6_000


@pytest.fixture(scope="module")
def week() -> tuple[pd.DataFrame, pd.Series]:
    return make_accounts(N, seed=1)


@pytest.fixture(scope="module")
def first(week: tuple[pd.DataFrame, pd.Series]) -> TrainResult:
    return train_week(week[0], TrainConfig(seed=1), champion=None, champion_assignments=None, week_start=WEEK)


def test_recovers_planted_personas(first: TrainResult, week: tuple[pd.DataFrame, pd.Series]) -> None:
    persona = week[1].to_numpy()
    a = first.assignments
    assert list(a.columns) == [ASSIGN_COLUMNS[0], "week_start", *ASSIGN_COLUMNS[1:]]
    assert adjusted_rand_score(persona, a["segment_id"]) >= 0.9
    assert first.k_selection.k == 8
    assert "knee" in first.k_selection.reason
    names = set(first.model.segment_names.values())
    assert {"API Integrators", "Dormant", "New & Onboarding", "Power Users"} <= names
    api_seg = a.loc[persona == "api_integrators", "segment_id"].mode()[0]
    assert first.model.segment_names[api_seg] == "API Integrators"
    assert first.gate.passed
    assert first.gate.reasons == []
    planted_outliers = a.loc[persona == "outlier", "is_outlier"]
    assert planted_outliers.mean() >= 0.8  # measured before the quantile cap, so extremes stay far
    assert a["is_outlier"].mean() < 0.01
    m = first.metrics
    for key in ("silhouette", "calinski_harabasz", "davies_bouldin", "inertia", "noise_share", "n_segments"):
        assert np.isfinite(m[key])
    assert "stability_ari" not in m  # no champion: nothing to be stable against
    assert sum(v for k, v in m.items() if k.startswith("size_")) == N
    assert list(first.profiles.index) == sorted(first.model.segment_ids)
    assert first.profiles.loc[api_seg, "api_share"] > 0.8  # raw units


def test_assign_matches_fit_and_flags_far_points(first: TrainResult, week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0]
    again = first.model.assign(features)
    pd.testing.assert_frame_equal(again, first.assignments.drop(columns="week_start"))
    far = features.iloc[:3].copy()
    far["account_id"] = ["far_1", "far_2", "far_3"]
    far[["api_share", "key_feature_adoption"]] = 1.0
    far[["active_days", "feature_breadth"]] = 0
    far[["tickets_opened", "p1_tickets", "open_backlog"]] = 500
    far["csat_avg"] = 1.0
    out = first.model.assign(far)
    assert out["is_outlier"].all()
    assert out["micro_community"].isna().all()


def test_retrain_with_another_seed_changes_no_segment(
    first: TrainResult, week: tuple[pd.DataFrame, pd.Series]
) -> None:
    again = train_week(
        week[0],
        TrainConfig(seed=99),
        champion=first.model,
        champion_assignments=first.assignments,
        week_start=WEEK,
    )
    assert again.metrics["changed_share"] == 0.0
    assert again.metrics["stability_ari"] == 1.0
    assert again.model.segment_names == first.model.segment_names
    assert again.alignment.new_ids == []
    assert again.alignment.retired_ids == []
    assert again.gate.passed


def test_same_seed_gives_identical_assignments(first: TrainResult, week: tuple[pd.DataFrame, pd.Series]) -> None:
    again = train_week(week[0], TrainConfig(seed=1), champion=None, champion_assignments=None, week_start=WEEK)
    pd.testing.assert_frame_equal(again.assignments, first.assignments)
    assert again.metrics == first.metrics


def test_next_week_keeps_ids_and_only_movers_change(
    first: TrainResult, week: tuple[pd.DataFrame, pd.Series]
) -> None:
    features, persona = week
    movers = persona[persona == "power_users"].index[:150]
    nxt = features.set_index("account_id")
    dormant = nxt[persona.to_numpy() == "dormant"].iloc[: len(movers)]
    nxt.loc[movers] = dormant.to_numpy()  # these accounts became dormant
    res = train_week(
        nxt.reset_index(),
        TrainConfig(seed=5),
        champion=first.model,
        champion_assignments=first.assignments,
        week_start=date(2026, 1, 12),
    )
    prev = first.assignments.set_index("account_id")["segment_id"]
    cur = res.assignments.set_index("account_id")["segment_id"]
    changed = cur.index[cur != prev.loc[cur.index]]
    assert set(movers) <= set(changed)
    assert len(changed) <= len(movers) + 0.01 * N
    dormant_id = next(i for i, n in first.model.segment_names.items() if n == "Dormant")
    assert (cur.loc[movers] == dormant_id).mean() > 0.95
    assert res.model.segment_names[dormant_id] == "Dormant"


def test_gate_fails_with_reasons(first: TrainResult, week: tuple[pd.DataFrame, pd.Series]) -> None:
    strict = TrainConfig(seed=1, fixed_k=8, silhouette_floor=0.99, min_segment_share=0.2, stability_floor=0.99)
    shuffled = first.assignments.copy()
    shuffled["segment_id"] = np.random.default_rng(0).permutation(shuffled["segment_id"].to_numpy())
    res = train_week(week[0], strict, champion=first.model, champion_assignments=shuffled, week_start=WEEK)
    assert not res.gate.passed
    text = " | ".join(res.gate.reasons)
    assert "silhouette" in text
    assert "holds" in text
    assert "stability ARI" in text
    assert res.metrics["stability_ari"] < 0.1
    assert "fixed by configuration" in res.k_selection.reason
    assert list(res.k_selection.scores["k"]) == [8]


def test_rejects_bad_inputs(week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0].iloc[:500].copy()
    cfg = TrainConfig()
    kw = {"champion": None, "champion_assignments": None, "week_start": WEEK}
    with pytest.raises(ValueError, match="duplicate account_id"):
        train_week(pd.concat([features, features.iloc[:1]]), cfg, **kw)
    with pytest.raises(ValueError, match="missing columns"):
        train_week(features.drop(columns="mrr"), cfg, **kw)
    with pytest.raises(TrainingBlockedError, match="only 49 accounts this week; training needs at least 50"):
        train_week(features.iloc[:49], cfg, **kw)


def test_constant_and_empty_columns_are_left_out_not_refused(week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0].iloc[:1_500].assign(seats=3, exports=np.nan, api_share=0.0, wau_trend=0.0)
    res = train_week(features, TrainConfig(seed=1), champion=None, champion_assignments=None, week_start=WEEK)
    assert res.dropped_features == {"api_share": "constant (0.0)", "exports": "all null", "seats": "constant (3.0)"}
    assert not {"seats", "exports", "api_share"} & set(res.model.features)
    assert "wau_trend" in res.model.features  # expected constant in early weeks: kept, not reported
    assert set(res.config.features) == set(res.model.features)
    assert len(res.assignments) == 1_500
    # the model reads only its own columns: assigning the frame without the dropped ones works
    assigned = res.model.assign(features.drop(columns=["seats", "exports", "api_share"]))
    pd.testing.assert_frame_equal(assigned, res.assignments.drop(columns="week_start"))


def test_too_few_informative_features_block_the_week(week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0].iloc[:500].assign(seats=3, mrr=np.nan)
    cfg = TrainConfig(features=("seats", "mrr", "active_days"))
    with pytest.raises(TrainingBlockedError, match=r"only 1 clustering feature\(s\) carry information this week "
                       r"\(active_days; dropped seats: constant \(3\.0\), mrr: all null\)"):
        train_week(features, cfg, champion=None, champion_assignments=None, week_start=WEEK)


def test_training_is_deterministic_with_the_new_rules(week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0].iloc[:1_000].assign(invites=0)
    kw = {"champion": None, "champion_assignments": None, "week_start": WEEK}
    a = train_week(features, TrainConfig(seed=4), **kw)
    b = train_week(features, TrainConfig(seed=4), **kw)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    assert a.k_selection.scores.equals(b.k_selection.scores)
    assert a.dropped_features == b.dropped_features == {"invites": "constant (0.0)"}


def test_model_round_trips_through_skops(first: TrainResult, week: tuple[pd.DataFrame, pd.Series], tmp_path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(first.model, path)
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert isinstance(loaded, SegmentationModel)
    pd.testing.assert_frame_equal(loaded.assign(week[0]), first.assignments.drop(columns="week_start"))


def test_config_from_the_policy_resource() -> None:
    settings = replace(Settings(), k_min=4, k_max=6, fixed_k=5, seed=3, scaler="minmax",
                       gate_silhouette_floor=0.2)
    policy = build_resources(settings)["policy"]
    assert isinstance(policy, PolicyResource)
    cfg = policy.training()
    assert (cfg.k_range, cfg.fixed_k, cfg.seed, cfg.scaler) == ((4, 6), 5, 3, "minmax")
    assert cfg.silhouette_floor == 0.2
    assert "seats" in cfg.heavy()
    assert "api_share" not in cfg.heavy()


def test_micro_community_ids_are_stable_across_retrains() -> None:
    features, persona = make_accounts(4_000, seed=3)
    # too few segments: API integrators surface as a micro-community of the scaled space. In the whitened space
    # (shared_covariance) DBSCAN does not find them at this forced k and they are flagged outliers instead: a
    # known limit, see benchmarks/README.md; this test is about the ids of the communities that are found.
    cfg = TrainConfig(seed=1, fixed_k=5, shared_covariance=False)
    one = train_week(features, cfg, champion=None, champion_assignments=None, week_start=WEEK)
    api = one.assignments.loc[persona.to_numpy() == "api_integrators", "micro_community"]
    assert api.notna().mean() > 0.9
    assert api.nunique() == 1
    two = train_week(
        features, replace(cfg, seed=8), champion=one.model, champion_assignments=one.assignments, week_start=WEEK
    )
    pd.testing.assert_series_equal(two.assignments["micro_community"], one.assignments["micro_community"])
    assert two.model.max_micro_id == one.model.max_micro_id


def _with_firmographics(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(features)
    return features.assign(
        plan=rng.choice(["starter", "growth", "business", "enterprise"], n),
        employee_band=rng.choice(["1-10", "11-50", "51-200", "201-1000"], n),
        industry=rng.choice(["saas", "retail", "finance", "health", "media", "edu", "gov"], n),
    )


def test_firmographics_join_clustering_by_configuration_not_naming(
    week: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    features = _with_firmographics(week[0].iloc[:2_000], seed=5)
    persona = week[1].iloc[:2_000].to_numpy()
    kw = {"champion": None, "champion_assignments": None, "week_start": WEEK}
    res = train_week(features, TrainConfig(seed=1, ordinal=("plan",), categorical=("industry",)), **kw)
    assert res.model.categorical == ["plan", "industry"]
    assert res.model.transform(features).shape[1] == len(res.model.features) + 1 + 6
    assert list(res.profiles_z.columns) == list(res.model.features)  # persona rules see behaviour only
    # firmographics unrelated to behaviour do not take the segmentation over: the planted personas still come out
    assert adjusted_rand_score(persona, res.assignments["segment_id"]) > 0.95
    odd = features.iloc[:3].assign(plan="legacy", industry="unheard_of")
    assert len(res.model.assign(odd)) == 3  # unknown values: median rank / the shared "infrequent" column
    sha = dump_model(res.model, tmp_path / "m.skops")  # the encoders pass the stored model's type allow-list
    loaded = load_model_file(tmp_path / "m.skops", expected_sha256=sha)
    pd.testing.assert_frame_equal(loaded.assign(features), res.assignments.drop(columns="week_start"))
    bands = train_week(features, TrainConfig(seed=1, ordinal=("plan", "employee_band")), **kw)
    assert bands.model.categorical == ["plan", "employee_band"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_weeks_never_get_a_segment_below_the_gate_share(seed: int) -> None:
    features, _ = make_accounts(215, seed=seed)
    cfg = TrainConfig(seed=seed)
    res = train_week(features, cfg, champion=None, champion_assignments=None, week_start=WEEK)
    sizes = res.assignments["segment_id"].value_counts()
    assert sizes.min() / 215 >= cfg.min_segment_share
    assert not [r for r in res.gate.reasons if "holds" in r]
    assert res.k_selection.scores["k"].max() <= 10  # floor(sqrt(215 / 2))


def test_a_week_where_no_k_keeps_the_share_is_blocked_with_the_sizes() -> None:
    features, _ = make_accounts(300, seed=1)
    cfg = TrainConfig(seed=1, features=("seats", "mrr"), min_segment_share=0.3, k_range=(3, 3))
    with pytest.raises(TrainingBlockedError, match=r"no k in 3-3 keeps every segment at the gate's minimum share "
                       r"of 30\.00% \(smallest segment by k: k=3: \d+\.\d+% \(\d+ of 300\)\)"):
        train_week(features, cfg, champion=None, champion_assignments=None, week_start=WEEK)


def test_an_expected_constant_column_does_not_count_as_information(week: tuple[pd.DataFrame, pd.Series]) -> None:
    features = week[0].iloc[:500].assign(wau_trend=0.0, mrr=np.nan)
    cfg = TrainConfig(features=("wau_trend", "seats", "mrr"))
    blocked = r"only 1 clustering feature\(s\) carry information this week \(seats;"
    with pytest.raises(TrainingBlockedError, match=blocked):
        train_week(features, cfg, champion=None, champion_assignments=None, week_start=WEEK)


def test_a_provisional_champion_does_not_hold_back_a_model_by_stability(
    first: TrainResult, week: tuple[pd.DataFrame, pd.Series]
) -> None:
    config = TrainConfig(seed=1, fixed_k=8, stability_floor=0.99)
    shuffled = first.assignments.copy()
    shuffled["segment_id"] = np.random.default_rng(0).permutation(shuffled["segment_id"].to_numpy())
    kwargs = {"champion": first.model, "champion_assignments": shuffled, "week_start": WEEK}
    held = train_week(week[0], config, **kwargs)
    assert any("stability ARI" in r for r in held.gate.reasons)
    warm_up = train_week(week[0], config, provisional_champion=True, **kwargs)
    assert warm_up.metrics["stability_ari"] == held.metrics["stability_ari"]  # still measured and logged
    assert not any("stability ARI" in r for r in warm_up.gate.reasons)
