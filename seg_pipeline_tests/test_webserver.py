"""The Dagster UI's view of the project: a real `dagster-webserver` over the demo home, queried through GraphQL.

This is what an engineer sees after `seg demo` + `seg ui`: every asset in its stage group with its lineage and
description, the schedule and the drift sensor, and the metadata and check results of the weeks that ran. Queries
follow the schema of the installed dagster-graphql 1.13.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from seg_pipeline_tests.helpers.webserver import dagster_webserver

pytestmark = [pytest.mark.e2e, pytest.mark.webserver]

REPO = Path(__file__).resolve().parents[1]
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
START_TIMEOUT_S = 90.0

STAGE_ASSETS: dict[str, list[str]] = {
    "raw": ["product_events", "crm_accounts", "support_tickets"],
    "staging": ["stg_product_events", "stg_crm_accounts", "stg_support_tickets"],
    "intermediate": ["int_account_weekly_usage", "int_account_weekly_support"],
    "features": ["account_features"],
    "model": ["segmentation_model"],
    "assignments": ["account_segments"],
    "monitoring": ["segment_migrations", "drift_report"],
    "sinks": ["crm_writeback", "am_alerts"],
    "reports": ["segment_dashboard"],
}
EXPECTED_GROUPS = {f"{stage}/{name}": stage for stage, names in STAGE_ASSETS.items() for name in names}
LINEAGE = [
    ("raw/product_events", "staging/stg_product_events"),
    ("raw/crm_accounts", "staging/stg_crm_accounts"),
    ("raw/support_tickets", "staging/stg_support_tickets"),
    ("features/account_features", "model/segmentation_model"),
    ("model/segmentation_model", "assignments/account_segments"),
    ("assignments/account_segments", "monitoring/segment_migrations"),
    ("monitoring/segment_migrations", "sinks/crm_writeback"),
    ("monitoring/segment_migrations", "sinks/am_alerts"),
]

REPOSITORY_QUERY = """
query Repository {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name cronSchedule executionTimezone pipelineName }
        sensors { name sensorType minIntervalSeconds description targets { pipelineName } }
        assetNodes {
          assetKey { path }
          groupName
          description
          isPartitioned
          dependencyKeys { path }
          dependedByKeys { path }
          assetChecksOrError {
            __typename
            ... on AssetChecks { checks { name blocking } }
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

METADATA_FIELDS = """
  label
  __typename
  ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatRepr }
  ... on TextMetadataEntry { text }
  ... on BoolMetadataEntry { boolValue }
"""

LATEST_MATERIALIZATION_QUERY = f"""
query Latest($assetKey: AssetKeyInput!) {{
  assetOrError(assetKey: $assetKey) {{
    __typename
    ... on Asset {{
      assetMaterializations(limit: 1) {{
        runId
        partition
        metadataEntries {{ {METADATA_FIELDS} }}
      }}
    }}
  }}
}}
"""

CHECK_EXECUTIONS_QUERY = """
query Checks($assetKey: AssetKeyInput!, $checkName: String!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 20) {
    runId
    partition
    status
    evaluation { success checkName }
  }
}
"""



def _key(path: list[str]) -> str:
    return "/".join(path)


@pytest.fixture(scope="module")
def webserver(demo_home: dict) -> Iterator[str]:
    """Serve workspace.yaml over the demo home with a real `dagster-webserver`; yield its URL, stop after the module."""
    if not WEBSERVER.exists():
        pytest.fail(f"{WEBSERVER} missing: pip install dagster-webserver")
    try:
        with dagster_webserver(demo_home["home"], timeout_s=START_TIMEOUT_S) as base:
            yield base
    except RuntimeError as exc:
        pytest.fail(str(exc))


def gql(base: str, query: str, **variables: Any) -> dict[str, Any]:
    """POST a GraphQL query; fail on transport or GraphQL errors so a schema mismatch is reported clearly."""
    resp = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=30)
    assert resp.status_code == 200, resp.text[:2000]
    body = resp.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def repository(webserver: str) -> dict[str, Any]:
    data = gql(webserver, REPOSITORY_QUERY)["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    nodes = data["nodes"]
    assert len(nodes) == 1, [n["name"] for n in nodes]
    assert nodes[0]["location"]["name"] == "seg_pipeline"
    return nodes[0]


@pytest.fixture(scope="module")
def assets(repository: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {_key(n["assetKey"]["path"]): n for n in repository["assetNodes"]}


def test_server_info_answers(webserver: str) -> None:
    info = httpx.get(f"{webserver}/server_info", timeout=5).json()
    assert info["dagster_version"].startswith("1.13")


def test_every_asset_is_in_its_stage_group(assets: dict[str, dict[str, Any]]) -> None:
    assert set(EXPECTED_GROUPS) <= set(assets), sorted(set(EXPECTED_GROUPS) - set(assets))
    assert {k: assets[k]["groupName"] for k in EXPECTED_GROUPS} == EXPECTED_GROUPS
    # key prefix = group for every asset, including any added later
    mismatched = {k: n["groupName"] for k, n in assets.items() if k.split("/")[0] != n["groupName"]}
    assert not mismatched
    assert all(assets[k]["isPartitioned"] for k in EXPECTED_GROUPS)


def test_descriptions_are_shown(assets: dict[str, dict[str, Any]]) -> None:
    missing = [k for k, n in assets.items() if not (n["description"] or "").strip()]
    assert not missing


@pytest.mark.parametrize(("upstream", "downstream"), LINEAGE)
def test_lineage_edges(assets: dict[str, dict[str, Any]], upstream: str, downstream: str) -> None:
    assert upstream in {_key(k["path"]) for k in assets[downstream]["dependencyKeys"]}
    assert downstream in {_key(k["path"]) for k in assets[upstream]["dependedByKeys"]}


def test_graph_has_no_dangling_edges(assets: dict[str, dict[str, Any]]) -> None:
    """Every edge points at a defined asset, and only raw assets are roots (nothing floats off the graph)."""
    for key, node in assets.items():
        deps = {_key(k["path"]) for k in node["dependencyKeys"]}
        assert deps <= set(assets), (key, deps - set(assets))
        if not key.startswith("raw/"):
            assert deps, f"{key} has no upstream"


def test_weekly_schedule_and_drift_sensor(repository: dict[str, Any]) -> None:
    assert "weekly_segmentation" in {j["name"] for j in repository["jobs"]}
    schedules = {s["name"]: s for s in repository["schedules"]}
    sched = schedules["weekly_segmentation_schedule"]
    assert sched["cronSchedule"] == "0 6 * * 1"
    assert sched["pipelineName"] == "weekly_segmentation"
    assert sched["executionTimezone"] in (None, "UTC")
    sensors = {s["name"]: s for s in repository["sensors"]}
    sensor = sensors["drift_retrain_sensor"]
    assert sensor["sensorType"] == "ASSET"
    assert [t["pipelineName"] for t in sensor["targets"]] == ["early_retrain"]
    assert (sensor["description"] or "").strip()


def test_blocking_checks_are_declared(assets: dict[str, dict[str, Any]]) -> None:
    def checks(key: str) -> dict[str, bool]:
        res = assets[key]["assetChecksOrError"]
        assert res["__typename"] == "AssetChecks", res
        return {c["name"]: c["blocking"] for c in res["checks"]}

    assert checks("model/segmentation_model").get("quality_gate") is True
    assert checks("monitoring/segment_migrations").get("mass_migration_gate") is True
    assert checks("features/account_features").get("keys_unique_not_null") is True


def _latest_metadata(base: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    res = gql(base, LATEST_MATERIALIZATION_QUERY, assetKey={"path": key.split("/")})["assetOrError"]
    assert res["__typename"] == "Asset", res
    mats = res["assetMaterializations"]
    assert mats, f"{key} was never materialized"
    entries = {e["label"]: e for e in mats[0]["metadataEntries"]}
    return mats[0], entries


def test_feature_materialization_metadata(webserver: str, demo_home: dict) -> None:
    mat, meta = _latest_metadata(webserver, "features/account_features")
    assert mat["partition"] == demo_home["weeks"][-1]
    assert meta["dagster/row_count"]["__typename"] == "IntMetadataEntry"
    assert int(meta["dagster/row_count"]["intRepr"]) > 0
    assert meta["dagster/column_schema"]["__typename"] == "TableSchemaMetadataEntry"


def test_model_materialization_metadata(webserver: str, demo_home: dict) -> None:
    mat, meta = _latest_metadata(webserver, "model/segmentation_model")
    assert mat["partition"] == demo_home["weeks"][-1]
    k = int(meta["k"]["intRepr"])
    assert demo_home["settings"].k_min <= k <= demo_home["settings"].k_max
    assert -1.0 <= float(meta["silhouette"]["floatRepr"]) <= 1.0
    assert int(meta["accounts"]["intRepr"]) > 0
    assert meta["model_version"]["text"]
    # the tracking URI is a local path, never credentials
    assert meta["mlflow_tracking_uri"]["text"].startswith("sqlite:///")


CHECKS = [
    ("features/account_features", "keys_unique_not_null"),
    ("model/segmentation_model", "quality_gate"),
    ("monitoring/segment_migrations", "mass_migration_gate"),
]


def _check_executions(base: str, key: str, check: str) -> list[dict[str, Any]]:
    rows = gql(base, CHECK_EXECUTIONS_QUERY, assetKey={"path": key.split("/")}, checkName=check)
    return rows["assetCheckExecutions"]


@pytest.mark.parametrize(("key", "check"), CHECKS)
def test_asset_checks_were_evaluated_in_every_run(webserver: str, demo_home: dict, key: str, check: str) -> None:
    rows = _check_executions(webserver, key, check)
    evaluated = [r for r in rows if r["evaluation"] is not None]
    # every weekly run of the demo evaluated the check (later tests may add reruns), pass/fail matches status
    assert {r.run_id for r in demo_home["runs"]} <= {r["runId"] for r in evaluated}
    for r in evaluated:
        assert r["status"] in ("SUCCEEDED", "FAILED"), r
        assert r["evaluation"]["checkName"] == check
        assert r["evaluation"]["success"] == (r["status"] == "SUCCEEDED")


@pytest.mark.parametrize(("key", "check"), CHECKS)
def test_check_executions_are_recorded_against_their_week(
    webserver: str, demo_home: dict, key: str, check: str
) -> None:
    rows = _check_executions(webserver, key, check)
    by_run = {r["runId"]: r for r in rows}
    assert all(r["partition"] is not None for r in rows), "a check execution was recorded without its week"
    for run in demo_home["runs"]:
        assert by_run[run.run_id]["partition"] == run.week
        assert by_run[run.run_id]["status"] in ("SUCCEEDED", "FAILED")
