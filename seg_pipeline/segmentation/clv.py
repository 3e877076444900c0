"""Customer lifetime value of a transaction log: BG/NBD (how often, and whether still alive) + Gamma-Gamma (how much).

The models are fitted by the ``lifetimes`` library (0.11.3), not re-derived here; on the CDNOW sample it reproduces
the parameters published by Fader, Hardie & Lee (r=0.243, alpha=4.414, a=0.793, b=2.426) when fed what they fed it:
repeat purchases counted per *day* (several lines on one day are one purchase) and time measured in *weeks*. Both are
fixed here so ``summary.json`` can be checked against published tables.

BG/NBD assumes a non-contractual setting (a customer can leave without telling you). Subscription accounts with MRR are
contractual: the weekly pipeline values them by MRR and revenue at risk instead (see docs/value.md).
"""

import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

HORIZON_MONTHS = 12  # CLV horizon: the next 12 months
MONTHLY_DISCOUNT = 0.01  # monthly discount rate of the discounted cash flow (lifetimes' default)
DAYS_PER_WEEK = 7.0
MIN_CUSTOMERS = 5  # fewer customers than this cannot identify four BG/NBD parameters
MIN_REPEAT_CUSTOMERS = 3  # Gamma-Gamma needs customers with repeat purchases (three parameters)


@dataclass(frozen=True)
class ClvResult:
    """The fitted parameters, per-customer predictions and anything that was not fitted (with why)."""

    bg_nbd: dict[str, float] | None
    gamma_gamma: dict[str, float] | None
    customers: pd.DataFrame  # one row per customer: frequency, recency, T, monetary, predictions, clv
    notes: list[str] = field(default_factory=list)
    frequency_monetary_corr: float | None = None
    observation_end: date | None = None

    def summary(self) -> dict[str, Any]:
        """Parameters and totals for ``summary.json`` (numbers rounded for reading, not for refitting)."""
        out: dict[str, Any] = {
            "library": f"lifetimes {_lifetimes_version()}",
            "model": "BG/NBD + Gamma-Gamma",
            "time_unit": "week",
            "purchases": "repeat purchase days (several lines on one day are one purchase)",
            "observation_end": self.observation_end.isoformat() if self.observation_end else None,
            "horizon_months": HORIZON_MONTHS,
            "monthly_discount_rate": MONTHLY_DISCOUNT,
            "bg_nbd": _rounded(self.bg_nbd),
            "gamma_gamma": _rounded(self.gamma_gamma),
            "frequency_monetary_corr": None
            if self.frequency_monetary_corr is None
            else round(self.frequency_monetary_corr, 4),
            "customers": len(self.customers),
            "repeat_customers": int((self.customers["repeat_frequency"] > 0).sum()) if len(self.customers) else 0,
            "notes": list(self.notes),
        }
        if "clv" in self.customers and self.customers["clv"].notna().any():
            clv = self.customers["clv"]
            out["clv_total"] = round(float(clv.sum()), 2)
            out["clv_mean"] = round(float(clv.mean()), 2)
            out["clv_median"] = round(float(clv.median()), 2)
        return out


def _rounded(params: dict[str, float] | None) -> dict[str, float] | None:
    return None if params is None else {k: round(float(v), 4) for k, v in params.items()}


def _lifetimes_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lifetimes")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "not installed"


def repeat_purchase_summary(purchases: pd.DataFrame, observation_end: date) -> pd.DataFrame:
    """Per customer: repeat purchase days, recency and age in weeks, mean value of the repeat purchases.

    ``purchases`` has ``customer, day, amount`` (one row per line). Lines on the same day add up to one purchase;
    the first purchase day does not count as a repeat and its value is not in the mean (the Gamma-Gamma
    convention). Days after ``observation_end`` must already be gone.
    """
    from lifetimes.utils import summary_data_from_transaction_data

    days = purchases.groupby(["customer", "day"], as_index=False, sort=True)["amount"].sum()
    summary = summary_data_from_transaction_data(
        days,
        "customer",
        "day",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(observation_end),
        freq="D",
    )
    out = pd.DataFrame(
        {
            "customer": summary.index.astype(str),
            "repeat_frequency": summary["frequency"].astype(int).to_numpy(),
            "recency_weeks": (summary["recency"] / DAYS_PER_WEEK).to_numpy(),
            "age_weeks": (summary["T"] / DAYS_PER_WEEK).to_numpy(),
            "avg_repeat_value": summary["monetary_value"].to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def fit_clv(purchases: pd.DataFrame, observation_end: date, *, penalizer: float = 0.0) -> ClvResult:
    """Fit BG/NBD on every customer and Gamma-Gamma on the repeat customers; predict CLV over the horizon.

    A fit that cannot run (too few customers, no repeat buyers, no convergence) leaves its parameters ``None``
    and says why in ``notes``; the rest of the study still completes.
    """
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    rf = repeat_purchase_summary(purchases, observation_end)
    notes: list[str] = []
    if len(rf) < MIN_CUSTOMERS:
        notes.append(f"BG/NBD not fitted: {len(rf)} customers, at least {MIN_CUSTOMERS} needed")
        return ClvResult(None, None, rf, notes, observation_end=observation_end)
    if not (rf["repeat_frequency"] > 0).any():
        notes.append("BG/NBD not fitted: no customer bought on two different days")
        return ClvResult(None, None, rf, notes, observation_end=observation_end)
    freq, rec, age = rf["repeat_frequency"], rf["recency_weeks"], rf["age_weeks"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # autograd overflow on extreme trial points
            bgf = BetaGeoFitter(penalizer_coef=penalizer).fit(freq, rec, age)
    except (ValueError, np.linalg.LinAlgError) as exc:  # lifetimes' ConvergenceError is a ValueError
        notes.append(f"BG/NBD did not converge: {str(exc).strip().splitlines()[0]}")
        return ClvResult(None, None, rf, notes, observation_end=observation_end)
    bg = {k: float(v) for k, v in bgf.params_.items()}
    rf = rf.assign(
        p_alive=bgf.conditional_probability_alive(freq, rec, age),
        expected_purchases_12w=bgf.conditional_expected_number_of_purchases_up_to_time(12, freq, rec, age),
    )
    repeat = rf[(rf["repeat_frequency"] > 0) & (rf["avg_repeat_value"] > 0)]
    corr = float(np.corrcoef(repeat["repeat_frequency"], repeat["avg_repeat_value"])[0, 1]) if len(repeat) > 2 else None
    if len(repeat) < MIN_REPEAT_CUSTOMERS:
        notes.append(f"Gamma-Gamma not fitted: {len(repeat)} repeat customers, at least {MIN_REPEAT_CUSTOMERS} needed")
        return ClvResult(bg, None, rf, notes, corr, observation_end)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ggf = GammaGammaFitter(penalizer_coef=penalizer).fit(repeat["repeat_frequency"], repeat["avg_repeat_value"])
    except (ValueError, np.linalg.LinAlgError) as exc:
        notes.append(f"Gamma-Gamma did not converge: {str(exc).strip().splitlines()[0]}")
        return ClvResult(bg, None, rf, notes, corr, observation_end)
    gg = {k: float(v) for k, v in ggf.params_.items()}
    if corr is not None and abs(corr) > 0.3:
        notes.append(
            f"Gamma-Gamma assumes spend independent of purchase frequency; their correlation here is "
            f"{corr:.2f}, so treat the monetary part with care"
        )
    spend = ggf.conditional_expected_average_profit(freq, rf["avg_repeat_value"])
    clv = ggf.customer_lifetime_value(
        bgf,
        freq,
        rec,
        age,
        rf["avg_repeat_value"],
        time=HORIZON_MONTHS,
        discount_rate=MONTHLY_DISCOUNT,
        freq="W",
    )
    rf = rf.assign(expected_avg_value=np.asarray(spend, dtype=float), clv=np.asarray(clv, dtype=float).round(2))
    return ClvResult(bg, gg, rf, notes, corr, observation_end)


def clv_by_segment(customers: pd.DataFrame, segment_col: str) -> list[dict[str, Any]]:
    """Count customers and sum/average CLV and P(alive) per value of ``segment_col``, highest total first."""
    if "clv" not in customers or segment_col not in customers:
        return []
    g = customers.groupby(segment_col, sort=True)
    frame = pd.DataFrame(
        {
            "customers": g.size(),
            "clv_total": g["clv"].sum().round(2),
            "clv_mean": g["clv"].mean().round(2),
            "clv_median": g["clv"].median().round(2),
            "p_alive_mean": g["p_alive"].mean().round(3),
        }
    ).sort_values("clv_total", ascending=False, kind="mergesort")
    return [
        {"segment": str(idx), **{k: (int(v) if k == "customers" else float(v)) for k, v in row.items()}}  # type: ignore[misc]
        for idx, row in frame.iterrows()
    ]
