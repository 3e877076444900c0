"""DDL of the tables written from Python (the SQL models' tables are created by the runner).

Declaring them up front keeps column types stable: a first week with no migrations or no drift reference must
not create a table whose columns DuckDB inferred from empty frames.
"""

import duckdb

TABLES: dict[str, str] = {
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
    "monitoring.drift_summary": """
        week_start DATE, reference VARCHAR, n_features INTEGER, n_drifted INTEGER, share_drifted DOUBLE,
        drifted_features VARCHAR, html_path VARCHAR, json_path VARCHAR""",
    "sinks.writeback_stats": """
        week_start DATE, mode VARCHAR, enqueued INTEGER, sent INTEGER, unchanged INTEGER, failed INTEGER,
        dead_lettered INTEGER""",
    "sinks.alert_stats": """
        week_start DATE, channel VARCHAR, digests_planned INTEGER, digests_sent INTEGER, moves_alerted INTEGER,
        dead_lettered INTEGER, blocked BOOLEAN""",
}


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, columns in TABLES.items():
        schema, table = name.split(".")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."{table}" ({columns})')
