"""The week's product feature vocabulary as the feature rules saw it: which names were used, which were key.

The vocabulary is open: any feature name counts in ``feature_breadth`` and ``events_total``. Only the key features
(see ``intermediate.int_key_features``) and the event types login / api_call / export / invite feed a named feature
of their own; a ``feature_use`` name outside the key set falls into no category, and the features asset reports
how many names and rows did, so a vocabulary the rules do not describe is visible, never silently dropped.
"""

from datetime import date

import duckdb

from seg_pipeline.outcomes import Json
from seg_pipeline.warehouse.duck import table_exists

_SQL = """
    WITH used AS (
        SELECT * FROM intermediate.int_feature_usage WHERE week_start = $week
    ),
    keys AS (
        SELECT feature_name, rule FROM intermediate.int_key_features WHERE week_start = $week
    ),
    loose AS (
        SELECT u.* FROM used AS u LEFT JOIN keys AS k ON u.feature_name = k.feature_name
        WHERE u.event_type = 'feature_use' AND k.feature_name IS NULL
    )
    SELECT
        (SELECT count(DISTINCT feature_name) FROM used),
        (SELECT coalesce(sum(event_rows + usage_rows), 0) FROM used),
        (SELECT count(DISTINCT feature_name) FROM loose),
        (SELECT coalesce(sum(event_rows + usage_rows), 0) FROM loose),
        (SELECT coalesce(sum(usage_count), 0) FROM loose),
        (SELECT list(feature_name ORDER BY feature_name) FROM keys),
        (SELECT any_value(rule) FROM keys)
"""


def vocabulary_metadata(con: duckdb.DuckDBPyConnection, week: date) -> dict[str, object]:
    """Feature names used in the week, the key features and their rule, and what fell into no category."""
    if not (table_exists(con, "intermediate", "int_feature_usage")
            and table_exists(con, "intermediate", "int_key_features")):
        return {}
    names, rows, loose_names, loose_rows, loose_usage, keys, rule = con.execute(_SQL, {"week": week}).fetchall()[0]
    return {
        "feature_names_used": int(names),
        "activity_rows": int(rows),
        "key_features": Json(list(keys or [])),
        "key_feature_rule": rule or "none (no feature_use activity in the last 4 weeks)",
        "uncategorised_feature_names": int(loose_names),
        "uncategorised_rows": int(loose_rows),
        "uncategorised_usage_count": int(loose_usage),
    }
