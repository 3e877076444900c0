"""The landing sources ``seg import`` can write, and their contracts.

``product_usage`` (daily per-feature counts, docs/contracts.md) is defined here until the shared contract table
in :mod:`seg_pipeline.sources.contracts` carries it; :func:`contract_for` prefers the shared definition, so the
local one only fills the gap and can be deleted once both agree.
"""

from seg_pipeline.sources.contracts import CONTRACTS, EVENT_TYPES, SOURCES, Column, Contract

USAGE = "product_usage"

_LOCAL: dict[str, Contract] = {
    USAGE: Contract(
        source=USAGE,
        columns=(
            Column("account_id", "VARCHAR", nullable=False),
            Column("usage_date", "DATE", nullable=False),
            Column("feature_name", "VARCHAR", nullable=False),  # the product's own names: open vocabulary
            Column("event_type", "VARCHAR", nullable=False, allowed=EVENT_TYPES),
            Column("usage_count", "BIGINT", nullable=False, min=0),
            Column("duration_seconds", "DOUBLE", min=0, required=False),
            Column("active_users", "BIGINT", min=0, required=False),
        ),
        key=("account_id", "usage_date", "feature_name", "event_type"),
        ts_column="usage_date",
        file_glob="product_usage/usage_*.parquet",
        file_format="parquet",
        cadence="day",
        null_key_columns=("account_id", "usage_date", "feature_name"),
    ),
}

# Every source a mapping file may configure, in import order (the CRM last: its weeks follow the activity).
IMPORT_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(
    ["product_events", USAGE, *(s for s in SOURCES if s != "crm_accounts"), "crm_accounts"]))


def contract_for(source: str) -> Contract:
    """Return the contract of an importable source; the shared table wins over the local stand-in."""
    if source in CONTRACTS:
        return CONTRACTS[source]
    if source in _LOCAL:
        return _LOCAL[source]
    raise ValueError(f"unknown source {source!r}; expected one of {', '.join(IMPORT_SOURCES)}")
