"""Revenue at risk: MRR of the accounts whose current segment is an at-risk persona, per segment and per AM.

"At risk" is :func:`seg_pipeline.segmentation.personas.is_at_risk` (the personas in ``AT_RISK_SEVERITY``:
Dormant, Declining / At-Risk, Support-Heavy Strugglers): the definition the alerts' ⚠ and ``seg evaluate`` use,
so the money on the page belongs to the same accounts the account managers are alerted about. Pure pandas on the
latest week's account table (one row per account), so it is unit-tested without a warehouse.
"""

import pandas as pd

from seg_pipeline.segmentation.personas import is_at_risk

UNASSIGNED_AM = "(no account manager)"


def flag_at_risk(accounts: pd.DataFrame) -> pd.DataFrame:
    """Add ``at_risk`` (segment is an at-risk persona) and ``mrr_at_risk`` (its MRR, else 0) columns."""
    at_risk = accounts["segment_name"].map(is_at_risk).astype(bool)
    mrr = pd.to_numeric(accounts["mrr"], errors="coerce").fillna(0.0)
    return accounts.assign(at_risk=at_risk, mrr_at_risk=mrr.where(at_risk, 0.0))


def by_segment(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per current segment: ``segment_id, segment_name, accounts, outliers, mrr, at_risk, mrr_at_risk``."""
    df = flag_at_risk(accounts).assign(mrr=lambda d: pd.to_numeric(d["mrr"], errors="coerce"))
    g = df.groupby(["segment_id", "segment_name"], sort=True, dropna=False)
    return pd.DataFrame(
        {
            "accounts": g.size(),
            "outliers": g["is_outlier"].sum().astype(int),
            "mrr": g["mrr"].sum(min_count=1),
            "at_risk": g["at_risk"].any(),
            "mrr_at_risk": g["mrr_at_risk"].sum(),
        }
    ).reset_index()


def by_account_manager(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per AM: ``am_id, am_name, accounts, mrr, accounts_at_risk, mrr_at_risk``, most MRR at risk first.

    Grouped by the AM's id (a name missing on some rows must not split one AM in two); the label is the first
    non-empty name for the id, else the id; accounts without an AM form one row of their own.
    """
    df = flag_at_risk(accounts).assign(mrr=lambda d: pd.to_numeric(d["mrr"], errors="coerce"))
    df["am_id"] = df["account_manager_id"].astype("string").fillna("")
    names = df["account_manager_name"].astype("string").fillna("")
    g = df.groupby("am_id", sort=True)
    out = pd.DataFrame(
        {
            "accounts": g.size(),
            "mrr": g["mrr"].sum(min_count=1),
            "accounts_at_risk": g["at_risk"].sum().astype(int),
            "mrr_at_risk": g["mrr_at_risk"].sum(),
        }
    ).reset_index()
    first_name = names[names != ""].groupby(df["am_id"]).first()
    out.insert(1, "am_name", [first_name.get(i) or i or UNASSIGNED_AM for i in out["am_id"]])
    return out.sort_values(["mrr_at_risk", "am_name"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
