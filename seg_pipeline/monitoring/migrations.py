"""Week-over-week segment migrations with hysteresis and human-readable explanations.

Account managers act on these rows, so a move is only *confirmed* once it is believable (the account stayed in
the new segment for ``confirm_weeks`` observed weeks, or its assignment margin is decisive) and a flapping
account never produces a second alert. Outliers entering/leaving and micro-community changes are recorded as
their own kinds so they never count as segment moves.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from seg_pipeline.features import registry

LEDGER_COLUMNS = [
    "account_id", "week_start", "from_segment", "to_segment", "from_name", "to_name", "kind", "margin",
    "confirmed", "explanation",
]
KINDS = ("segment", "outlier_enter", "outlier_leave", "micro_change")
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


@dataclass
class MigrationResult:
    """Ledger rows for one week plus the counts the mass-migration check and dashboards need."""

    ledger: pd.DataFrame
    transition_matrix: pd.DataFrame
    moves: int
    confirmed: int
    accounts_both_weeks: int
    rate: float
    kind_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, float | int]:
        """Plain numbers for Dagster metadata and the mass-migration check."""
        return {"moves": self.moves, "confirmed": self.confirmed, "accounts_both_weeks": self.accounts_both_weeks,
                "rate": self.rate, **{f"n_{k}": v for k, v in self.kind_counts.items()}}


def to_week(values: pd.Series) -> pd.Series:
    """Normalize DATE / datetime / tz-aware values to naive midnight timestamps so weeks compare equal."""
    ts = pd.to_datetime(values)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.dt.normalize()


def _valid_segment(seg: object) -> bool:
    return seg is not None and not pd.isna(seg) and int(seg) >= 0  # type: ignore[call-overload]


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
        head = f"no {label} this week" if n == 0 else f"{n} {label} this week"
        return f"{head} (4-week mean {_fmt(hist_mean)})"
    if style == "pct":
        return f"{label} {current * 100:.0f} % (was {hist_mean * 100:.0f} %)"
    if style == "trend":
        return f"{label} {current * 100:+.0f} % (was {hist_mean * 100:+.0f} %)"
    if style == "money":
        return f"{label} ${current:,.0f} (was ${hist_mean:,.0f})"
    return f"{label} {_fmt(current)}{unit} (was {_fmt(hist_mean)}{unit})"


class _Explainer:
    """Ranks an account's feature changes vs its own 4-week history by how far they pushed it to the new segment.

    Features are put on a comparable scale (log1p for heavy-tailed counts, then divided by this week's robust
    spread across accounts). With centroids, a change scores ``Δz · (c_to − c_from)``, which is exactly half the
    drop in (squared distance to the new centroid − squared distance to the old one); without, ``|Δz|``.
    """

    def __init__(self, features_current: pd.DataFrame, features_history: pd.DataFrame,
                 centroids_z: pd.DataFrame | None, week: pd.Timestamp) -> None:
        known = {f.name: f for f in registry.FEATURES if f.kind == "numeric"}
        cols = [c for c in features_current.columns if c in known or c in FEATURE_TEXT]
        cols = [c for c in cols if pd.api.types.is_numeric_dtype(features_current[c])
                and not pd.api.types.is_bool_dtype(features_current[c])]
        self.centroids = None
        if centroids_z is not None and len(centroids_z):
            cz = centroids_z.set_index("segment_id") if "segment_id" in centroids_z.columns else centroids_z
            cz.index = cz.index.astype(int)
            self.centroids = cz
            cols = [c for c in cols if c in cz.columns] or cols
        self.cols = cols
        self.heavy = {c for c in cols if c in known and known[c].heavy_tailed}
        cur = features_current.drop_duplicates("account_id", keep="last").set_index("account_id")[cols]
        self.cur = cur.astype(float)
        hist = features_history
        if len(hist):
            weeks = to_week(hist["week_start"])
            keep = (weeks < week) & (weeks >= week - pd.Timedelta(weeks=HISTORY_WEEKS))
            hist = hist.loc[keep]
        self.hist_raw = hist.groupby("account_id")[cols].mean() if len(hist) else pd.DataFrame(columns=cols)
        self.hist_t = (self._transform(hist[["account_id", *cols]].set_index("account_id"))
                       .groupby(level=0).mean() if len(hist) else pd.DataFrame(columns=cols))
        cur_t = self._transform(self.cur)
        q75, q25 = cur_t.quantile(0.75), cur_t.quantile(0.25)
        scale = (q75 - q25) / 1.349
        std = cur_t.std(ddof=0)
        scale = scale.where(scale > 0, std).where(lambda s: s > 0, 1.0).fillna(1.0)
        self.scale = scale
        self.cur_t = cur_t

    def _transform(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.astype(float).copy()
        for c in self.heavy:
            out[c] = np.log1p(out[c].clip(lower=0))
        return out

    def explain(self, account_id: str, from_seg: object, to_seg: object, *, toward: bool = True) -> str:
        """Top features (positive contribution only) joined into one sentence fragment."""
        if account_id not in self.cur.index:
            return "no features this week"
        if account_id not in self.hist_t.index:
            return "no feature history to compare with (new account)"
        dz = ((self.cur_t.loc[account_id] - self.hist_t.loc[account_id]) / self.scale).fillna(0.0)
        if toward and self.centroids is not None and _valid_segment(to_seg) and int(to_seg) in self.centroids.index:  # type: ignore[call-overload]
            c_to = self.centroids.loc[int(to_seg), self.cols].astype(float)  # type: ignore[call-overload]
            if _valid_segment(from_seg) and int(from_seg) in self.centroids.index:  # type: ignore[call-overload]
                c_from = self.centroids.loc[int(from_seg), self.cols].astype(float)  # type: ignore[call-overload]
            else:
                c_from = pd.Series(0.0, index=self.cols)
            score = dz * (c_to - c_from)
        else:
            score = dz.abs()
        score = score[score > 1e-9].sort_values(ascending=False, kind="mergesort")
        if score.empty:
            return "no single feature change stands out"
        parts = [describe_change(f, float(self.cur.at[account_id, f]), float(self.hist_raw.at[account_id, f]))
                 for f in score.index[:TOP_FEATURES]]
        return "; ".join(parts)


@dataclass
class _State:
    stable: int | None = None
    last_confirm: pd.Timestamp | None = None
    candidate: int | None = None
    run: int = 0


def _step(st: _State, week: pd.Timestamp, seg: int, margin: float, n_weeks: int,
          confirm_margin: float) -> tuple[str, int | None]:
    """Advance the hysteresis state by one observed week; returns (event, from_segment).

    event is "" (no move), "pending" (differs from the stable segment, not yet believable) or "confirmed".
    A decisive margin confirms at once unless the account was confirmed less than ``n_weeks`` ago, which is
    what stops a high-margin A→B→A flap from alerting twice.
    """
    if st.stable is None:
        st.stable = seg
        return "", None
    if seg == st.stable:
        st.candidate, st.run = None, 0
        return "", None
    if seg == st.candidate:
        st.run += 1
    else:
        st.candidate, st.run = seg, 1
    cooled = st.last_confirm is None or (week - st.last_confirm) >= pd.Timedelta(weeks=n_weeks)
    decisive = margin is not None and not math.isnan(margin) and margin > confirm_margin
    origin = st.stable
    if st.run >= n_weeks or (decisive and cooled):
        st.stable, st.last_confirm, st.candidate, st.run = seg, week, None, 0
        return "confirmed", origin
    return "pending", origin


def _segment_names(*frames: pd.DataFrame) -> dict[int, str]:
    names: dict[int, str] = {}
    for df in frames:
        if len(df) and "segment_name" in df.columns:
            sub = df[["segment_id", "segment_name"]].dropna()
            for sid, name in zip(sub["segment_id"], sub["segment_name"], strict=True):
                names[int(sid)] = str(name)
    return names


def _prepare(df: pd.DataFrame, default_week: pd.Timestamp | None) -> pd.DataFrame:
    out = df.copy()
    if "week_start" not in out.columns or (default_week is not None and out["week_start"].isna().all()):
        out["week_start"] = default_week
    out["week_start"] = to_week(out["week_start"])
    for col, default in (("margin", np.nan), ("is_outlier", False), ("micro_community", pd.NA)):
        if col not in out.columns:
            out[col] = default
    return out


def detect_migrations(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    history: pd.DataFrame,
    features_current: pd.DataFrame,
    features_history: pd.DataFrame,
    centroids_z: pd.DataFrame | None,
    week_start: date,
    confirm_weeks: int = 2,
    confirm_margin: float = 1.0,
    prior_migrations: pd.DataFrame | None = None,
) -> MigrationResult:
    """Compare this week's assignments with the account's last *stable* segment and return the week's ledger.

    ``history`` (all earlier weeks) and ``previous`` are replayed through the same hysteresis rule, so the
    result depends only on the inputs, and rerunning a week gives the same rows. ``prior_migrations`` is the
    ledger as already written: its latest confirmed move per account wins over the replay, so a move that was
    alerted once is never confirmed again. Ledger rows of ``week_start`` or later are ignored (a rerun
    replaces them). Segment ids < 0 or null (noise) do not take part in segment moves.
    """
    if confirm_weeks < 1:
        raise ValueError(f"confirm_weeks must be >= 1, got {confirm_weeks}")
    week = pd.Timestamp(week_start).normalize()
    cur = _prepare(current, week)
    prev = _prepare(previous, week - pd.Timedelta(weeks=1))
    hist = _prepare(history, None) if len(history) else prev.iloc[0:0]
    past = pd.concat([hist, prev], ignore_index=True)
    past = past.loc[past["week_start"] < week].drop_duplicates(["account_id", "week_start"], keep="last")
    past = past.sort_values(["account_id", "week_start"], kind="mergesort")
    names = _segment_names(past.sort_values("week_start", kind="mergesort"), cur)

    ledger_last: dict[str, tuple[pd.Timestamp, int]] = {}
    if prior_migrations is not None and len(prior_migrations):
        pm = prior_migrations.copy()
        pm["week_start"] = to_week(pm["week_start"])
        pm = pm.loc[(pm["kind"] == "segment") & pm["confirmed"].astype(bool) & (pm["week_start"] < week)]
        pm = pm.sort_values("week_start", kind="mergesort").drop_duplicates("account_id", keep="last")
        ledger_last = {a: (w, int(t)) for a, w, t in zip(pm["account_id"], pm["week_start"], pm["to_segment"],
                                                         strict=True)}

    seq = {a: g for a, g in past.groupby("account_id", sort=False)}
    explainer = _Explainer(features_current, features_history, centroids_z, week)
    rows: list[dict[str, object]] = []
    stable_now: dict[str, int] = {}

    cur = cur.drop_duplicates("account_id", keep="last").sort_values("account_id", kind="mergesort")
    for rec in cur.itertuples(index=False):
        acc = rec.account_id
        st = _State()
        g = seq.get(acc)
        if g is not None:
            for w, s, m in zip(g["week_start"], g["segment_id"], g["margin"], strict=True):
                if _valid_segment(s):
                    _step(st, w, int(s), float(m), confirm_weeks, confirm_margin)
        if acc in ledger_last:
            lw, lt = ledger_last[acc]
            if st.last_confirm is None or lw >= st.last_confirm:
                st.stable, st.last_confirm = lt, lw
                if st.candidate == lt:
                    st.candidate, st.run = None, 0
        if st.stable is not None:
            stable_now[acc] = st.stable
        if not _valid_segment(rec.segment_id):
            continue
        seg, margin = int(rec.segment_id), float(rec.margin)
        event, origin = _step(st, week, seg, margin, confirm_weeks, confirm_margin)
        if event:
            rows.append({
                "account_id": acc, "week_start": week.date(), "from_segment": origin, "to_segment": seg,
                "from_name": names.get(origin, str(origin)) if origin is not None else None,
                "to_name": names.get(seg, str(seg)), "kind": "segment", "margin": margin,
                "confirmed": event == "confirmed", "explanation": explainer.explain(acc, origin, seg),
            })

    rows.extend(_outlier_and_micro_rows(cur, prev, names, week, explainer))
    ledger = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    ledger["from_segment"] = ledger["from_segment"].astype("Int64")
    ledger["to_segment"] = ledger["to_segment"].astype("Int64")
    ledger["margin"] = ledger["margin"].astype(float)
    ledger["confirmed"] = ledger["confirmed"].astype(bool)
    ledger = ledger.sort_values(["kind", "account_id"], kind="mergesort").reset_index(drop=True)

    both = set(cur["account_id"]) & set(prev["account_id"])
    seg_rows = ledger.loc[ledger["kind"] == "segment"]
    n_conf = int(seg_rows["confirmed"].sum())
    return MigrationResult(
        ledger=ledger,
        transition_matrix=_transition_matrix(cur, stable_now, both),
        moves=len(seg_rows),
        confirmed=n_conf,
        accounts_both_weeks=len(both),
        rate=n_conf / len(both) if both else 0.0,
        kind_counts={k: int((ledger["kind"] == k).sum()) for k in KINDS},
    )


def _outlier_and_micro_rows(cur: pd.DataFrame, prev: pd.DataFrame, names: Mapping[int, str],
                            week: pd.Timestamp, explainer: _Explainer) -> list[dict[str, object]]:
    """Outlier enter/leave and micro-community changes vs last week (no hysteresis: they are informational).

    ``confirmed`` is False for these kinds; it only ever means "confirmed segment move". For micro_change,
    from/to_segment hold the micro-community ids (null = none).
    """
    p = prev.drop_duplicates("account_id", keep="last").set_index("account_id")
    rows: list[dict[str, object]] = []
    for rec in cur.itertuples(index=False):
        if rec.account_id not in p.index:
            continue
        before = p.loc[rec.account_id]
        was_out, is_out = bool(before["is_outlier"]), bool(rec.is_outlier)
        base = {"account_id": rec.account_id, "week_start": week.date(), "margin": float(rec.margin),
                "confirmed": False}
        seg_from = int(before["segment_id"]) if _valid_segment(before["segment_id"]) else None
        seg_to = int(rec.segment_id) if _valid_segment(rec.segment_id) else None
        if was_out != is_out:
            kind = "outlier_enter" if is_out else "outlier_leave"
            rows.append({
                **base, "kind": kind, "from_segment": seg_from, "to_segment": seg_to,
                "from_name": "Outlier" if was_out else names.get(seg_from, None) if seg_from is not None else None,
                "to_name": "Outlier" if is_out else names.get(seg_to, None) if seg_to is not None else None,
                "explanation": ("unusual for every segment: " if is_out else "back to a typical profile: ")
                + explainer.explain(rec.account_id, None, None, toward=False),
            })
        m_from, m_to = before["micro_community"], rec.micro_community
        m_from = None if pd.isna(m_from) else int(m_from)
        m_to = None if pd.isna(m_to) else int(m_to)
        if m_from != m_to:
            def label(m: int | None) -> str:
                return "no micro-community" if m is None else f"micro-community {m}"
            rows.append({
                **base, "kind": "micro_change", "from_segment": m_from, "to_segment": m_to,
                "from_name": label(m_from), "to_name": label(m_to),
                "explanation": f"{label(m_from)} → {label(m_to)}",
            })
    return rows


def _transition_matrix(cur: pd.DataFrame, stable: Mapping[str, int], both: set[str]) -> pd.DataFrame:
    """Counts of (last stable segment → this week's segment) over accounts present both weeks; diagonal = stayed."""
    sub = cur.loc[cur["account_id"].isin(both) & cur["account_id"].isin(stable.keys())]
    sub = sub.loc[sub["segment_id"].map(_valid_segment)]
    frm = sub["account_id"].map(stable).astype(int).rename("from_segment")
    to = sub["segment_id"].astype(int).rename("to_segment")
    tm = pd.crosstab(frm, to)
    labels = sorted(set(tm.index) | set(tm.columns))
    tm = tm.reindex(index=labels, columns=labels, fill_value=0)
    tm.index.name, tm.columns.name = "from_segment", "to_segment"
    return tm

