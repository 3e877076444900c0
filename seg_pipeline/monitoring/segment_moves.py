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


class _Explainer:
    """Ranks an account's feature changes vs its own 4-week history by how far they pushed it to the new segment.

    Features are put on a comparable scale (log1p for heavy-tailed counts, then divided by this week's robust
    spread across accounts). With centroids, a change scores ``Δz · (c_to − c_from)``, which is exactly half the
    drop in (squared distance to the new centroid − squared distance to the old one); without, ``|Δz|``.
    """

    def __init__(self, features_current: pd.DataFrame, features_history: pd.DataFrame,
                 centroids_z: pd.DataFrame | None, week: pd.Timestamp) -> None:
        known = {f.name: f for f in registry.FEATURES if f.kind == "numeric"}
        if "account_id" not in features_current.columns:
            features_current = pd.DataFrame({"account_id": pd.Series([], dtype=object)})
        cols = [c for c in features_current.columns if c in known or c in FEATURE_TEXT]
        cols = [c for c in cols if pd.api.types.is_numeric_dtype(features_current[c])
                and not pd.api.types.is_bool_dtype(features_current[c])]
        if "account_id" not in features_history.columns or "week_start" not in features_history.columns:
            features_history = pd.DataFrame(columns=["account_id", "week_start", *cols])
        cols = [c for c in cols if c in features_history.columns]
        self.centroids = None
        if centroids_z is not None and len(centroids_z):
            cz = centroids_z.set_index("segment_id") if "segment_id" in centroids_z.columns else centroids_z
            shared = [c for c in cols if c in cz.columns]
            if shared:  # centroids in another feature space cannot direct the explanation: fall back to |Δz|
                self.centroids = cz.set_axis(cz.index.astype(int), axis=0)
                cols = shared
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
        # positional numpy lookups: explain() runs once per moved account, pandas .loc per call is too slow
        self._pos_cur = {a: i for i, a in enumerate(self.cur.index)}
        self._pos_hist = {a: i for i, a in enumerate(self.hist_t.index)}
        self._cur_raw = self.cur.to_numpy(float)
        self._hist_raw = self.hist_raw.reindex(self.hist_t.index)[cols].to_numpy(float)
        self._dz_cur = cur_t.to_numpy(float) / scale.to_numpy(float)
        self._dz_hist = self.hist_t[cols].to_numpy(float) / scale.to_numpy(float)
        self._cent = ({int(k): v for k, v in zip(self.centroids.index, self.centroids[cols].to_numpy(float),
                                                 strict=True)} if self.centroids is not None else {})

    def _transform(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.astype(float).copy()
        for c in self.heavy:
            out[c] = np.log1p(out[c].clip(lower=0))
        return out

    def explain(self, account_id: str, from_seg: object, to_seg: object, *, toward: bool = True) -> str:
        """Top features (positive contribution only) joined into one sentence fragment."""
        i, j = self._pos_cur.get(account_id), self._pos_hist.get(account_id)
        if i is None:
            return "no features this week"
        if j is None:
            return "no feature history to compare with (new account)"
        dz = np.nan_to_num(self._dz_cur[i] - self._dz_hist[j])
        c_to = self._cent.get(int(to_seg)) if toward and _valid_segment(to_seg) else None  # type: ignore[call-overload]
        if c_to is not None:
            c_from = self._cent.get(int(from_seg)) if _valid_segment(from_seg) else None  # type: ignore[call-overload]
            score = dz * (c_to - (c_from if c_from is not None else 0.0))
        else:
            score = np.abs(dz)
        score = np.where(np.isnan(self._cur_raw[i]) | np.isnan(self._hist_raw[j]), 0.0, score)
        order = [k for k in np.argsort(-score, kind="stable") if score[k] > 1e-9][:TOP_FEATURES]
        # drop minor contributors (< 10 % of the main one): they read as noise in an alert
        order = [k for k in order if score[k] >= 0.1 * score[order[0]]]
        if not order:
            return "no single feature change stands out"
        return "; ".join(describe_change(self.cols[k], float(self._cur_raw[i, k]), float(self._hist_raw[j, k]))
                         for k in order)


@dataclass
class _State:
    stable: int | None = None
    last_confirm: int | None = None  # day number of the last confirmed move
    candidate: int | None = None
    run: int = 0


def _step(st: _State, day: int, seg: int, margin: float, n_weeks: int,
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
    cooled = st.last_confirm is None or day - st.last_confirm >= 7 * n_weeks
    decisive = not math.isnan(margin) and margin > confirm_margin
    origin = st.stable
    if st.run >= n_weeks or (decisive and cooled):
        st.stable, st.last_confirm, st.candidate, st.run = seg, day, None, 0
        return "confirmed", origin
    return "pending", origin


def _days(weeks: pd.Series) -> np.ndarray:
    return weeks.to_numpy("datetime64[D]").astype(np.int64)


def _valid_mask(segments: pd.Series) -> pd.Series:
    num = pd.to_numeric(segments, errors="coerce")
    return num.notna() & (num >= 0)


def _segment_names(*frames: pd.DataFrame) -> dict[int, str]:
    names: dict[int, str] = {}
    for df in frames:
        if len(df) and "segment_name" in df.columns:
            sub = df.loc[_valid_mask(df["segment_id"]) & df["segment_name"].notna()]
            sub = sub.drop_duplicates("segment_id", keep="last")
            names.update(zip(sub["segment_id"].astype(int), sub["segment_name"].astype(str), strict=True))
    return names


def _prepare(df: pd.DataFrame, default_week: pd.Timestamp | None, what: str) -> pd.DataFrame:
    out = df.copy()
    for col in ("account_id", "segment_id"):
        if col not in out.columns:
            if len(out):
                raise ValueError(f"{what} assignments lack required column {col!r}")
            out[col] = pd.Series([], dtype=object if col == "account_id" else "Int64")
    if "segment_name" not in out.columns:
        out["segment_name"] = None
    if "week_start" not in out.columns or (default_week is not None and out["week_start"].isna().all()):
        out["week_start"] = default_week
    out["week_start"] = to_week(out["week_start"])
    for col, default in (("margin", np.nan), ("is_outlier", False), ("micro_community", pd.NA)):
        if col not in out.columns:
            out[col] = default
    out["margin"] = pd.to_numeric(out["margin"], errors="coerce").astype(float)
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
    replaces them). Segment ids < 0 or null (noise) do not take part in segment moves; "consecutive weeks"
    counts the weeks in which the account was observed with a segment.
    """
    if confirm_weeks < 1:
        raise ValueError(f"confirm_weeks must be >= 1, got {confirm_weeks}")
    week = pd.Timestamp(week_start).normalize()
    week_day = int(_days(pd.Series([week]))[0])
    cur = _prepare(current, week, "current")
    prev = _prepare(previous, week - pd.Timedelta(weeks=1), "previous")
    hist = _prepare(history, None, "history") if len(history) else prev.iloc[0:0]
    past = pd.concat([hist, prev], ignore_index=True)
    past = past.loc[past["week_start"] < week].drop_duplicates(["account_id", "week_start"], keep="last")
    past = past.sort_values(["account_id", "week_start"], kind="mergesort")
    names = _segment_names(past.sort_values("week_start", kind="mergesort"), cur)

    ledger_last: dict[str, tuple[int, int]] = {}
    if prior_migrations is not None and len(prior_migrations):
        pm = prior_migrations.assign(week_start=to_week(prior_migrations["week_start"]))
        pm = pm.loc[(pm["kind"] == "segment") & pm["confirmed"].astype(bool) & (pm["week_start"] < week)]
        pm = pm.sort_values("week_start", kind="mergesort").drop_duplicates("account_id", keep="last")
        ledger_last = dict(zip(pm["account_id"], zip(_days(pm["week_start"]).tolist(),
                                                     pm["to_segment"].astype(int).tolist(), strict=True),
                               strict=True))

    cur = cur.drop_duplicates("account_id", keep="last").sort_values("account_id", kind="mergesort")
    cur_valid = cur.loc[_valid_mask(cur["segment_id"])]
    vp = past.loc[_valid_mask(past["segment_id"])]
    # Only accounts whose segment ever changed (or that have a ledger entry) need the week-by-week replay.
    seen = pd.concat([vp[["account_id", "segment_id"]], cur_valid[["account_id", "segment_id"]]])
    nuniq = seen.groupby("account_id")["segment_id"].nunique()
    changing = set(nuniq.index[nuniq > 1]) | set(ledger_last)
    stable_now: dict[str, int] = vp.groupby("account_id")["segment_id"].last().astype(int).to_dict()

    sub = vp.loc[vp["account_id"].isin(changing)]
    sub_days, sub_segs = _days(sub["week_start"]), sub["segment_id"].to_numpy(np.int64)
    sub_margins = sub["margin"].to_numpy(float)
    positions = sub.groupby("account_id", sort=False).indices
    explainer = _Explainer(features_current, features_history, centroids_z, week)
    rows: list[dict[str, object]] = []
    todo = cur_valid.loc[cur_valid["account_id"].isin(changing)]
    for acc, seg_raw, margin in zip(todo["account_id"], todo["segment_id"], todo["margin"], strict=True):
        st = _State()
        for k in positions.get(acc, ()):
            _step(st, int(sub_days[k]), int(sub_segs[k]), float(sub_margins[k]), confirm_weeks, confirm_margin)
        if acc in ledger_last:
            lw, lt = ledger_last[acc]
            if st.last_confirm is None or lw >= st.last_confirm:
                st.stable, st.last_confirm = lt, lw
                if st.candidate == lt:
                    st.candidate, st.run = None, 0
        if st.stable is not None:
            stable_now[acc] = st.stable
        seg = int(seg_raw)
        event, origin = _step(st, week_day, seg, float(margin), confirm_weeks, confirm_margin)
        if event:
            rows.append({
                "account_id": acc, "week_start": week.date(), "from_segment": origin, "to_segment": seg,
                "from_name": names.get(origin, str(origin)) if origin is not None else None,
                "to_name": names.get(seg, str(seg)), "kind": "segment", "margin": float(margin),
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
        transition_matrix=_transition_matrix(cur_valid, stable_now, both),
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
    p = prev.drop_duplicates("account_id", keep="last")[["account_id", "segment_id", "is_outlier",
                                                          "micro_community"]]
    m = cur.merge(p, on="account_id", suffixes=("", "_prev"))
    was_out = m["is_outlier_prev"].fillna(False).astype(bool)
    is_out = m["is_outlier"].fillna(False).astype(bool)
    mc_prev = pd.to_numeric(m["micro_community_prev"], errors="coerce")
    mc_cur = pd.to_numeric(m["micro_community"], errors="coerce")
    micro_changed = (mc_prev.fillna(-1) != mc_cur.fillna(-1)) & ~(mc_prev.isna() & mc_cur.isna())
    m = m.assign(was_out=was_out, is_out=is_out, mc_prev=mc_prev, mc_cur=mc_cur, micro_changed=micro_changed)
    m = m.loc[(was_out != is_out) | micro_changed]

    def seg_or_none(v: object) -> int | None:
        return int(v) if _valid_segment(v) else None  # type: ignore[call-overload]

    def micro_label(v: int | None) -> str:
        return "no micro-community" if v is None else f"micro-community {v}"

    rows: list[dict[str, object]] = []
    for r in m.itertuples(index=False):
        base = {"account_id": r.account_id, "week_start": week.date(), "margin": float(r.margin),
                "confirmed": False}
        if r.was_out != r.is_out:
            seg_from, seg_to = seg_or_none(r.segment_id_prev), seg_or_none(r.segment_id)
            rows.append({
                **base, "kind": "outlier_enter" if r.is_out else "outlier_leave",
                "from_segment": seg_from, "to_segment": seg_to,
                "from_name": "Outlier" if r.was_out else names.get(seg_from) if seg_from is not None else None,
                "to_name": "Outlier" if r.is_out else names.get(seg_to) if seg_to is not None else None,
                "explanation": ("unusual for every segment: " if r.is_out else "back to a typical profile: ")
                + explainer.explain(r.account_id, None, None, toward=False),
            })
        if r.micro_changed:
            m_from = None if pd.isna(r.mc_prev) else int(r.mc_prev)
            m_to = None if pd.isna(r.mc_cur) else int(r.mc_cur)
            rows.append({
                **base, "kind": "micro_change", "from_segment": m_from, "to_segment": m_to,
                "from_name": micro_label(m_from), "to_name": micro_label(m_to),
                "explanation": f"{micro_label(m_from)} → {micro_label(m_to)}",
            })
    return rows


def _transition_matrix(cur: pd.DataFrame, stable: Mapping[str, int], both: set[str]) -> pd.DataFrame:
    """Counts of (last stable segment → this week's segment) over accounts present both weeks; diagonal = stayed."""
    sub = cur.loc[cur["account_id"].isin(both) & cur["account_id"].isin(stable.keys())]
    sub = sub.loc[_valid_mask(sub["segment_id"])]
    frm = sub["account_id"].map(stable).astype(int).rename("from_segment")
    to = sub["segment_id"].astype(int).rename("to_segment")
    tm = pd.crosstab(frm, to)
    labels = sorted(set(tm.index) | set(tm.columns))
    tm = tm.reindex(index=labels, columns=labels, fill_value=0)
    tm.index.name, tm.columns.name = "from_segment", "to_segment"
    return tm

