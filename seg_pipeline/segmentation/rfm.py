"""`seg rfm`: the classic recency/frequency/monetary study on an Online-Retail-style transaction log.

Rule-based RF scores give segments marketers already know ("champions", "at_risk"); K-means and DBSCAN on the
same customers show whether the data agrees with those hand-drawn boxes; BG/NBD + Gamma-Gamma (``clv``) put a
12-month value on every customer and segment. Every cleaning step reports the rows left, so nothing is dropped
silently.
"""

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from seg_pipeline.segmentation.adhoc import (
    InputError,
    cluster_metrics,
    read_table,
    require_columns,
    to_numeric_column,
)

# (segment, R scores, F scores): the widely used RF grid; it covers all 25 cells exactly once.
RF_SEGMENT_RULES: tuple[tuple[str, frozenset[int], frozenset[int]], ...] = (
    ("hibernating", frozenset({1, 2}), frozenset({1, 2})),
    ("at_risk", frozenset({1, 2}), frozenset({3, 4})),
    ("cant_lose", frozenset({1, 2}), frozenset({5})),
    ("about_to_sleep", frozenset({3}), frozenset({1, 2})),
    ("need_attention", frozenset({3}), frozenset({3})),
    ("loyal_customers", frozenset({3, 4}), frozenset({4, 5})),
    ("promising", frozenset({4}), frozenset({1})),
    ("new_customers", frozenset({5}), frozenset({1})),
    ("potential_loyalists", frozenset({4, 5}), frozenset({2, 3})),
    ("champions", frozenset({5}), frozenset({4, 5})),
)
DATE_FORMATS: tuple[str, ...] = ("ISO8601", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y %H:%M")
MIN_CUSTOMERS_FOR_CLUSTERING = 5
DEFAULT_K_MAX = 8
CAP_QUANTILES = (0.01, 0.99)


@dataclass(frozen=True)
class TransactionColumns:
    """Which columns of the transaction log hold the customer, invoice, timestamp and the line's value.

    The value is either a line ``amount`` or ``quantity`` × unit ``price``. Without an ``invoice`` column a
    purchase is a customer's day (as in CDNOW) and cancellations cannot be recognised.
    """

    customer: str
    invoice: str | None
    date: str
    quantity: str | None = None
    price: str | None = None
    amount: str | None = None

    def __post_init__(self) -> None:
        """Exactly one way to value a line: an amount column, or quantity and price."""
        if self.amount is not None and (self.quantity or self.price):
            raise InputError("give either --amount-col or --quantity-col with --price-col, not both")
        if self.amount is None and not (self.quantity and self.price):
            raise InputError("give --amount-col (a line amount), or both --quantity-col and --price-col")

    def required(self) -> list[str]:
        """List the columns the file must have."""
        cols = [self.customer, self.invoice, self.date, self.quantity, self.price, self.amount]
        return [c for c in cols if c is not None]


def rf_segment(r: int, f: int) -> str:
    """Map an (R, F) score pair to its named segment."""
    for name, rs, fs in RF_SEGMENT_RULES:
        if r in rs and f in fs:
            return name
    raise ValueError(f"scores out of range: R={r}, F={f}")


def quintile_bins(values: pd.Series | np.ndarray) -> np.ndarray:
    """Bin 0..4 by the 20/40/60/80 % quantiles; a value equal to an edge falls in the lower bin (``qcut``).

    Unlike ``pd.qcut`` this tolerates repeated edges (many ties), leaving the tied bins empty instead of raising.
    """
    arr = np.asarray(values, dtype=float)
    edges = np.quantile(arr, [0.2, 0.4, 0.6, 0.8])
    return np.searchsorted(edges, arr, side="left")


def parse_dates(series: pd.Series, *, column: str) -> pd.Series:
    """Parse invoice timestamps; tries ISO then the US ``12/1/2010 8:26`` layout of the Online Retail export."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    text = series.astype("string").str.strip()
    for fmt in DATE_FORMATS:
        try:
            return pd.to_datetime(text, format=fmt)
        except (ValueError, TypeError):
            continue
    example = text.dropna().iloc[0] if text.notna().any() else None
    raise InputError(
        f"column {column!r} has dates in an unrecognised format (e.g. {example!r}); "
        "use ISO 8601 or month/day/year hour:minute"
    )


def _customer_ids(series: pd.Series) -> pd.Series:
    """Ids as text; float ids from a NaN-holed numeric column (``17850.0``) lose the ``.0``."""
    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if (whole == np.floor(whole)).all():
            return series.astype("Int64").astype("string")
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def _id_sort_key(ids: pd.Series) -> pd.Series:
    """Numeric order when every id is a number, else text order."""
    numeric = pd.to_numeric(ids, errors="coerce")
    return numeric if numeric.notna().all() else ids


def clean_transactions(df: pd.DataFrame, columns: TransactionColumns) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Apply the cleaning chain and return the rows left after each step."""
    customer_col, invoice_col = columns.customer, columns.invoice
    steps: list[dict[str, object]] = [{"step": "loaded", "rows": len(df)}]
    df = df.copy()
    df[customer_col] = _customer_ids(df[customer_col])
    df = df[df[customer_col].notna()]
    steps.append({"step": "drop_missing_customer", "rows": len(df)})
    if invoice_col is not None:
        invoice = df[invoice_col].astype("string").str.strip()
        df = df[~invoice.str.startswith("C").fillna(False)]
        steps.append({"step": "drop_cancelled_invoices", "rows": len(df)})
    if columns.amount is not None:
        amount = to_numeric_column(df[columns.amount], source="the transactions")
        keep = amount > 0
        df = df[keep.to_numpy()].assign(**{columns.amount: amount[keep]})
        steps.append({"step": "drop_non_positive_amount", "rows": len(df)})
    else:
        quantity_col, price_col = cast(str, columns.quantity), cast(str, columns.price)
        qty = to_numeric_column(df[quantity_col], source="the transactions")
        price = to_numeric_column(df[price_col], source="the transactions")
        keep = (qty > 0) & (price > 0)
        df = df[keep.to_numpy()].assign(**{quantity_col: qty[keep], price_col: price[keep]})
        steps.append({"step": "drop_non_positive_quantity_or_price", "rows": len(df)})
    if invoice_col is None:
        # without an invoice id two identical lines may be two real purchases on one day (CDNOW has 21)
        steps.append({"step": "keep_duplicate_rows_no_invoice_id", "rows": len(df)})
    else:
        df = df.drop_duplicates(keep="first")
        steps.append({"step": "drop_duplicate_rows", "rows": len(df)})
    return df, steps


def purchase_lines(df: pd.DataFrame, columns: TransactionColumns) -> pd.DataFrame:
    """Return the cleaned lines as ``customer, invoice, day, amount`` (no invoice column: the day is the purchase)."""
    ts = parse_dates(df[columns.date], column=columns.date)
    if ts.isna().any():
        raise InputError(f"column {columns.date!r} has {int(ts.isna().sum())} empty dates after cleaning")
    day = ts.dt.normalize()
    if columns.amount is not None:
        amount = df[columns.amount]
    else:
        amount = df[cast(str, columns.quantity)] * df[cast(str, columns.price)]
    invoice = (
        df[columns.invoice].astype("string").str.strip() if columns.invoice is not None else day.dt.strftime("%Y-%m-%d")
    )
    return pd.DataFrame(
        {
            "customer": df[columns.customer].to_numpy(),
            "invoice": invoice.to_numpy(),
            "day": day.to_numpy(),
            "amount": amount.to_numpy(dtype=float),
        }
    )


def cut_at(work: pd.DataFrame, as_of: date | None, steps: list[dict[str, object]]) -> tuple[pd.DataFrame, date]:
    """Keep purchases before ``as_of`` (default: the day after the last one); record the cut as a cleaning step.

    An ``as_of`` inside the log is a calibration cut (what was known that day), e.g. the first 39 weeks of CDNOW
    that the published BG/NBD parameters were fitted on.
    """
    if as_of is None:
        return work, pd.Timestamp(work["day"].max()).date() + timedelta(days=1)
    work = work[work["day"] < pd.Timestamp(as_of)]
    steps.append({"step": "drop_on_or_after_as_of", "rows": len(work)})
    if work.empty:
        raise InputError(f"--as-of {as_of} is on or before the first purchase: no transactions left")
    return work, as_of


def rfm_table(work: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per-customer recency (days), frequency (distinct invoices), monetary (sum of line amounts) plus scores.

    ``work`` comes from :func:`purchase_lines` and :func:`cut_at`. Recency counts calendar days from the last
    purchase's date to ``as_of``, so a purchase on the day before ``as_of`` has recency 1.
    """
    grouped = work.groupby("customer", sort=False)
    out = pd.DataFrame(
        {
            "last_purchase": grouped["day"].max(),
            "frequency": grouped["invoice"].nunique(),
            "monetary": grouped["amount"].sum().round(2),
        }
    )
    out["recency"] = (pd.Timestamp(as_of) - out["last_purchase"]).dt.days.astype(int)
    out.index.name = "customer"
    out = out.reset_index()
    out = out.iloc[np.argsort(_id_sort_key(out["customer"]).to_numpy(), kind="stable")].reset_index(drop=True)
    out["last_purchase"] = out["last_purchase"].dt.date
    out["r_score"] = 5 - quintile_bins(out["recency"])
    # Rank in customer-id order breaks ties, so the F bins are equal-sized.
    f_rank = out["frequency"].rank(method="first")
    out["f_score"] = quintile_bins(f_rank) + 1
    out["m_score"] = quintile_bins(out["monetary"].rank(method="first")) + 1
    out["rf_segment"] = [rf_segment(r, f) for r, f in zip(out["r_score"], out["f_score"], strict=True)]
    cols = ["customer", "recency", "frequency", "monetary", "last_purchase", "r_score", "f_score", "m_score"]
    return out[[*cols, "rf_segment"]]


def rfm_matrix(rfm: pd.DataFrame) -> np.ndarray:
    """Capped (1st/99th percentile), log1p, standardised R, F, M: the heavy tails otherwise own K-means."""
    raw = rfm[["recency", "frequency", "monetary"]].to_numpy(dtype=float)
    lo, hi = np.quantile(raw, CAP_QUANTILES, axis=0)
    logged = np.log1p(np.clip(raw, np.maximum(lo, 0.0), hi))
    std = logged.std(axis=0)
    scaled: np.ndarray = (logged - logged.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return scaled


def _crosstab(labels: np.ndarray, rf: pd.Series) -> dict[str, dict[str, int]]:
    tab = pd.crosstab(pd.Series(labels, name="cluster"), rf.reset_index(drop=True))
    return {str(c): {str(k): int(v) for k, v in row.items() if v} for c, row in tab.iterrows()}


def _sizes(labels: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(labels, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}


def _profile(rfm: pd.DataFrame, labels: np.ndarray) -> dict[str, dict[str, float]]:
    means = rfm[["recency", "frequency", "monetary"]].groupby(labels).mean().round(2)
    return {str(int(cast(int, c))): {str(k): float(v) for k, v in row.items()} for c, row in means.iterrows()}


def cluster_rfm(
    rfm: pd.DataFrame, *, seed: int = 0, k_range: Sequence[int] = (2, DEFAULT_K_MAX)
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray]:
    """K-means (k chosen by the shared k-selection rule) and DBSCAN (eps from the k-distance knee).

    The K-means dict carries the k-selection scores under ``_selection`` (for the report; not JSON).
    """
    from seg_pipeline.segmentation.estimators import DBSCANSegmenter, KMeansSegmenter

    X = rfm_matrix(rfm)
    n = len(X)
    lo, hi = k_range[0], min(k_range[-1], n - 1)
    km = KMeansSegmenter(n_clusters="auto", k_range=(lo, max(lo, hi)), random_state=seed).fit(X)
    km_labels = np.asarray(km.labels_)
    sel = km.k_selection_
    kmeans: dict[str, Any] = {
        "k": len(np.unique(km_labels)),
        "k_reason": getattr(sel, "reason", None),
        **cluster_metrics(X, km_labels, seed=seed),
        "sizes": _sizes(km_labels),
        "profile": _profile(rfm, km_labels),
        "crosstab_vs_rf": _crosstab(km_labels, rfm["rf_segment"]),
        "_selection": sel,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = DBSCANSegmenter(random_state=seed).fit(X)
    db_labels = np.asarray(db.labels_)
    n_noise = int((db_labels == -1).sum())
    dbscan: dict[str, Any] = {
        "eps": float(db.eps_),
        "min_samples": int(db.min_samples_),
        "n_clusters": len(set(db_labels.tolist()) - {-1}),
        "n_noise": n_noise,
        "noise_share": round(n_noise / n, 4),
        **cluster_metrics(X, db_labels, seed=seed),
        "sizes": _sizes(db_labels),
        "profile": _profile(rfm, db_labels),
        "crosstab_vs_rf": _crosstab(db_labels, rfm["rf_segment"]),
        "warnings": sorted({str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)}),
    }
    return kmeans, dbscan, km_labels, db_labels


def run_rfm(
    input_path: Path,
    out_dir: Path,
    *,
    customer_col: str,
    invoice_col: str | None,
    date_col: str,
    quantity_col: str | None = None,
    price_col: str | None = None,
    amount_col: str | None = None,
    sep: str | None = None,
    k_max: int = DEFAULT_K_MAX,
    as_of: date | None = None,
    seed: int = 0,
    clv: bool = True,
) -> dict[str, Any]:
    """Run the whole RFM study; write ``summary.json``, ``customers.csv`` and ``report.html`` into ``out_dir``.

    ``as_of`` inside the log is a calibration cut: later purchases are left out (a cleaning step says how many).
    ``clv`` adds BG/NBD + Gamma-Gamma parameters to the summary and a 12-month CLV per customer and segment.
    """
    input_path = Path(input_path)
    if k_max < 2:
        raise InputError(f"--k-max {k_max} is below 2; K-means needs at least two segments to compare")
    columns = TransactionColumns(customer_col, invoice_col, date_col, quantity_col, price_col, amount_col)
    text_cols = [c for c in (customer_col, invoice_col, date_col) if c is not None]
    df = read_table(input_path, string_cols=text_cols, sep=sep)
    require_columns(df, columns.required(), source=input_path.name)
    clean, steps = clean_transactions(df, columns)
    if clean.empty:
        raise InputError(f"no transactions left in {input_path.name} after cleaning ({steps})")
    work, as_of = cut_at(purchase_lines(clean, columns), as_of, steps)
    rfm = rfm_table(work, as_of)
    summary: dict[str, Any] = {
        "input": input_path.name,
        "as_of": as_of.isoformat(),
        "seed": seed,
        "value": f"{amount_col} (line amount)" if amount_col else f"{quantity_col} x {price_col}",
        "purchase": f"distinct {invoice_col}" if invoice_col else "a customer's day (no invoice column)",
        "cleaning": steps,
        "customers": len(rfm),
        "rf_segments": {k: int(v) for k, v in rfm["rf_segment"].value_counts().sort_index().items()},
    }
    selection = None
    if len(rfm) >= MIN_CUSTOMERS_FOR_CLUSTERING:
        kmeans, dbscan, km_labels, db_labels = cluster_rfm(rfm, seed=seed, k_range=(2, k_max))
        selection = kmeans.pop("_selection")
        rfm = rfm.assign(kmeans_segment=km_labels, dbscan_segment=db_labels)
    else:
        reason = f"only {len(rfm)} customers; clustering needs at least {MIN_CUSTOMERS_FOR_CLUSTERING}"
        kmeans = dbscan = {"skipped": reason}
    summary["kmeans"] = kmeans
    summary["dbscan"] = dbscan
    if clv:
        rfm, summary["clv"] = _add_clv(rfm, work, as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rfm.to_csv(out_dir / "customers.csv", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    from seg_pipeline.segmentation.rfm_report import rfm_report_html

    html_text = rfm_report_html(summary, rfm, rfm_matrix(rfm) if selection is not None else None, selection)
    (out_dir / "report.html").write_text(html_text, encoding="utf-8")
    return summary


def _add_clv(rfm: pd.DataFrame, work: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit BG/NBD + Gamma-Gamma on the purchases before ``as_of``; join per-customer CLV; summarise per segment."""
    from seg_pipeline.segmentation.clv import clv_by_segment, fit_clv

    result = fit_clv(work[["customer", "day", "amount"]], as_of - timedelta(days=1))
    summary = result.summary()
    keep = [
        c
        for c in (
            "customer",
            "repeat_frequency",
            "recency_weeks",
            "age_weeks",
            "avg_repeat_value",
            "p_alive",
            "expected_purchases_12w",
            "clv",
        )
        if c in result.customers
    ]
    per_customer = result.customers[keep].copy()
    for col in ("recency_weeks", "age_weeks", "avg_repeat_value", "p_alive", "expected_purchases_12w"):
        if col in per_customer:
            per_customer[col] = per_customer[col].astype(float).round(4)
    rfm = rfm.merge(per_customer, on="customer", how="left", validate="one_to_one")
    summary["by_rf_segment"] = clv_by_segment(rfm, "rf_segment")
    if "kmeans_segment" in rfm:
        summary["by_kmeans_segment"] = clv_by_segment(rfm, "kmeans_segment")
    return rfm, summary
