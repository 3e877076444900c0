"""What an engineer finds in the Dagster UI's column view: descriptions and column lineage, asked over GraphQL.

A real `dagster-webserver` serves a SEG_HOME in which one tiny week went raw -> features through the home's own
instance; the feature table must show every registry description and each column's upstream columns, both on
the asset's definition (before any run) and on the week's materialization (the types DuckDB wrote).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
import pytest

from seg_pipeline.defs.features.assets import features_assets
from seg_pipeline.defs.intermediate.assets import intermediate_assets
from seg_pipeline.defs.raw.assets import (
    raw_crm_accounts,
    raw_feature_rules,
    raw_product_events,
    raw_product_usage,
    raw_support_tickets,
)
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.defs.staging.assets import staging_assets
from seg_pipeline.defs.weekly import register_weeks
from seg_pipeline.features.registry import FEATURES
from seg_pipeline.run_guard import open_instance
from seg_pipeline.settings import Settings
from seg_pipeline.sources.column_docs import CONTRACT_COLUMN_DOCS
from seg_pipeline.sources.simulator import SimulationConfig, simulate
from seg_pipeline_tests.helpers.webserver import dagster_webserver

pytestmark = [pytest.mark.e2e, pytest.mark.webserver]

WEEK = "2026-01-05"
FEATURE_KEY = ["features", "account_features"]

ENTRIES = """
  label
  __typename
  ... on TableSchemaMetadataEntry { schema { columns { name type description constraints { nullable other } } } }
  ... on TableColumnLineageMetadataEntry { lineage { columnName columnDeps { assetKey { path } columnName } } }
"""
DEFINITION_QUERY = f"""
query Definition($assetKey: AssetKeyInput!) {{
  assetNodeOrError(assetKey: $assetKey) {{
    __typename
    ... on AssetNode {{ metadataEntries {{ {ENTRIES} }} }}
  }}
}}
"""
MATERIALIZATION_QUERY = f"""
query Latest($assetKey: AssetKeyInput!) {{
  assetOrError(assetKey: $assetKey) {{
    __typename
    ... on Asset {{ assetMaterializations(limit: 1) {{ partition metadataEntries {{ {ENTRIES} }} }} }}
  }}
}}
"""


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("seg_home")
    settings = Settings().with_home(home)
    settings.ensure_home()
    simulate(SimulationConfig(accounts=40, weeks=1, seed=3), settings.landing_dir, settings.truth_dir)
    assets = [raw_crm_accounts, raw_product_usage, raw_product_events, raw_support_tickets, raw_feature_rules,
              *staging_assets, *intermediate_assets, *features_assets]
    with open_instance(home) as instance:
        register_weeks(instance, [WEEK])
        result = dg.materialize(assets, partition_key=WEEK, instance=instance, resources=build_resources(settings))
        assert result.success
    try:
        with dagster_webserver(home, timeout_s=180) as base:
            yield base
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _gql(base: str, query: str, **variables: Any) -> dict[str, Any]:
    resp = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=60)
    assert resp.status_code == 200, resp.text[:2000]
    body = resp.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def _by_label(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["label"]: e for e in entries}


def _definition(base: str, key: list[str]) -> dict[str, dict[str, Any]]:
    node = _gql(base, DEFINITION_QUERY, assetKey={"path": key})["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    return _by_label(node["metadataEntries"])


def _materialization(base: str, key: list[str]) -> dict[str, dict[str, Any]]:
    asset = _gql(base, MATERIALIZATION_QUERY, assetKey={"path": key})["assetOrError"]
    assert asset["__typename"] == "Asset", asset
    (mat,) = asset["assetMaterializations"]
    assert mat["partition"] == WEEK
    return _by_label(mat["metadataEntries"])


def _assert_feature_columns(entries: dict[str, dict[str, Any]]) -> None:
    schema = entries["dagster/column_schema"]
    assert schema["__typename"] == "TableSchemaMetadataEntry"
    columns = {c["name"]: c for c in schema["schema"]["columns"]}
    for feature in FEATURES:
        assert columns[feature.name]["description"] == feature.description
    assert all((c["description"] or "").strip() for c in columns.values()), "a column without a description"
    assert columns["account_id"]["description"] == CONTRACT_COLUMN_DOCS["crm_accounts"]["account_id"]

    lineage = entries["dagster/column_lineage"]
    assert lineage["__typename"] == "TableColumnLineageMetadataEntry"
    deps = {e["columnName"]: {("/".join(d["assetKey"]["path"]), d["columnName"]) for d in e["columnDeps"]}
            for e in lineage["lineage"]}
    assert deps["tenure_weeks"] == {("staging/stg_crm_accounts", "signup_date")}
    assert ("intermediate/int_account_weekly_support", "csat_avg") in deps["csat_avg"]
    assert ("intermediate/int_account_weekly_usage", "weekly_active_users") in deps["seat_utilisation"]
    assert ("staging/stg_crm_accounts", "seats") in deps["seat_utilisation"]


def test_feature_table_definition_has_column_descriptions_and_lineage(webserver: str) -> None:
    _assert_feature_columns(_definition(webserver, FEATURE_KEY))


def test_feature_table_materialization_has_column_descriptions_and_lineage(webserver: str) -> None:
    entries = _materialization(webserver, FEATURE_KEY)
    _assert_feature_columns(entries)
    types = {c["name"]: c["type"] for c in entries["dagster/column_schema"]["schema"]["columns"]}
    assert types["mrr"] == "DOUBLE"  # what DuckDB wrote
    assert types["has_activity"] == "BOOLEAN"


def test_raw_columns_carry_the_contract(webserver: str) -> None:
    columns = {c["name"]: c for c in _materialization(webserver, ["raw", "crm_accounts"])["dagster/column_schema"]
               ["schema"]["columns"]}
    assert columns["plan"]["description"] == CONTRACT_COLUMN_DOCS["crm_accounts"]["plan"]
    assert "one of starter, growth, business, enterprise" in columns["plan"]["constraints"]["other"]
    assert columns["account_id"]["constraints"]["nullable"] is False


def test_staging_lineage_points_at_raw_columns(webserver: str) -> None:
    lineage = _definition(webserver, ["staging", "stg_crm_accounts"])["dagster/column_lineage"]["lineage"]
    deps = {e["columnName"]: e["columnDeps"] for e in lineage}
    assert [(d["assetKey"]["path"], d["columnName"]) for d in deps["seats"]] == [(["raw", "crm_accounts"], "seats")]
