"""Why an account moved, in words an account manager understands.

The top feature changes vs the account's own 4-week history, ranked by how far they pushed it towards its new
segment, each rendered as a short phrase ("weekly active users -62 % vs its 4-week mean").
"""

import numpy as np
import pandas as pd

from seg_pipeline.features import registry
from seg_pipeline.monitoring.ledger import to_week, valid_segment

HISTORY_WEEKS = 4
TOP_FEATURES = 3

# feature -> (label, style, unit). Styles: rel = % change vs the 4-week mean; count = "n <label> this week";
# pct = ratio shown as a percentage; trend = ratio-1 shown as a signed %; level = value with unit; money = USD.
FEATURE_TEXT: dict[str, tuple[str, str, str]] = {
    "weekly_active_users": ("weekly active users", "rel", ""),
    "active_days": ("active days", "level", " of 7"),
    "logins": ("logins", "rel", ""),
    "events_total": ("product events", "rel", ""),
    "feature_breadth": ("product features used", "level", " of 12"),
    "key_feature_adoption": ("key-feature adoption", "pct", ""),
    "api_calls": ("API calls", "rel", ""),
    "api_share": ("API share of events", "pct", ""),
    "exports": ("exports", "rel", ""),
    "invites": ("invites sent", "rel", ""),
    "wau_trend": ("active-user trend", "trend", ""),
    "events_trend": ("event trend", "trend", ""),
    "tickets_opened": ("support tickets", "count", ""),
    "p1_tickets": ("P1 tickets", "count", ""),
    "tickets_4w": ("support tickets over 4 weeks", "level", ""),
    "p1_tickets_4w": ("P1 tickets over 4 weeks", "level", ""),
    "median_resolution_hours": ("median ticket resolution", "level", " h"),
    "csat_avg": ("CSAT", "level", "/5"),
    "open_backlog": ("open ticket backlog", "level", ""),
    "seats": ("licensed seats", "level", ""),
    "seat_utilisation": ("seat utilisation", "pct", ""),
    "mrr": ("MRR", "money", ""),
    "tenure_weeks": ("tenure", "level", " weeks"),
    "weeks_to_renewal": ("weeks to renewal", "level", ""),
    "activation_score": ("activation score", "level", "/100"),
    "support_load_score": ("support load score", "level", "/100"),
}


def _fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}".rstrip("0").rstrip(".")


def describe_change(feature: str, current: float, hist_mean: float) -> str:
    """One feature's change in words an account manager understands."""
    label, style, unit = FEATURE_TEXT.get(feature, (feature.replace("_", " "), "rel", ""))
    if style == "rel":
        if hist_mean == 0:
            return f"{label} {_fmt(current)} this week (none in the previous 4 weeks)"
        pct = (current / hist_mean - 1.0) * 100.0
        return f"{label} {pct:+.0f} % vs its 4-week mean"
    if style == "count":
        n = round(current)
        noun = label.removesuffix("s") if n == 1 else label
        head = f"no {label} this week" if n == 0 else f"{n} {noun} this week"
        return f"{head} (4-week mean {_fmt(hist_mean)})"
    if style == "pct":
        return f"{label} {current * 100:.0f} % (was {hist_mean * 100:.0f} %)"
    if style == "trend":
        return f"{label} {current * 100:+.0f} % (was {hist_mean * 100:+.0f} %)"
    if style == "money":
        return f"{label} ${current:,.0f} (was ${hist_mean:,.0f})"
    return f"{label} {_fmt(current)}{unit} (was {_fmt(hist_mean)}{unit})"


def _numeric_features() -> dict[str, registry.Feature]:
    return {f.name: f for f in registry.FEATURES if f.kind == "numeric"}


def _explainable_columns(current: pd.DataFrame, history: pd.DataFrame) -> list[str]:
    """Numeric (non-boolean) feature columns of this week, restricted to the history's when it has keys."""
    known = _numeric_features()
    cols = [c for c in current.columns if c in known or c in FEATURE_TEXT]
    cols = [c for c in cols if pd.api.types.is_numeric_dtype(current[c])
            and not pd.api.types.is_bool_dtype(current[c])]
    if "account_id" in history.columns and "week_start" in history.columns:
        cols = [c for c in cols if c in history.columns]
    return cols


def _centroids_in(centroids_z: pd.DataFrame | None, cols: list[str]) -> tuple[pd.DataFrame | None, list[str]]:
    """(centroids indexed by int segment id, the columns they share with ``cols``); (None, cols) if none."""
    if centroids_z is None or not len(centroids_z):
        return None, cols
    cz = centroids_z.set_index("segment_id") if "segment_id" in centroids_z.columns else centroids_z
    shared = [c for c in cols if c in cz.columns]
    if not shared:  # centroids in another feature space cannot direct the explanation: fall back to |Δz|
        return None, cols
    return cz.set_axis(cz.index.astype(int), axis=0), shared


def _recent(history: pd.DataFrame, week: pd.Timestamp) -> pd.DataFrame:
    """List the ``HISTORY_WEEKS`` weeks before ``week``."""
    if not len(history):
        return history
    weeks = to_week(history["week_start"])
    return history.loc[(weeks < week) & (weeks >= week - pd.Timedelta(weeks=HISTORY_WEEKS))]


def _robust_scale(values: pd.DataFrame) -> pd.Series:
    """Per-column spread across accounts: IQR/1.349, else the std, else 1 (never 0 or NaN)."""
    q75, q25 = values.quantile(0.75), values.quantile(0.25)
    scale = (q75 - q25) / 1.349
    std = values.std(ddof=0)
    return scale.where(scale > 0, std).where(lambda s: s > 0, 1.0).fillna(1.0)


class Explainer:
    """Ranks an account's feature changes vs its own 4-week history by how far they pushed it to the new segment.

    Features are put on a comparable scale (log1p for heavy-tailed counts, then divided by this week's robust
    spread across accounts). With centroids, a change scores ``Δz · (c_to − c_from)``, which is exactly half the
    drop in (squared distance to the new centroid − squared distance to the old one); without, ``|Δz|``.
    """

    def __init__(self, features_current: pd.DataFrame, features_history: pd.DataFrame,
                 centroids_z: pd.DataFrame | None, week: pd.Timestamp) -> None:
        """Prepare the week's comparable feature scales and each account's history once, for every move."""
        known = _numeric_features()
        if "account_id" not in features_current.columns:
            features_current = pd.DataFrame({"account_id": pd.Series([], dtype=object)})
        cols = _explainable_columns(features_current, features_history)
        if "account_id" not in features_history.columns or "week_start" not in features_history.columns:
            features_history = pd.DataFrame(columns=["account_id", "week_start", *cols])
        self.centroids, cols = _centroids_in(centroids_z, cols)
        self.cols = cols
        self.heavy = {c for c in cols if c in known and known[c].heavy_tailed}
        self.cur = features_current.drop_duplicates("account_id", keep="last").set_index("account_id")[cols]
        self.cur = self.cur.astype(float)
        hist = _recent(features_history, week)
        self.hist_raw = hist.groupby("account_id")[cols].mean() if len(hist) else pd.DataFrame(columns=cols)
        self.hist_t = (self._transform(hist[["account_id", *cols]].set_index("account_id"))
                       .groupby(level=0).mean() if len(hist) else pd.DataFrame(columns=cols))
        cur_t = self._transform(self.cur)
        scale = _robust_scale(cur_t).to_numpy(float)
        # positional numpy lookups: explain() runs once per moved account, pandas .loc per call is too slow
        self._pos_cur = {a: i for i, a in enumerate(self.cur.index)}
        self._pos_hist = {a: i for i, a in enumerate(self.hist_t.index)}
        self._cur_raw = self.cur.to_numpy(float)
        self._hist_raw = self.hist_raw.reindex(self.hist_t.index)[cols].to_numpy(float)
        self._dz_cur = cur_t.to_numpy(float) / scale
        self._dz_hist = self.hist_t[cols].to_numpy(float) / scale
        self._cent = ({int(k): v for k, v in zip(self.centroids.index, self.centroids[cols].to_numpy(float),
                                                 strict=True)} if self.centroids is not None else {})

    def _transform(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.astype(float).copy()
        for c in self.heavy:
            out[c] = np.log1p(out[c].clip(lower=0))
        return out

    def _scores(self, i: int, j: int, from_seg: object, to_seg: object, toward: bool) -> np.ndarray:
        """Each feature's push towards ``to_seg`` (``|Δz|`` without its centroid); 0 where a value is missing."""
        dz = np.nan_to_num(self._dz_cur[i] - self._dz_hist[j])
        c_to = self._cent.get(int(to_seg)) if toward and valid_segment(to_seg) else None
        if c_to is not None:
            c_from = self._cent.get(int(from_seg)) if valid_segment(from_seg) else None
            score = dz * (c_to - (c_from if c_from is not None else 0.0))
        else:
            score = np.abs(dz)
        return np.where(np.isnan(self._cur_raw[i]) | np.isnan(self._hist_raw[j]), 0.0, score)

    def explain(self, account_id: str, from_seg: object, to_seg: object, *, toward: bool = True) -> str:
        """Top features (positive contribution only) joined into one sentence fragment."""
        i, j = self._pos_cur.get(account_id), self._pos_hist.get(account_id)
        if i is None:
            return "no features this week"
        if j is None:
            return "no feature history to compare with (new account)"
        score = self._scores(i, j, from_seg, to_seg, toward)
        order = [k for k in np.argsort(-score, kind="stable") if score[k] > 1e-9][:TOP_FEATURES]
        # drop minor contributors (< 10 % of the main one): they read as noise in an alert
        order = [k for k in order if score[k] >= 0.1 * score[order[0]]]
        if not order:
            return "no single feature change stands out"
        return "; ".join(describe_change(self.cols[k], float(self._cur_raw[i, k]), float(self._hist_raw[j, k]))
                         for k in order)
