"""SEG_FEATURES: the clustering feature set, validated against the registry."""

import pytest

from seg_pipeline.defs.resources import PolicyResource, build_resources
from seg_pipeline.features import registry
from seg_pipeline.segmentation.featureset import FeatureSet, default_numeric, known_names, parse_features
from seg_pipeline.settings import Settings


def test_empty_spec_is_the_registry_default() -> None:
    default = parse_features("")
    assert default == parse_features(None) == FeatureSet(numeric=default_numeric())
    assert "seats" in default.numeric
    assert "plan" not in default.names  # firmographics are off by default
    assert all(registry.get(f).clustering for f in default.numeric)


def test_plus_minus_changes_the_default_in_order() -> None:
    chosen = parse_features("+logins, -exports,+plan,+industry,-invites")
    assert chosen.numeric == (*(f for f in default_numeric() if f not in ("exports", "invites")), "logins")
    assert chosen.ordinal == ("plan",)
    assert chosen.onehot == ("industry",)


def test_plain_names_are_exactly_the_set() -> None:
    chosen = parse_features("active_days,seats,employee_band,region,seats")
    assert chosen == FeatureSet(numeric=("active_days", "seats"), ordinal=("employee_band",), onehot=("region",))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("+seatz", r"SEG_FEATURES names unknown feature\(s\) 'seatz'; use names from: weekly_active_users, "),
        ("seats,+mrr", r"mixes \+/- changes with plain names; write either"),
        ("seats", r"leaves 1 clustering feature\(s\) \(seats\); keep at least 2"),
        ("include=seats;exclude=mrr", r"unknown feature\(s\) 'include=seats', 'exclude=mrr'"),
    ],
)
def test_bad_specs_say_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_features(spec)


def test_known_names_cover_numeric_and_flag_features_and_firmographics() -> None:
    names = known_names()
    assert {"has_activity", "logins", "plan", "employee_band", "industry", "region"} <= set(names)
    assert "account_manager_id" not in names


def test_settings_check_the_spec_at_start_up_and_the_policy_applies_it() -> None:
    with pytest.raises(ValueError, match="unknown feature"):
        Settings.from_env({"SEG_FEATURES": "+nope"})
    settings = Settings.from_env({"SEG_FEATURES": "+plan,-exports"})
    assert settings.clustering_features == "+plan,-exports"
    policy = build_resources(settings)["policy"]
    assert isinstance(policy, PolicyResource)
    cfg = policy.training()
    assert cfg.ordinal == ("plan",)
    assert "exports" not in cfg.features
    assert cfg.categorical == ()
