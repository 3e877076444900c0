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
    source: str  # product_events | crm_accounts | support_tickets | composite
    owner: str = "data-science"
    kind: str = "numeric"  # numeric | categorical | flag
    heavy_tailed: bool = False  # log1p before scaling
    clustering: bool = True  # part of the default segmentation feature set
    valid_range: ValidRange | None = None  # (min, max) any sane week respects; None = not range-checked


# Usage features that feed the clustering describe sustained behaviour: a quiet week (real exports show accounts
# active in ~40 % of weeks) keeps the last known level instead of looking like a dormant account. The steep
# weight keeps dense data as responsive as weekly values (a flatter 0.5 cost the dense demo migration recall,
# benchmarks/README.md, "bench_stability.py").
SUSTAINED = "Recency-weighted mean (weight 0.1 ^ age in weeks: an active week decides, a quiet week keeps the last " \
    "level) over the account's active weeks among the 12 weeks up to this one (0 when none) of: "

FEATURES: tuple[Feature, ...] = (
    # usage
    Feature("weekly_active_users", SUSTAINED + "distinct users with any event in the week", "DOUBLE",
            "product_events", heavy_tailed=True, valid_range=(0, None)),
    Feature("active_days", SUSTAINED + "distinct UTC days in the week with any event (0-7)", "DOUBLE",
            "product_events", valid_range=(0, 7)),
    Feature("logins", "Login events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("events_total", "All product events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("feature_breadth", SUSTAINED + "distinct named product features used in the week (0-12)", "DOUBLE",
            "product_events", valid_range=(0, 12)),
    Feature("key_feature_adoption", SUSTAINED + "share of the 4 key features (dashboards, workflows, integrations, "
            "collaboration) used in the week", "DOUBLE", "product_events", valid_range=(0, 1)),
    Feature("api_calls", "API call events in the week", "INTEGER", "product_events", heavy_tailed=True,
            clustering=False),
    Feature("api_share", SUSTAINED + "API calls / all events in the week", "DOUBLE", "product_events",
            valid_range=(0, 1)),
    Feature("exports", SUSTAINED + "export events in the week", "DOUBLE", "product_events", heavy_tailed=True),
    Feature("invites", SUSTAINED + "invite events in the week", "DOUBLE", "product_events", heavy_tailed=True),
    Feature("wau_trend", "Recency-weighted weekly_active_users vs the plain mean over the same active weeks "
            "(12 weeks up to this one), as a ratio - 1 (0 with fewer than 2 active weeks)", "DOUBLE",
            "product_events", valid_range=(-1, None)),
    Feature("events_trend", "Events vs the mean of the previous 4 weeks, as a ratio - 1 (0 without history)",
            "DOUBLE", "product_events", clustering=False),
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
    Feature("seat_utilisation", "weekly_active_users (recency-weighted over active weeks) / seats (capped at 1.5)",
            "DOUBLE", "crm_accounts", valid_range=(0, 1.5)),
    Feature("mrr", "Monthly recurring revenue (USD)", "DOUBLE", "crm_accounts", heavy_tailed=True,
            valid_range=(0, None)),
    Feature("plan", "Subscription plan (starter, growth, business, enterprise)", "VARCHAR", "crm_accounts",
            kind="categorical", clustering=False),
    Feature("tenure_weeks", "Whole weeks from signup to the week's end", "INTEGER", "crm_accounts",
            heavy_tailed=True),
    Feature("weeks_to_renewal", "Whole weeks from the week's end to the renewal date (negative = overdue)",
            "INTEGER", "crm_accounts", clustering=False),
    # composites
    Feature("activation_score", "0-100: breadth, key-feature adoption, active days and seat utilisation "
            "(the recency-weighted values) blended (25 % each)", "DOUBLE", "composite", valid_range=(0, 100)),
    Feature("support_load_score", "0-100: tickets, P1s, backlog and slow resolution relative to seats",
            "DOUBLE", "composite", valid_range=(0, 100)),
    Feature("has_activity", "False when the account had no product event in the week (the sustained usage "
            "features keep the last active weeks' level then)", "BOOLEAN", "product_events", kind="flag",
            clustering=False),
    # this week's activity state: reported, not clustered (whether an account logged in is not its behaviour)
    Feature("active_week_share_8w", "Share of the 8 weeks up to this one with any product event (0-1)", "DOUBLE",
            "product_events", clustering=False, valid_range=(0, 1)),
    Feature("weeks_since_active", "Whole weeks since the last week with any product event (0 = active this "
            "week; 52 = a year or more, or never)", "INTEGER", "product_events", clustering=False,
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
