"""Column lineage traced from the SQL models, and column descriptions for every table an asset writes."""

from pathlib import Path

from seg_pipeline.features.registry import FEATURE_TABLE, FEATURES
from seg_pipeline.sources.column_docs import CONTRACT_COLUMN_DOCS, LINEAGE_COLUMN_DOCS
from seg_pipeline.sources.contracts import CONTRACTS, LINEAGE_COLUMNS
from seg_pipeline.warehouse.column_docs import table_docs
from seg_pipeline.warehouse.column_lineage import lineage_of, project_lineage
from seg_pipeline.warehouse.sql_models import discover


def _models(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, sql in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    return tmp_path


def test_lineage_follows_ctes_stars_and_models(tmp_path: Path) -> None:
    sql_dir = _models(tmp_path, {
        "staging/stg_accounts.sql": "with s as (select * from raw.crm_accounts where week_start = $week_start)\n"
                                    "select account_id, seats * 2 as double_seats, lower(plan) as plan, "
                                    "cast($week_start as date) as week_start from s",
        "intermediate/int_x.sql": "select a.account_id, a.double_seats + t.csat as mixed, 1 as one\n"
                                  "from staging.stg_accounts as a join raw.support_tickets as t using (account_id)",
    })
    traced = lineage_of(discover(sql_dir))
    stg = traced[("staging", "stg_accounts")]
    assert stg.columns == ("account_id", "double_seats", "plan", "week_start")
    assert stg.deps["double_seats"] == (("raw", "crm_accounts", "seats"),)
    assert stg.deps["week_start"] == ()  # a parameter, not a column
    mixed = traced[("intermediate", "int_x")].deps["mixed"]
    # through the staging model's own output (its schema came from the walk), not back to raw
    assert mixed == (("raw", "support_tickets", "csat"), ("staging", "stg_accounts", "double_seats"))
    assert traced[("intermediate", "int_x")].deps["one"] == ()


def test_project_feature_table_lineage() -> None:
    deps = project_lineage()[FEATURE_TABLE].deps
    assert deps["tenure_weeks"] == (("staging", "stg_crm_accounts", "signup_date"),)
    assert ("intermediate", "int_account_weekly_support", "csat_avg") in deps["csat_avg"]
    assert {t for s, t, _ in deps["activation_score"]} >= {"int_account_weekly_usage", "stg_crm_accounts"}


def test_every_contract_column_is_described() -> None:
    for source, contract in CONTRACTS.items():
        assert set(CONTRACT_COLUMN_DOCS[source]) == set(contract.names), source
    assert set(LINEAGE_COLUMN_DOCS) == {name for name, _ in LINEAGE_COLUMNS}


def test_every_column_of_every_asset_table_is_described() -> None:
    docs = table_docs()
    expected = {("raw", s) for s in CONTRACTS} | set(project_lineage()) | {
        ("assignments", "account_segments"), ("monitoring", "segment_migrations"), ("raw", "feature_rules")}
    assert expected <= set(docs)
    undescribed = [(t, c.name) for t, d in docs.items() for c in d.columns if not c.description.strip()]
    assert undescribed == []


def test_feature_columns_use_the_registry_and_raw_columns_the_contract() -> None:
    features = {c.name: c for c in table_docs()[FEATURE_TABLE].columns}
    for f in FEATURES:
        assert features[f.name].description == f.description
        assert features[f.name].type == f.dtype
    crm = {c.name: c for c in table_docs()[("raw", "crm_accounts")].columns}
    assert crm["mrr"].description == CONTRACT_COLUMN_DOCS["crm_accounts"]["mrr"]
    assert "one of starter, growth, business, enterprise" in crm["plan"].notes
    assert crm["account_id"].nullable is False
    # a staging pass-through keeps the contract's meaning
    stg = {c.name: c for c in table_docs()[("staging", "stg_crm_accounts")].columns}
    assert stg["account_manager_id"].description == CONTRACT_COLUMN_DOCS["crm_accounts"]["account_manager_id"]
