"""Feature registry: the documented columns of ``features.account_features``, one definition per feature.

The SQL model ``dbt_like_sql/features/account_features.sql`` computes them; this registry is what people, the
feature checks and the segmentation engine read to know what each column means, how it is typed, which range a
sane week respects and whether it feeds the clustering. A test keeps the registry and the SQL in sync.
"""

from dataclasses import dataclass

import pandas as pd

FEATURE_TABLE = ("features", "account_features")

Bound = float | None  # None = unbounded on that side
ValidRange = tuple[Bound, Bound]


@dataclass(frozen=True)
class Feature:
    """One column of the feature table, as documented for people and checked every week."""

    name: str
    description: str
    dtype: str  # DuckDB type
    # product_activity (raw events and/or daily usage aggregates) | crm_accounts | support_tickets | composite
    source: str
    owner: str = "data-science"
    kind: str = "numeric"  # numeric | categorical | flag
    heavy_tailed: bool = False  # log1p before scaling
    clustering: bool = True  # part of the default segmentation feature set
    valid_range: ValidRange | None = None  # (min, max) any sane week respects; None = not range-checked
    nullable: bool = False  # NULL means "the source does not say" (an optional CRM column), not a broken model


# Usage features that feed the clustering describe sustained behaviour. Where most accounts are active every week
# a quiet week is the signal (an account going dormant) and the week's own value is used; where a quarter or more
# of account-weeks are quiet (real exports show accounts active in ~40 % of weeks), a quiet week keeps the last
# known level instead of looking like a dormant account (account_features.sql; benchmarks/README.md).
SPARSE = (". Where activity is sparse (under 75 % of account-weeks active over 8 weeks): the recency-weighted mean "
          "(weight 0.1 ^ age in weeks) over the account's active weeks among the 12 up to this one")

FEATURES: tuple[Feature, ...] = (
    # usage
    Feature("weekly_active_users", "Distinct users with any event in the week. From daily usage aggregates "
            "(no user ids) it falls back to the largest active_users of any of the account's rows that week, a lower "
            "bound; 0 when the export has no user counts (seat_utilisation and wau_trend are then 0 too); with both "
            "shapes the larger of the two" + SPARSE, "DOUBLE", "product_activity", heavy_tailed=True,
            valid_range=(0, None)),
    Feature("active_days", "Distinct UTC days in the week with any activity (0-7)" + SPARSE, "DOUBLE",
            "product_activity", valid_range=(0, 7)),
    Feature("logins", "Logins in the week (login events, or the counts of login usage rows)", "INTEGER",
            "product_activity", heavy_tailed=True, clustering=False),
    Feature("events_total", "All product activity in the week: events, plus the counts of daily usage rows",
            "INTEGER", "product_activity", heavy_tailed=True, clustering=False),
    Feature("feature_breadth", "Distinct product feature names used (event type feature_use) in the week, any "
            "vocabulary: every name counts, also those no rule mentions (0 up to the company's vocabulary size)"
            + SPARSE, "DOUBLE", "product_activity", valid_range=(0, None)),
    Feature("key_feature_adoption", "Share of the week's key features used in the week: the names in "
            "SEG_KEY_FEATURES (default dashboards, workflows, integrations, collaboration) when at least one of "
            "them occurs in the 4 weeks up to the week's end, else the top SEG_KEY_FEATURES_TOP_N (default 4) "
            "features by usage over those weeks (intermediate.int_key_features)" + SPARSE, "DOUBLE", "product_activity",
            valid_range=(0, 1)),
    Feature("api_calls", "API calls in the week (events or usage counts)", "INTEGER", "product_activity",
            heavy_tailed=True, clustering=False),
    Feature("api_share", "API calls / all activity in the week (0 when none)" + SPARSE, "DOUBLE", "product_activity",
            valid_range=(0, 1)),
    Feature("exports", "Exports in the week (events or usage counts)" + SPARSE, "DOUBLE", "product_activity",
            heavy_tailed=True),
    Feature("invites", "Invites in the week (events or usage counts)" + SPARSE, "DOUBLE", "product_activity",
            heavy_tailed=True),
    Feature("wau_trend", "Weekly active users vs the mean of the previous 4 weeks, as a ratio - 1 "
            "(0 without history); where activity is sparse, the recency-weighted value vs the plain mean over the "
            "same active weeks (0 with fewer than 2)", "DOUBLE", "product_activity", valid_range=(-1, None)),
    Feature("events_trend", "Events vs the mean of the previous 4 weeks, as a ratio - 1 (0 without history)",
            "DOUBLE", "product_activity", clustering=False),
    # support
    Feature("tickets_opened", "Support tickets created in the week", "INTEGER", "support_tickets",
            heavy_tailed=True, valid_range=(0, None)),
    Feature("p1_tickets", "Priority-1 tickets created in the week", "INTEGER", "support_tickets",
            heavy_tailed=True, clustering=False, valid_range=(0, None)),
    Feature("tickets_4w", "Support tickets created in the 4 weeks up to the week's end (one busy week does not "
            "flip a segment)", "INTEGER", "support_tickets", heavy_tailed=True, clustering=False),
    Feature("p1_tickets_4w", "Priority-1 tickets created in the 4 weeks up to the week's end", "INTEGER",
            "support_tickets", heavy_tailed=True),
    Feature("median_resolution_hours", "Median hours to resolve tickets resolved in the last 4 weeks "
            "(0 when none)", "DOUBLE", "support_tickets", heavy_tailed=True),
    Feature("csat_avg", "Mean CSAT (1-5) of tickets rated in the last 12 weeks; 4.0 when none", "DOUBLE",
            "support_tickets", valid_range=(1, 5)),
    Feature("open_backlog", "Tickets open or pending at the week's end", "INTEGER", "support_tickets",
            heavy_tailed=True, valid_range=(0, None)),
    # commercial
    Feature("seats", "Licensed seats in the CRM snapshot", "INTEGER", "crm_accounts", heavy_tailed=True,
            valid_range=(0, None)),
    Feature("seat_utilisation", "Weekly active users / seats (capped at 1.5); 0 when the usage export gives no "
            "user counts (see weekly_active_users)", "DOUBLE", "crm_accounts", valid_range=(0, 1.5)),
    Feature("mrr", "Monthly recurring revenue (USD)", "DOUBLE", "crm_accounts", heavy_tailed=True,
            valid_range=(0, None)),
    Feature("plan", "Subscription plan (starter, growth, business, enterprise)", "VARCHAR", "crm_accounts",
            kind="categorical", clustering=False),
    Feature("tenure_weeks", "Whole weeks from signup to the week's end", "INTEGER", "crm_accounts",
            heavy_tailed=True),
    Feature("weeks_to_renewal", "Whole weeks from the week's end to the renewal date (negative = overdue; NULL "
            "when the CRM has no renewal date)", "INTEGER", "crm_accounts", clustering=False, nullable=True),
    # composites
    Feature("activation_score", "0-100: breadth (relative to the company's feature vocabulary: distinct names "
            "used by any account in the 4 weeks up to the week's end), key-feature adoption, active days and seat "
            "utilisation blended (25 % each)", "DOUBLE", "composite", valid_range=(0, 100)),
    Feature("support_load_score", "0-100: tickets, P1s, backlog and slow resolution relative to seats",
            "DOUBLE", "composite", valid_range=(0, 100)),
    Feature("has_activity", "False when the account had no product activity in the week (usage features "
            "are explicit zeros then, or where activity is sparse the last active weeks' level)", "BOOLEAN",
            "product_activity", kind="flag", clustering=False),
    # how often the account is active: reported, not clustered (whether an account logged in is not its behaviour)
    Feature("active_week_share_8w", "Share of the 8 weeks up to this one with any product activity (0-1)",
            "DOUBLE", "product_activity", clustering=False, valid_range=(0, 1)),
    Feature("weeks_since_active", "Whole weeks since the last week with any product activity (0 = active this "
            "week; 52 = a year or more, or never)", "INTEGER", "product_activity", clustering=False,
            valid_range=(0, 52)),
)

CONTEXT_COLUMNS = ("industry", "employee_band", "region", "account_manager_id")

# numeric feature -> (min, max) checked every week; derived from the registry, never edited on its own
FEATURE_RANGES: dict[str, ValidRange] = {f.name: f.valid_range for f in FEATURES if f.valid_range is not None}

# the columns of the published registry table (``features.feature_registry``) and of `seg features`
REGISTRY_COLUMNS = ("name", "description", "dtype", "source", "owner", "kind", "heavy_tailed", "clustering")
SUMMARY_COLUMNS = ("name", "dtype", "source", "kind", "clustering", "description")


def feature_names(*, clustering_only: bool = False) -> list[str]:
    """Registry feature names in table order; ``clustering_only`` gives the default segmentation set."""
    return [f.name for f in FEATURES if f.clustering or not clustering_only]


def get(name: str) -> Feature:
    """Return the registry entry of ``name``; unknown names fail with the list of known ones."""
    for f in FEATURES:
        if f.name == name:
            return f
    raise KeyError(f"unknown feature {name!r}; known: {', '.join(feature_names())}")


def registry_frame() -> pd.DataFrame:
    """Return the registry as a table (for Dagster metadata, the warehouse and `seg features`)."""
    rows = [{c: getattr(f, c) for c in REGISTRY_COLUMNS} for f in FEATURES]
    return pd.DataFrame(rows, columns=list(REGISTRY_COLUMNS))


def registry_markdown() -> str:
    """Render the registry's summary columns as a Markdown table (shown on the feature asset's page)."""
    return str(registry_frame()[list(SUMMARY_COLUMNS)].to_markdown(index=False))
