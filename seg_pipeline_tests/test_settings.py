"""Settings: every SEG_* variable is documented, parsed strictly, and paths are absolute."""

import re
from pathlib import Path

import pytest

from seg_pipeline.settings import PROJECT_ROOT, Settings

SETTINGS_SRC = (PROJECT_ROOT / "seg_pipeline" / "settings.py").read_text()
README = (PROJECT_ROOT / "README.md").read_text()


def test_every_variable_the_settings_read_is_documented_in_the_readme():
    names = set(re.findall(r'"(SEG_[A-Z_]+)"', SETTINGS_SRC))
    assert len(names) > 20
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert not missing, f"document these in README's configuration table: {missing}"


def test_home_is_absolute_and_derived_paths_live_under_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"SEG_HOME": "relative/home"})
    assert s.home.is_absolute()
    assert s.home == (tmp_path / "relative" / "home").resolve()
    for p in (s.warehouse_path, s.landing_dir, s.mlflow_dir, s.reports_dir, s.outbox_dir, s.snapshot_path):
        assert Path(p).is_relative_to(s.home)
    assert s.tracking_uri == f"sqlite:///{s.home}/mlflow/mlflow.db"


def test_bad_numbers_name_the_variable():
    with pytest.raises(ValueError, match="SEG_MASS_MIGRATION_THRESHOLD"):
        Settings.from_env({"SEG_MASS_MIGRATION_THRESHOLD": "lots"})


def test_secrets_are_read_when_needed_and_never_stored():
    s = Settings.from_env({})
    assert s.secret("crm_token", {"SEG_CRM_TOKEN": "t0k"}) == "t0k"
    assert "t0k" not in repr(s)


def test_ensure_home_writes_a_dagster_yaml_only_when_missing(tmp_path):
    s = Settings().with_home(tmp_path / "h")
    s.ensure_home()
    cfg = tmp_path / "h" / "dagster.yaml"
    cfg.write_text("# customised\n")
    s.ensure_home()
    assert cfg.read_text() == "# customised\n"


def test_feature_rules_and_orphan_threshold_come_from_the_environment():
    from seg_pipeline.raw.config import IngestConfig
    from seg_pipeline.sources.contracts import KEY_FEATURES

    assert Settings.from_env({}).key_features == KEY_FEATURES
    s = Settings.from_env({"SEG_KEY_FEATURES": " Report Builder, API Access ,report builder,",
                           "SEG_KEY_FEATURES_TOP_N": "6", "SEG_ORPHAN_MAX_SHARE": "0.05"})
    assert s.key_features == ("report builder", "api access")
    assert (s.key_features_top_n, s.orphan_max_share) == (6, 0.05)
    assert Settings.from_env({"SEG_KEY_FEATURES": "auto"}).key_features == ()
    with pytest.raises(ValueError, match="SEG_ORPHAN_MAX_SHARE"):
        IngestConfig(Path("."), orphan_max_share=1.5)
    with pytest.raises(ValueError, match="SEG_KEY_FEATURES_TOP_N"):
        IngestConfig(Path("."), key_features_top_n=0)
