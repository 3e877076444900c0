"""The weekly CRM snapshot: every account alive in the week, as the CRM export shows it at the week's end."""

import numpy as np
import pandas as pd

from seg_pipeline.sources.contracts import ACCOUNT_STATUSES, CONTRACTS, EMPLOYEE_BANDS, PLANS, REGIONS
from seg_pipeline.sources.simulator.accounts import (
    ACCOUNT_MANAGERS,
    INDUSTRIES,
    PLAN_PRICE,
    Accounts,
    account_name,
)
from seg_pipeline.sources.simulator.arrays import iso_dates

ACTIVE, CHURNED = ACCOUNT_STATUSES
COLUMNS = CONTRACTS["crm_accounts"].names


def am_email(i: int) -> str:
    """Return account manager ``i``'s example.com address."""
    first, last = ACCOUNT_MANAGERS[i][1].lower().replace("'", "").split(" ", 1)
    return f"{first}.{last}@example.com"


def snapshot(acc: Accounts, w: int, day0: int, in_snapshot: np.ndarray) -> pd.DataFrame:
    """Build the rows of week ``w`` (starting on ``day0``): churners show ``churned`` in their churn week."""
    idx = np.flatnonzero(in_snapshot)
    signup = acc.signup_day[idx]
    years = (day0 + 7 - signup) // 365 + 1
    renewal = signup + years * 365
    am = acc.am[idx]
    mrr = np.round(acc.seats[idx] * PLAN_PRICE[acc.plan[idx]] * acc.price_factor[idx], 2)
    return pd.DataFrame({
        "account_id": [f"acc_{x:06d}" for x in acc.num[idx].tolist()],
        "account_name": [account_name(a) for a in acc.name[idx].tolist()],
        "industry": np.asarray(INDUSTRIES, dtype=object)[acc.industry[idx]],
        "employee_band": np.asarray(EMPLOYEE_BANDS, dtype=object)[acc.band[idx]],
        "region": np.asarray(REGIONS, dtype=object)[acc.region[idx]],
        "plan": np.asarray(PLANS, dtype=object)[acc.plan[idx]],
        "seats": acc.seats[idx],
        "mrr": mrr,
        "signup_date": iso_dates(signup),
        "renewal_date": iso_dates(renewal),
        "account_manager_id": [ACCOUNT_MANAGERS[a][0] for a in am.tolist()],
        "account_manager_name": [ACCOUNT_MANAGERS[a][1] for a in am.tolist()],
        "account_manager_email": [am_email(a) for a in am.tolist()],
        "status": np.where(acc.churn_week[idx] == w, CHURNED, ACTIVE),
    })[list(COLUMNS)]
