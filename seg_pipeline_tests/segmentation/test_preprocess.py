import numpy as np
import pandas as pd
import pytest

from seg_pipeline.segmentation.preprocess import build_preprocessor


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 1_000
    return pd.DataFrame(
        {
            "count": rng.poisson(3, n).astype(float),
            "ratio": rng.uniform(0, 1, n),
            "plan": rng.choice(["starter", "growth", "enterprise"], n),
        }
    )


def test_log1p_only_on_heavy_tailed_and_names_preserved(frame: pd.DataFrame) -> None:
    pre = build_preprocessor(["count", "ratio"], heavy_tailed=["count"], scaler="none", clip_quantiles=None)
    out = pre.fit_transform(frame)
    np.testing.assert_allclose(out[:, 0], np.log1p(frame["count"]))
    np.testing.assert_allclose(out[:, 1], frame["ratio"])
    assert list(pre.get_feature_names_out()) == ["count", "ratio"]


def test_caps_at_fitted_quantiles_including_new_extremes(frame: pd.DataFrame) -> None:
    pre = build_preprocessor(["ratio"], scaler="none", clip_quantiles=(0.05, 0.95)).fit(frame)
    lo, hi = frame["ratio"].quantile([0.05, 0.95])
    out = pre.transform(pd.DataFrame({"ratio": [-100.0, 0.5, 100.0]}))[:, 0]
    np.testing.assert_allclose(out, [lo, 0.5, hi])


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax"])
def test_scalers_normalise(frame: pd.DataFrame, scaler: str) -> None:
    out = build_preprocessor(["count", "ratio"], scaler=scaler).fit_transform(frame)
    if scaler == "standard":
        np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-9)
    elif scaler == "robust":
        np.testing.assert_allclose(np.median(out, axis=0), 0, atol=1e-9)
    else:
        np.testing.assert_allclose(out.min(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(out.max(axis=0), 1, atol=1e-9)


def test_one_hot_categoricals_and_unknown_category(frame: pd.DataFrame) -> None:
    pre = build_preprocessor(["ratio"], categorical=["plan"]).fit(frame)
    names = list(pre.get_feature_names_out())
    assert names[0] == "ratio"
    assert {"plan_starter", "plan_growth", "plan_enterprise"} <= set(names)
    out = pre.transform(pd.DataFrame({"ratio": [0.5], "plan": ["unheard_of"]}))
    assert out.shape == (1, len(names))
    assert out[0, 1:].sum() == 0  # unknown plan: no one-hot column set, no error


def test_missing_values_are_imputed_with_the_median(frame: pd.DataFrame) -> None:
    pre = build_preprocessor(["ratio"], scaler="none", clip_quantiles=None).fit(frame)
    out = pre.transform(pd.DataFrame({"ratio": [np.nan]}))
    assert out[0, 0] == pytest.approx(frame["ratio"].median())


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown scaler"):
        build_preprocessor(["a"], scaler="zscore")
    with pytest.raises(ValueError, match="heavy_tailed"):
        build_preprocessor(["a"], heavy_tailed=["b"])
    with pytest.raises(ValueError, match="quantiles"):
        build_preprocessor(["a"], clip_quantiles=(0.9, 0.1)).fit(pd.DataFrame({"a": [1.0, 2.0]}))


def test_ordinal_firmographics_are_ranked_and_scaled_unknown_values_imputed() -> None:
    levels = ("starter", "growth", "business", "enterprise")
    data = pd.DataFrame({"x": np.arange(8.0), "plan": [*levels, *levels]})
    pre = build_preprocessor(["x"], ordinal={"plan": levels}, scaler="standard").fit(data)
    out = pre.transform(pd.DataFrame({"x": [0.0] * 5, "plan": [*levels, "legacy"]}))
    ranks = out[:, 1]
    assert list(pre.get_feature_names_out()) == ["x", "plan"]
    assert np.all(np.diff(ranks[:4]) > 0)  # starter < growth < business < enterprise
    assert ranks[:4].mean() == pytest.approx(0.0)  # scaled like the numeric block
    assert ranks[4] == pytest.approx(np.median(ranks[:4]))  # unknown plan -> median rank


def test_onehot_firmographics_keep_the_top_values_and_weigh_like_one_feature() -> None:
    rng = np.random.default_rng(0)
    industries = [f"ind{i}" for i in range(9)]
    data = pd.DataFrame({"x": rng.normal(size=900), "industry": rng.choice(industries, 900, p=[0.3, 0.2, 0.15,
                         0.1, 0.1, 0.06, 0.05, 0.03, 0.01])})
    pre = build_preprocessor(["x"], categorical=["industry"], scaler="standard").fit(data)
    names = list(pre.get_feature_names_out())
    assert len(names) == 1 + 5 + 1  # x, the five most frequent industries, one shared "infrequent" column
    assert "industry_infrequent_sklearn" in names
    two = pre.transform(pd.DataFrame({"x": [0.0, 0.0], "industry": ["ind0", "ind1"]}))
    assert np.linalg.norm(two[0] - two[1]) == pytest.approx(1.0)  # a different industry = 1 standard deviation
