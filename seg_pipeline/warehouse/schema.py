"""The one DDL registry: every table written from Python (the SQL models' tables are created by the runner).

Declaring them up front keeps column types stable: a first week with no migrations or no drift reference must
not create a table whose columns DuckDB inferred from empty frames. The sinks' bookkeeping tables carry their
keys and constraints here too (the outbox relies on ``ON CONFLICT`` against them).
"""

import duckdb

from seg_pipeline.sources.contracts import CONTRACTS

# raw.<source>: contract columns + lineage, declared up front so every SQL model that reads a source (a company may
# deliver product events, daily usage or both) finds its table even in a week that landed nothing for it
RAW_TABLES: dict[str, str] = {
    f"raw.{source}": ", ".join(f'"{name}" {dtype}' for name, dtype in contract.raw_columns())
    for source, contract in CONTRACTS.items()
}

TABLES: dict[str, str] = {
    **RAW_TABLES,
    # The feature rules in force when the week was loaded (settings SEG_KEY_FEATURES, SEG_KEY_FEATURES_TOP_N);
    # the SQL models read them, so the week's key features are reproducible from the warehouse alone.
    "raw.feature_rules": """
        week_start DATE, key_features VARCHAR[], key_features_top_n INTEGER""",
    "raw.quarantine": """
        source VARCHAR, week_start DATE, source_file VARCHAR, source_row BIGINT, reason VARCHAR, record VARCHAR""",
    "model.training_runs": """
        week_start DATE, model_version VARCHAR, serving_version VARCHAR, promoted BOOLEAN, gate_reasons VARCHAR,
        k INTEGER, n_segments INTEGER, silhouette DOUBLE, calinski_harabasz DOUBLE, davies_bouldin DOUBLE,
        inertia DOUBLE, noise_share DOUBLE, stability_ari DOUBLE, changed_share DOUBLE, accounts INTEGER,
        k_reason VARCHAR""",
    "assignments.account_segments": """
        account_id VARCHAR, week_start DATE, segment_id INTEGER, segment_name VARCHAR, micro_community INTEGER,
        is_outlier BOOLEAN, margin DOUBLE, distance DOUBLE, model_version VARCHAR, run_id VARCHAR""",
    "assignments.segment_catalog": """
        segment_id INTEGER PRIMARY KEY, segment_name VARCHAR, first_week DATE, last_week DATE, status VARCHAR,
        profile_json VARCHAR, model_version VARCHAR""",
    "monitoring.segment_migrations": """
        account_id VARCHAR, week_start DATE, from_segment INTEGER, to_segment INTEGER, from_name VARCHAR,
        to_name VARCHAR, kind VARCHAR, margin DOUBLE, confirmed BOOLEAN, explanation VARCHAR""",
    # The migration ledger's hysteresis state after each week: the next week starts from it instead of
    # replaying every earlier week (see monitoring.segment_moves.ReplayState). Day columns: days since 1970-01-01.
    "monitoring.migration_state": """
        week_start DATE, account_id VARCHAR, stable INTEGER, last_confirm INTEGER, candidate INTEGER, run INTEGER,
        ledger_day INTEGER, ledger_to INTEGER""",
    "monitoring.migration_names": """
        week_start DATE, segment_id INTEGER, segment_name VARCHAR""",
    "monitoring.drift_summary": """
        week_start DATE, reference VARCHAR, n_features INTEGER, n_drifted INTEGER, share_drifted DOUBLE,
        drifted_features VARCHAR, html_path VARCHAR, json_path VARCHAR""",
    "sinks.writeback_stats": """
        week_start DATE, mode VARCHAR, enqueued INTEGER, sent INTEGER, unchanged INTEGER, failed INTEGER,
        dead_lettered INTEGER""",
    "sinks.alert_stats": """
        week_start DATE, channel VARCHAR, digests_planned INTEGER, digests_sent INTEGER, moves_alerted INTEGER,
        dead_lettered INTEGER, blocked BOOLEAN""",
    # Last value the CRM acknowledged per account: the base of the write-back diff.
    "sinks.crm_sync_state": """
        account_id VARCHAR PRIMARY KEY,
        segment_id INTEGER,
        segment_name VARCHAR,
        is_outlier BOOLEAN,
        micro_community INTEGER,
        week_start DATE,
        model_version VARCHAR,
        run_id VARCHAR,
        idempotency_key VARCHAR,
        synced_at TIMESTAMPTZ
    """,
    "sinks.crm_outbox": """
        idempotency_key VARCHAR PRIMARY KEY,
        account_id VARCHAR NOT NULL,
        crm_id VARCHAR NOT NULL,          -- the CRM's object id (account_id unless the snapshot maps it)
        week_start DATE NOT NULL,
        model_version VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        segment_id INTEGER,
        segment_name VARCHAR,
        is_outlier BOOLEAN,
        micro_community INTEGER,
        status VARCHAR NOT NULL,          -- pending | sent | dead | superseded
        batch_key VARCHAR,                -- fixed before the first send so a resend reuses it
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        http_status INTEGER,
        delivered_week DATE,
        delivered_via VARCHAR,            -- rest | file
        enqueued_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sent_at TIMESTAMPTZ
    """,
    "sinks.crm_plans": """
        week_start DATE PRIMARY KEY,
        model_version VARCHAR,
        run_id VARCHAR,
        full_resync BOOLEAN,
        n_assignments INTEGER,
        n_enqueued INTEGER,
        n_unchanged INTEGER,
        n_not_in_crm INTEGER,
        planned_at TIMESTAMPTZ
    """,
    "sinks.crm_sync_log": """
        logged_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        delivery_week DATE,
        idempotency_key VARCHAR,
        account_id VARCHAR,
        batch_key VARCHAR,
        outcome VARCHAR,                  -- sent | dead | retry_exhausted | stopped
        http_status INTEGER,
        attempts INTEGER,
        detail VARCHAR
    """,
    "sinks.alert_ledger": """
        message_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,            -- am_digest | engineer
        recipient_id VARCHAR NOT NULL,
        recipient_name VARCHAR,
        recipient_address VARCHAR,        -- SMTP envelope only; never part of the payload
        week_start DATE NOT NULL,
        reason_key VARCHAR,
        subject VARCHAR,
        payload_json VARCHAR NOT NULL,
        n_items INTEGER,
        status VARCHAR NOT NULL,          -- pending | sent | dead
        channel VARCHAR,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sent_at TIMESTAMPTZ
    """,
    "sinks.alert_items": """
        message_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        week_start DATE NOT NULL,
        from_segment INTEGER,
        to_segment INTEGER,
        from_name VARCHAR,
        to_name VARCHAR
    """,
    "sinks.alert_log": """
        logged_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        message_id VARCHAR,
        week_start DATE,
        channel VARCHAR,
        outcome VARCHAR,                  -- sent | dead | retry_exhausted | stopped | already_delivered
        status_code INTEGER,
        attempts INTEGER,
        detail VARCHAR
    """,
    "sinks.dead_letters": """
        dead_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        sink VARCHAR NOT NULL,            -- crm | alerts
        item_key VARCHAR NOT NULL,
        week_start DATE,
        subject_id VARCHAR,               -- account_id or recipient id
        status_code INTEGER,
        reason VARCHAR NOT NULL
    """,
}


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every declared schema and table when missing (idempotent; DDL needs no data transaction)."""
    for name, columns in TABLES.items():
        schema, table = name.split(".")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."{table}" ({columns})')
