"""The landing sources ``seg import`` can write, in import order, and their contracts."""

from seg_pipeline.sources.contracts import CONTRACTS, SOURCES, Contract

USAGE = "product_usage"

# Every source a mapping file may configure, in import order (the CRM last: its weeks follow the activity).
IMPORT_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(
    ["product_events", USAGE, *(s for s in SOURCES if s != "crm_accounts"), "crm_accounts"]))


def contract_for(source: str) -> Contract:
    """Return the contract of an importable source, or fail naming the sources a mapping may configure."""
    if source in CONTRACTS:
        return CONTRACTS[source]
    raise ValueError(f"unknown source {source!r}; expected one of {', '.join(IMPORT_SOURCES)}")
