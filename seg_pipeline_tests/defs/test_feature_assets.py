"""Raw -> staging -> intermediate -> features for one tiny week through Dagster, with the typed resources."""

import dagster as dg
import duckdb

from seg_pipeline.defs.features.assets import features_assets
from seg_pipeline.defs.intermediate.assets import intermediate_assets
from seg_pipeline.defs.raw.assets import raw_crm_accounts, raw_product_events, raw_support_tickets
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.defs.staging.assets import staging_assets
from seg_pipeline.settings import Settings
from seg_pipeline.sources.simulator import SimulationConfig, simulate
from seg_pipeline_tests.helpers.partitions import weekly_instance

WEEK = "2026-01-05"


def test_sql_model_assets_materialize_a_week_and_check_the_features(tmp_path):
    settings = Settings().with_home(tmp_path / "home")
    settings.ensure_home()
    simulate(SimulationConfig(accounts=40, weeks=1, seed=3), settings.landing_dir, settings.truth_dir)
    assets = [raw_product_events, raw_crm_accounts, raw_support_tickets,
              *staging_assets, *intermediate_assets, *features_assets]
    with weekly_instance(WEEK) as instance:
        result = dg.materialize(assets, partition_key=WEEK, instance=instance, resources=build_resources(settings))
    assert result.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows, accounts = con.execute("SELECT count(*), count(DISTINCT account_id) FROM features.account_features "
                                     "WHERE week_start = ?", [WEEK]).fetchall()[0]
        (active,) = con.execute("SELECT count(*) FROM staging.stg_crm_accounts WHERE week_start = ? AND is_active",
                                [WEEK]).fetchall()[0]
        (documented,) = con.execute("SELECT count(*) FROM features.feature_registry").fetchall()[0]
    assert rows == accounts == active > 0  # one row per active account
    assert documented >= 20
    meta = {k: v.value for k, v in result.asset_materializations_for_node("features__account_features")[0]
            .metadata.items()}
    assert meta["dagster/row_count"] == rows
    assert meta["week_start"] == WEEK
    for node in ("staging__stg_crm_accounts", "staging__stg_product_events", "intermediate__int_account_weekly_usage"):
        (mat,) = result.asset_materializations_for_node(node)
        assert mat.metadata["dagster/row_count"].value > 0
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert {name for key, name in checks if key == "features/account_features"} == {
        "keys_unique_not_null", "feature_ranges", "feature_null_rates"}
    assert all(checks.values()), checks
