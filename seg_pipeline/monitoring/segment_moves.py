"""Week-over-week segment migrations with hysteresis and human-readable explanations.

Account managers act on these rows, so a move is only *confirmed* once it is believable (the account stayed in
the new segment for ``confirm_weeks`` observed weeks, or its assignment margin is decisive) and a flapping
account never produces a second alert. Outliers entering/leaving and micro-community changes are recorded as
their own kinds so they never count as segment moves.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from seg_pipeline.monitoring.explain import Explainer
from seg_pipeline.monitoring.ledger import KINDS, LEDGER_COLUMNS, to_week, valid_mask, valid_segment

Row = dict[str, object]


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
    state: "ReplayState | None" = None  # the hysteresis state after this week, for the next week to start from

    def summary(self) -> dict[str, float | int]:
        """Plain numbers for Dagster metadata and the mass-migration check."""
        return {"moves": self.moves, "confirmed": self.confirmed, "accounts_both_weeks": self.accounts_both_weeks,
                "rate": self.rate, **{f"n_{k}": v for k, v in self.kind_counts.items()}}


# --- the hysteresis rule -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    confirm_weeks: int
    confirm_margin: float


@dataclass
class _State:
    stable: int | None = None
    last_confirm: int | None = None  # day number of the last confirmed move
    candidate: int | None = None
    run: int = 0


def _step(st: _State, day: int, seg: int, margin: float, rule: _Rule) -> tuple[str, int | None]:
    """Advance the hysteresis state by one observed week; returns (event, from_segment).

    event is "" (no move), "pending" (differs from the stable segment, not yet believable) or "confirmed".
    A decisive margin confirms at once unless the account was confirmed less than ``confirm_weeks`` ago, which
    is what stops a high-margin A→B→A flap from alerting twice.
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
    cooled = st.last_confirm is None or day - st.last_confirm >= 7 * rule.confirm_weeks
    decisive = not math.isnan(margin) and margin > rule.confirm_margin
    origin = st.stable
    if st.run >= rule.confirm_weeks or (decisive and cooled):
        st.stable, st.last_confirm, st.candidate, st.run = seg, day, None, 0
        return "confirmed", origin
    return "pending", origin


def _days(weeks: pd.Series) -> np.ndarray:
    days: np.ndarray = weeks.to_numpy("datetime64[D]").astype(np.int64)
    return days


STATE_COLUMNS = ["account_id", "stable", "last_confirm", "candidate", "run", "ledger_day", "ledger_to"]


@dataclass(frozen=True)
class ReplayState:
    """What the ledger of the week after ``week`` needs from every earlier week, so it never re-reads them.

    ``replay`` is each account's state after running all its observed weeks up to ``week`` through the rule
    (without the ledger override), ``ledger_last`` the latest confirmed move written per account, ``names`` the
    latest name of every segment id seen. Days are days since 1970-01-01. Stored per week in
    ``monitoring.migration_state`` / ``migration_names``; starting from it gives exactly the rows a replay of
    the whole history gives.
    """

    week: pd.Timestamp
    replay: dict[str, _State]
    ledger_last: dict[str, tuple[int, int]]
    names: dict[int, str]

    def frame(self) -> pd.DataFrame:
        """One row per account (``STATE_COLUMNS``; day columns as day numbers), sorted by account id."""
        ids = sorted(set(self.replay) | set(self.ledger_last))
        empty = _State()
        rows = [(a, (st := self.replay.get(a, empty)).stable, st.last_confirm, st.candidate, st.run,
                 *self.ledger_last.get(a, (None, None))) for a in ids]
        df = pd.DataFrame(rows, columns=STATE_COLUMNS)
        for col in ("stable", "last_confirm", "candidate", "run", "ledger_day", "ledger_to"):
            df[col] = df[col].astype("Int64")
        return df

    @classmethod
    def from_frames(cls, week: object, state: pd.DataFrame, names: pd.DataFrame) -> "ReplayState":
        """Rebuild the state written for ``week`` (``frame()``'s columns; ``names``: segment_id, segment_name)."""

        def opt(v: object) -> int | None:
            return None if v is None or pd.isna(v) else int(cast(int, v))  # type: ignore[call-overload]

        replay: dict[str, _State] = {}
        ledger_last: dict[str, tuple[int, int]] = {}
        r: Any
        for r in state.itertuples(index=False):
            if opt(r.stable) is not None or opt(r.candidate) is not None:
                replay[r.account_id] = _State(opt(r.stable), opt(r.last_confirm), opt(r.candidate), int(r.run or 0))
            day, to = opt(r.ledger_day), opt(r.ledger_to)
            if day is not None and to is not None:
                ledger_last[r.account_id] = (day, to)
        return cls(pd.Timestamp(cast(Any, week)).normalize(), replay, ledger_last,
                   dict(zip(names["segment_id"].astype(int), names["segment_name"].astype(str), strict=True)))


class _Replay:
    """Replays each account's past observed weeks through the rule, then lets the written ledger win.

    The replay starts from ``start`` (the stored state of an earlier week, else nothing) and runs the observed
    weeks after it. The ledger's latest confirmed move per account overrides the replay (when at least as
    recent), so a move that was alerted once is never confirmed again even if the rule's parameters changed.
    """

    def __init__(self, past_valid: pd.DataFrame, ledger_last: Mapping[str, tuple[int, int]], rule: _Rule,
                 start: Mapping[str, _State]) -> None:
        self.days, self.segs = _days(past_valid["week_start"]), past_valid["segment_id"].to_numpy(np.int64)
        self.margins = past_valid["margin"].to_numpy(float)
        self.positions = past_valid.groupby("account_id", sort=False).indices
        self.ledger_last, self.rule, self.start = ledger_last, rule, start

    def replayed(self, account_id: str) -> _State:
        """Return the account's state from its observed weeks alone (no ledger override), just before this week."""
        st = replace(self.start.get(account_id, _State()))
        for k in self.positions.get(account_id, ()):
            _step(st, int(self.days[k]), int(self.segs[k]), float(self.margins[k]), self.rule)
        return st

    def effective(self, replayed: _State, account_id: str) -> _State:
        """``replayed`` with the written ledger's latest confirmed move applied (a copy)."""
        st = replace(replayed)
        if account_id in self.ledger_last:
            lw, lt = self.ledger_last[account_id]
            if st.last_confirm is None or lw >= st.last_confirm:
                st.stable, st.last_confirm = lt, lw
                if st.candidate == lt:
                    st.candidate, st.run = None, 0
        return st


def _last_confirmed(prior_migrations: pd.DataFrame | None, week: pd.Timestamp) -> dict[str, tuple[int, int]]:
    """Map each account to (day, to_segment) of its latest confirmed segment move written before ``week``."""
    if prior_migrations is None or not len(prior_migrations):
        return {}
    pm = prior_migrations.assign(week_start=to_week(prior_migrations["week_start"]))
    pm = pm.loc[(pm["kind"] == "segment") & pm["confirmed"].astype(bool) & (pm["week_start"] < week)]
    pm = pm.sort_values("week_start", kind="mergesort").drop_duplicates("account_id", keep="last")
    return dict(zip(pm["account_id"], zip(_days(pm["week_start"]).tolist(), pm["to_segment"].astype(int).tolist(),
                                          strict=True), strict=True))


# --- inputs ---------------------------------------------------------------------------------------------------


def _segment_names(start: Mapping[int, str], *frames: pd.DataFrame) -> dict[int, str]:
    names: dict[int, str] = dict(start)
    for df in frames:
        if len(df) and "segment_name" in df.columns:
            sub = df.loc[valid_mask(df["segment_id"]) & df["segment_name"].notna()]
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


@dataclass(frozen=True)
class _Weeks:
    """Assignments normalized for comparison: this week (one row per account, by id), last week, the past."""

    cur: pd.DataFrame
    prev: pd.DataFrame
    past: pd.DataFrame  # earlier weeks (after the start state's) incl. last week, by account then week
    names: dict[int, str]


def _weeks(current: pd.DataFrame, previous: pd.DataFrame, history: pd.DataFrame, week: pd.Timestamp,
           state: ReplayState | None) -> _Weeks:
    cur = _prepare(current, week, "current")
    prev = _prepare(previous, week - pd.Timedelta(weeks=1), "previous")
    hist = _prepare(history, None, "history") if len(history) else prev.iloc[0:0]
    past = pd.concat([hist, prev], ignore_index=True)
    keep = past["week_start"] < week
    if state is not None:  # weeks up to the state's are already in it
        keep &= past["week_start"] > state.week
    past = past.loc[keep].drop_duplicates(["account_id", "week_start"], keep="last")
    past = past.sort_values(["account_id", "week_start"], kind="mergesort")
    names = _segment_names(state.names if state else {}, past.sort_values("week_start", kind="mergesort"),
                           cur)  # before de-duplicating cur
    cur = cur.drop_duplicates("account_id", keep="last").sort_values("account_id", kind="mergesort")
    return _Weeks(cur, prev, past, names)


# --- the ledger -----------------------------------------------------------------------------------------------


def _segment_moves(w: _Weeks, week: pd.Timestamp, replay_rule: _Rule, ledger_last: Mapping[str, tuple[int, int]],
                   explainer: Explainer, start: Mapping[str, _State]
                   ) -> tuple[list[Row], dict[str, int], dict[str, _State]]:
    """Build this week's segment rows, each account's last stable segment (matrix) and replayed state after it.

    The replayed state (no ledger override) is what the next week starts from.
    """
    cur_valid = w.cur.loc[valid_mask(w.cur["segment_id"])]
    vp = w.past.loc[valid_mask(w.past["segment_id"])]
    # Only accounts whose segment ever changed (or that have a ledger entry) need the week-by-week replay; the
    # start state counts as observations (its stable segment and any pending candidate).
    begun = pd.DataFrame([(a, v) for a, st in start.items() for v in (st.stable, st.candidate) if v is not None],
                         columns=["account_id", "segment_id"])
    seen = pd.concat([begun, vp[["account_id", "segment_id"]], cur_valid[["account_id", "segment_id"]]])
    seen["segment_id"] = seen["segment_id"].astype(np.int64)
    nuniq = seen.groupby("account_id")["segment_id"].nunique()
    changing = set(nuniq.index[nuniq > 1]) | set(ledger_last)
    # accounts that never changed: one segment, no pending move; their start's last confirmation is kept
    only = seen.drop_duplicates("account_id").set_index("account_id")["segment_id"].astype(int)
    after: dict[str, _State] = {
        a: _State(seg, start[a].last_confirm if a in start else None)  # type: ignore[misc,index]
        for a, seg in only.items() if a not in changing
    }
    has_past = set(start) | set(vp["account_id"])
    stable_now = {a: st.stable for a, st in after.items() if st.stable is not None and a in has_past}
    replay = _Replay(vp.loc[vp["account_id"].isin(changing)], ledger_last, replay_rule, start)
    week_day = int(_days(pd.Series([week]))[0])
    observed = dict(zip(cur_valid["account_id"], zip(cur_valid["segment_id"], cur_valid["margin"], strict=True),
                        strict=True))
    rows: list[Row] = []
    for acc in sorted(changing):
        replayed = replay.replayed(acc)
        after[acc] = replayed
        if acc not in observed:
            continue
        st = replay.effective(replayed, acc)
        if st.stable is not None:
            stable_now[acc] = st.stable
        seg_raw, margin = observed[acc]
        seg = int(seg_raw)
        _step(replayed, week_day, seg, float(margin), replay_rule)
        event, origin = _step(st, week_day, seg, float(margin), replay_rule)
        if event:
            rows.append({
                "account_id": acc, "week_start": week.date(), "from_segment": origin, "to_segment": seg,
                "from_name": w.names.get(origin, str(origin)) if origin is not None else None,
                "to_name": w.names.get(seg, str(seg)), "kind": "segment", "margin": float(margin),
                "confirmed": event == "confirmed", "explanation": explainer.explain(acc, origin, seg),
            })
    return rows, stable_now, after


def _changed_profiles(cur: pd.DataFrame, prev: pd.DataFrame) -> pd.DataFrame:
    """Accounts of both weeks whose outlier flag or micro-community changed, with both weeks' values."""
    p = prev.drop_duplicates("account_id", keep="last")[["account_id", "segment_id", "is_outlier",
                                                          "micro_community"]]
    m = cur.merge(p, on="account_id", suffixes=("", "_prev"))
    was_out = m["is_outlier_prev"].fillna(False).astype(bool)
    is_out = m["is_outlier"].fillna(False).astype(bool)
    mc_prev = pd.to_numeric(m["micro_community_prev"], errors="coerce")
    mc_cur = pd.to_numeric(m["micro_community"], errors="coerce")
    micro_changed = (mc_prev.fillna(-1) != mc_cur.fillna(-1)) & ~(mc_prev.isna() & mc_cur.isna())
    m = m.assign(was_out=was_out, is_out=is_out, mc_prev=mc_prev, mc_cur=mc_cur, micro_changed=micro_changed)
    return m.loc[(was_out != is_out) | micro_changed]


def _seg_or_none(v: object) -> int | None:
    return int(v) if valid_segment(v) else None


def _micro_label(v: int | None) -> str:
    return "no micro-community" if v is None else f"micro-community {v}"


def _outlier_and_micro_rows(cur: pd.DataFrame, prev: pd.DataFrame, names: Mapping[int, str],
                            week: pd.Timestamp, explainer: Explainer) -> list[Row]:
    """Outlier enter/leave and micro-community changes vs last week (no hysteresis: they are informational).

    ``confirmed`` is False for these kinds; it only ever means "confirmed segment move". For micro_change,
    from/to_segment hold the micro-community ids (null = none).
    """
    rows: list[Row] = []
    r: Any  # an itertuples row: its fields hold whatever the frame's columns hold
    for r in _changed_profiles(cur, prev).itertuples(index=False):
        base: Row = {"account_id": r.account_id, "week_start": week.date(), "margin": float(r.margin),
                     "confirmed": False}
        if r.was_out != r.is_out:
            seg_from, seg_to = _seg_or_none(r.segment_id_prev), _seg_or_none(r.segment_id)
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
                "from_name": _micro_label(m_from), "to_name": _micro_label(m_to),
                "explanation": f"{_micro_label(m_from)} → {_micro_label(m_to)}",
            })
    return rows


def _ledger_frame(rows: list[Row]) -> pd.DataFrame:
    """Rows in the contract's column order and types, sorted by kind then account."""
    ledger = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    ledger["from_segment"] = ledger["from_segment"].astype("Int64")
    ledger["to_segment"] = ledger["to_segment"].astype("Int64")
    ledger["margin"] = ledger["margin"].astype(float)
    ledger["confirmed"] = ledger["confirmed"].astype(bool)
    return ledger.sort_values(["kind", "account_id"], kind="mergesort").reset_index(drop=True)


def _transition_matrix(cur: pd.DataFrame, stable: Mapping[str, int], both: set[str]) -> pd.DataFrame:
    """Count (last stable segment → this week's segment) over accounts present both weeks; diagonal = stayed."""
    sub = cur.loc[cur["account_id"].isin(both) & cur["account_id"].isin(stable.keys())]
    sub = sub.loc[valid_mask(sub["segment_id"])]
    frm = sub["account_id"].map(stable).astype(int).rename("from_segment")
    to = sub["segment_id"].astype(int).rename("to_segment")
    tm = pd.crosstab(frm, to)
    labels = sorted(set(tm.index) | set(tm.columns))
    tm = tm.reindex(index=labels, columns=labels, fill_value=0)
    tm.index.name, tm.columns.name = "from_segment", "to_segment"
    return tm


def _result(ledger: pd.DataFrame, w: _Weeks, stable_now: Mapping[str, int]) -> MigrationResult:
    both = set(w.cur["account_id"]) & set(w.prev["account_id"])
    seg_rows = ledger.loc[ledger["kind"] == "segment"]
    n_conf = int(seg_rows["confirmed"].sum())
    return MigrationResult(
        ledger=ledger,
        transition_matrix=_transition_matrix(w.cur, stable_now, both),
        moves=len(seg_rows),
        confirmed=n_conf,
        accounts_both_weeks=len(both),
        rate=n_conf / len(both) if both else 0.0,
        kind_counts={k: int((ledger["kind"] == k).sum()) for k in KINDS},
    )


def _next_ledger_last(ledger_last: Mapping[str, tuple[int, int]], ledger: pd.DataFrame,
                      week: pd.Timestamp) -> dict[str, tuple[int, int]]:
    """``ledger_last`` updated with this week's confirmed segment moves."""
    out = dict(ledger_last)
    conf = ledger.loc[(ledger["kind"] == "segment") & ledger["confirmed"].astype(bool)]
    conf = conf.sort_values("account_id", kind="mergesort").drop_duplicates("account_id", keep="last")
    day = int(_days(pd.Series([week]))[0])
    out.update({a: (day, int(t)) for a, t in zip(conf["account_id"], conf["to_segment"], strict=True)})
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
    state: ReplayState | None = None,
) -> MigrationResult:
    """Compare this week's assignments with the account's last *stable* segment and return the week's ledger.

    ``history`` (earlier weeks) and ``previous`` are replayed through the same hysteresis rule, so the
    result depends only on the inputs, and rerunning a week gives the same rows. ``prior_migrations`` is the
    ledger as already written: its latest confirmed move per account wins over the replay, so a move that was
    alerted once is never confirmed again. Ledger rows of ``week_start`` or later are ignored (a rerun
    replaces them). Segment ids < 0 or null (noise) do not take part in segment moves; "consecutive weeks"
    counts the weeks in which the account was observed with a segment.

    With ``state`` (the stored :class:`ReplayState` of an earlier week) only the weeks after it need to be in
    ``history`` and ``prior_migrations``: the rows are the same as from the whole history, at a cost bounded
    by the week instead of by the history. The result's ``state`` is this week's, for the next week.
    """
    if confirm_weeks < 1:
        raise ValueError(f"confirm_weeks must be >= 1, got {confirm_weeks}")
    week = pd.Timestamp(week_start).normalize()
    if state is not None and state.week >= week:
        raise ValueError(f"the start state ({state.week.date()}) must be of a week before {week.date()}")
    w = _weeks(current, previous, history, week, state)
    explainer = Explainer(features_current, features_history, centroids_z, week)
    prior = prior_migrations
    if state is not None and prior is not None and len(prior):
        prior = prior.loc[to_week(prior["week_start"]) > state.week]
    ledger_last = {**(state.ledger_last if state else {}), **_last_confirmed(prior, week)}
    rows, stable_now, after = _segment_moves(w, week, _Rule(confirm_weeks, confirm_margin), ledger_last, explainer,
                                             state.replay if state else {})
    rows.extend(_outlier_and_micro_rows(w.cur, w.prev, w.names, week, explainer))
    result = _result(_ledger_frame(rows), w, stable_now)
    result.state = ReplayState(week, after, _next_ledger_last(ledger_last, result.ledger, week), w.names)
    return result
