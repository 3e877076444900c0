"""Feature registry: the documented columns of ``features.account_features``.

The SQL model ``dbt_like_sql/features/account_features.sql`` computes them; this registry is what people and the
segmentation engine read to know what each column means, how it is typed and whether it feeds the clustering.
A test keeps the two in sync.
"""

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    dtype: str  # DuckDB type
    source: str  # product_events | crm_accounts | support_tickets | composite
    owner: str = "data-science"
    kind: str = "numeric"  # numeric | categorical | flag
    heavy_tailed: bool = False  # log1p before scaling
    clustering: bool = True  # part of the default segmentation feature set


FEATURES: tuple[Feature, ...] = (
    # usage
    Feature("weekly_active_users", "Distinct users with any event in the week", "INTEGER", "product_events",
            heavy_tailed=True),
    Feature("active_days", "Distinct UTC days in the week with any event (0-7)", "INTEGER", "product_events"),
    Feature("logins", "Login events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("events_total", "All product events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("feature_breadth", "Distinct named product features used in the week (0-12)", "INTEGER",
            "product_events"),
    Feature("key_feature_adoption", "Share of the 4 key features (dashboards, workflows, integrations, "
            "collaboration) used in the week", "DOUBLE", "product_events"),
    Feature("api_calls", "API call events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("api_share", "API calls / all events in the week (0 when no events)", "DOUBLE", "product_events"),
    Feature("exports", "Export events in the week", "INTEGER", "product_events", heavy_tailed=True),
    Feature("invites", "Invite events in the week", "INTEGER", "product_events", heavy_tailed=True),
    Feature("wau_trend", "Weekly active users vs the mean of the previous 4 weeks, as a ratio - 1 "
            "(0 without history)", "DOUBLE", "product_events"),
    Feature("events_trend", "Events vs the mean of the previous 4 weeks, as a ratio - 1 (0 without history)",
            "DOUBLE", "product_events", clustering=False),
    # support
    Feature("tickets_opened", "Support tickets created in the week", "INTEGER", "support_tickets",
            heavy_tailed=True),
    Feature("p1_tickets", "Priority-1 tickets created in the week", "INTEGER", "support_tickets",
            heavy_tailed=True, clustering=False),
    Feature("tickets_4w", "Support tickets created in the 4 weeks up to the week's end (one busy week does not "
            "flip a segment)", "INTEGER", "support_tickets", heavy_tailed=True, clustering=False),
    Feature("p1_tickets_4w", "Priority-1 tickets created in the 4 weeks up to the week's end", "INTEGER",
            "support_tickets", heavy_tailed=True),
    Feature("median_resolution_hours", "Median hours to resolve tickets resolved in the last 4 weeks "
            "(0 when none)", "DOUBLE", "support_tickets", heavy_tailed=True),
    Feature("csat_avg", "Mean CSAT (1-5) of tickets rated in the last 12 weeks; 4.0 when none", "DOUBLE",
            "support_tickets"),
    Feature("open_backlog", "Tickets open or pending at the week's end", "INTEGER", "support_tickets",
            heavy_tailed=True),
    # commercial
    Feature("seats", "Licensed seats in the CRM snapshot", "INTEGER", "crm_accounts", heavy_tailed=True),
    Feature("seat_utilisation", "Weekly active users / seats (capped at 1.5)", "DOUBLE", "crm_accounts"),
    Feature("mrr", "Monthly recurring revenue (USD)", "DOUBLE", "crm_accounts", heavy_tailed=True),
    Feature("plan", "Subscription plan (starter, growth, business, enterprise)", "VARCHAR", "crm_accounts",
            kind="categorical", clustering=False),
    Feature("tenure_weeks", "Whole weeks from signup to the week's end", "INTEGER", "crm_accounts",
            heavy_tailed=True),
    Feature("weeks_to_renewal", "Whole weeks from the week's end to the renewal date (negative = overdue)",
            "INTEGER", "crm_accounts", clustering=False),
    # composites
    Feature("activation_score", "0-100: breadth, key-feature adoption, active days and seat utilisation "
            "blended (25 % each)", "DOUBLE", "composite"),
    Feature("support_load_score", "0-100: tickets, P1s, backlog and slow resolution relative to seats",
            "DOUBLE", "composite"),
    Feature("has_activity", "False when the account had no product event in the week (usage features are "
            "explicit zeros then)", "BOOLEAN", "product_events", kind="flag", clustering=False),
)

CONTEXT_COLUMNS = ("industry", "employee_band", "region", "account_manager_id")


def feature_names(*, clustering_only: bool = False) -> list[str]:
    """Registry feature names in table order; ``clustering_only`` gives the default segmentation set."""
    return [f.name for f in FEATURES if f.clustering or not clustering_only]


def get(name: str) -> Feature:
    for f in FEATURES:
        if f.name == name:
            return f
    raise KeyError(f"unknown feature {name!r}; known: {', '.join(feature_names())}")


def registry_frame() -> pd.DataFrame:
    """The registry as a table (for Dagster metadata, the warehouse and `seg features`)."""
    return pd.DataFrame([asdict(f) for f in FEATURES])
