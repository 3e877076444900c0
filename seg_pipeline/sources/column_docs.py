"""What each landing-file column means, next to the contracts that say how it is typed and bounded.

:data:`CONTRACT_COLUMN_DOCS` is keyed like :data:`~seg_pipeline.sources.contracts.CONTRACTS`; a test keeps the
two in step, so a column added to a contract without a description fails. :func:`constraint_notes` renders the
contract's own rules (allowed values, bounds, optional) as short phrases for the Dagster column view.
"""

from seg_pipeline.sources.contracts import CONTRACTS, Column

_ACCOUNT = "The customer account the row belongs to (the CRM's account id; every source joins on it)"

CONTRACT_COLUMN_DOCS: dict[str, dict[str, str]] = {
    "product_events": {
        "event_id": "Unique id of the product-analytics event (exact repeats are dropped and counted)",
        "account_id": _ACCOUNT,
        "user_id": "The end user who caused the event (pseudonymous id, never contact details)",
        "event_type": "What happened: login, feature_use, api_call, export or invite",
        "feature_name": "The product feature used (any vocabulary; empty for logins)",
        "event_ts": "When the event happened (UTC); must fall inside the loaded week",
    },
    "product_usage": {
        "account_id": _ACCOUNT,
        "usage_date": "The UTC day the counts describe",
        "feature_name": "The product's own feature name, verbatim",
        "event_type": "Kind of activity counted: login, feature_use, api_call, export or invite",
        "usage_count": "How many times the feature was used that day",
        "duration_seconds": "Summed seconds of use that day (optional in the export)",
        "active_users": "Distinct users that day (optional in the export)",
    },
    "crm_accounts": {
        "account_id": _ACCOUNT,
        "account_name": "The account's company name as the CRM shows it",
        "industry": "Industry of the customer company",
        "employee_band": "Company head-count band (1-10 ... 5000+)",
        "region": "Sales region (NA, EMEA, APAC, LATAM)",
        "plan": "Subscription plan (starter, growth, business, enterprise)",
        "seats": "Licensed seats",
        "mrr": "Monthly recurring revenue in USD",
        "signup_date": "Day the account signed up",
        "renewal_date": "Next contract renewal date (empty when the CRM has none)",
        "account_manager_id": "Owner of the account: the account manager who receives its alerts",
        "account_manager_name": "The account manager's display name",
        "account_manager_email": "Where the account manager's digest goes (a secret-free CRM field, never logged)",
        "status": "active or churned at the snapshot",
    },
    "support_tickets": {
        "ticket_id": "Helpdesk ticket id (one row per create/update of the ticket)",
        "account_id": _ACCOUNT,
        "created_at": "When the ticket was opened (UTC)",
        "updated_at": "When this state of the ticket was recorded (UTC); inside the loaded week",
        "resolved_at": "When the ticket was resolved (UTC), empty while open",
        "priority": "P1 (most urgent) to P4",
        "category": "bug, how_to, billing, integration, performance or feature_request",
        "status": "open, pending, solved or closed",
        "csat": "Customer satisfaction rating 1-5 given on the ticket, if any",
    },
}

LINEAGE_COLUMN_DOCS: dict[str, str] = {
    "week_start": "Monday (UTC) that starts the week the row was loaded for",
    "source_file": "Landing file the row came from, relative to the landing directory",
    "source_row": "Row number inside that file (1-based), to find the original record",
}


def constraint_notes(column: Column) -> list[str]:
    """Short phrases for the contract's rules on ``column`` (shown as constraints in the Dagster UI)."""
    notes: list[str] = []
    if column.allowed:
        notes.append("one of " + ", ".join(column.allowed))
    if column.min is not None:
        notes.append(f">= {column.min:g}")
    if column.max is not None:
        notes.append(f"<= {column.max:g}")
    if not column.required:
        notes.append("may be absent from a file")
    return notes


def contract_column_doc(source: str, column: str) -> str:
    """Describe one column of ``raw.<source>``: a contract column or a lineage column; '' when unknown."""
    if source in CONTRACTS:
        doc = CONTRACT_COLUMN_DOCS.get(source, {}).get(column)
        if doc:
            return doc
    return LINEAGE_COLUMN_DOCS.get(column, "")
