"""`seg evaluate`: score the pipeline's output against the simulator's planted truth.

Only the CLI calls this (the pipeline never reads the truth). It answers three questions a data scientist asks
before trusting the segments: do they recover the personas (ARI per week), are the confirmed migrations real
ones (precision / recall after mapping segments to personas), and are the alerts into at-risk segments that
were planned for the account managers right, and how early (alert precision, recall of churners, lead time).
"""

from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.monitoring.ledger import LEDGER_COLUMNS, to_week
from seg_pipeline.segmentation.personas import into_at_risk, is_at_risk

OUTLIER = "outlier"
MATCH_WINDOW = pd.Timedelta(weeks=2)
ALERT_WINDOW_WEEKS = 8  # an alert into at-risk is right when its account churns within this many weeks after it
ALERT_COLUMNS = ("account_id", "week_start", "from_name", "to_name")


def _predicted_label(df: pd.DataFrame) -> pd.Series:
    return pd.Series(np.where(df["is_outlier"].fillna(False).astype(bool), OUTLIER,
                              "seg_" + df["segment_id"].astype("Int64").astype(str)), index=df.index)


def segment_persona_map(joined: pd.DataFrame) -> dict[int, str]:
    """Majority truth persona per segment id over all weeks (ties: alphabetical), ignoring predicted outliers."""
    core = joined.loc[~joined["is_outlier"].fillna(False).astype(bool) & joined["segment_id"].notna()]
    if core.empty:
        return {}
    counts = core.groupby(["segment_id", "persona"]).size().rename("n").reset_index()
    counts = counts.sort_values(["segment_id", "n", "persona"], ascending=[True, False, True], kind="mergesort")
    best = counts.drop_duplicates("segment_id")
    return {int(s): str(p) for s, p in zip(best["segment_id"], best["persona"], strict=True)}


def _match_migrations(pred: pd.DataFrame, truth: pd.DataFrame) -> int:
    """Greedy one-to-one matching: same account, same (from, to) personas, weeks within ±2; closest first."""
    if pred.empty or truth.empty:
        return 0
    cand = pred.reset_index(names="pid").merge(truth.reset_index(names="tid"), on="account_id",
                                               suffixes=("", "_t"))
    cand = cand.loc[(cand["from_persona"] == cand["from_persona_t"]) & (cand["to_persona"] == cand["to_persona_t"])]
    cand = cand.assign(gap=(cand["week_start"] - cand["week_start_t"]).abs())
    cand = cand.loc[cand["gap"] <= MATCH_WINDOW].sort_values(["gap", "pid", "tid"], kind="mergesort")
    used_p: set[int] = set()
    used_t: set[int] = set()
    for p, t in zip(cand["pid"], cand["tid"], strict=True):
        if p not in used_p and t not in used_t:
            used_p.add(p)
            used_t.add(t)
    return len(used_p)


def _ari_per_week(joined: pd.DataFrame) -> list[dict[str, Any]]:
    """ARI of each week's predicted labels (outliers as one class) vs the truth personas, with and without outliers."""
    per_week: list[dict[str, Any]] = []
    for week, g in joined.groupby("week_start", sort=True):
        pred = _predicted_label(g)
        truth = g["persona"].astype(str)
        core = (pred != OUTLIER) & (truth != OUTLIER)
        per_week.append({
            "week_start": pd.Timestamp(cast(pd.Timestamp, week)).date().isoformat(), "n_accounts": len(g),
            "ari": float(adjusted_rand_score(truth, pred)),
            "ari_core": float(adjusted_rand_score(truth[core], pred[core])) if core.any() else None,
        })
    return per_week


def _predicted_migrations(migrations: pd.DataFrame, mapping: dict[int, str]) -> pd.DataFrame:
    """Return the ledger's confirmed segment moves with their from/to segments mapped to personas."""
    confirmed = pd.DataFrame(columns=LEDGER_COLUMNS) if migrations.empty else migrations.loc[
        (migrations["kind"] == "segment") & migrations["confirmed"].astype(bool)]
    return pd.DataFrame({
        "account_id": confirmed["account_id"].to_numpy(),
        "week_start": to_week(confirmed["week_start"]).to_numpy(),
        "from_persona": [mapping.get(int(s)) if pd.notna(s) else None for s in confirmed["from_segment"]],
        "to_persona": [mapping.get(int(s)) if pd.notna(s) else None for s in confirmed["to_segment"]],
    })


def _visible_true_migrations(truth_migrations: pd.DataFrame, weeks: list[pd.Timestamp]) -> pd.DataFrame:
    """Keep the true moves the pipeline could see as segment moves: in the assigned weeks, not from/to an outlier."""
    tm = truth_migrations.assign(week_start=to_week(truth_migrations["week_start"]))
    if weeks:
        tm = tm.loc[(tm["week_start"] > weeks[0]) & (tm["week_start"] <= weeks[-1])]
    tm = tm.loc[(tm["from_persona"] != OUTLIER) & (tm["to_persona"] != OUTLIER)]
    return tm[["account_id", "week_start", "from_persona", "to_persona"]].reset_index(drop=True)


def _near_planted_move(pairs: pd.DataFrame, truth_migrations: pd.DataFrame) -> pd.Series:
    """Flag (account, week) rows with any planted migration of that account within ±2 weeks (any personas)."""
    tm = truth_migrations.assign(week_start=to_week(truth_migrations["week_start"]))[["account_id", "week_start"]]
    cand = pairs[["account_id", "week_start"]].reset_index(names="rid").merge(tm, on="account_id", suffixes=("", "_t"))
    near = cand.loc[(cand["week_start"] - cand["week_start_t"]).abs() <= MATCH_WINDOW, "rid"]
    return pd.Series(pairs.index.isin(near.unique()), index=pairs.index)


def unmoved_change_shares(joined: pd.DataFrame, truth_migrations: pd.DataFrame) -> list[dict[str, Any]]:
    """Per week, the share of unmoved accounts whose predicted label (outlier counts as one) changed.

    Unmoved: assigned in the previous and this week, the same truth persona in both, and no planted migration
    within ±2 weeks. This is the segment churn an account manager would see without any real change.
    """
    cur = joined.assign(label=_predicted_label(joined))[["account_id", "week_start", "label", "persona"]]
    prev = cur.assign(week_start=cur["week_start"] + pd.Timedelta(weeks=1))
    pairs = cur.merge(prev, on=["account_id", "week_start"], suffixes=("", "_prev"))
    pairs = pairs.loc[pairs["persona"].astype(str) == pairs["persona_prev"].astype(str)].reset_index(drop=True)
    pairs = pairs.loc[~_near_planted_move(pairs, truth_migrations)]
    out: list[dict[str, Any]] = []
    for week, g in pairs.groupby("week_start", sort=True):
        changed = int((g["label"] != g["label_prev"]).sum())
        out.append({"week_start": pd.Timestamp(cast(pd.Timestamp, week)).date().isoformat(),
                    "unmoved_accounts": len(g), "changed": changed, "share": changed / len(g)})
    return out


def _first_at_risk(asg: pd.DataFrame, churn: pd.DataFrame) -> pd.DataFrame:
    """Per churned account flagged at-risk on or before its churn week: its first at-risk week and churn week."""
    risky = asg.loc[asg["segment_name"].map(is_at_risk), ["account_id", "week_start"]]
    risky = risky.merge(churn[["account_id", "churn_week"]], on="account_id")
    risky = risky.loc[risky["week_start"] <= risky["churn_week"]]
    return risky.groupby("account_id").agg(first=("week_start", "min"), churn=("churn_week", "first"))


def _weeks_between(start: pd.Series, end: pd.Series) -> pd.Series:
    return (end - start).dt.days // 7


def alert_outcomes(alerts: pd.DataFrame, churn: pd.DataFrame, *, first_week: pd.Timestamp | None,
                   horizon: pd.Timestamp | None) -> dict[str, Any]:
    """Score the planned alerts into at-risk segments against the true churn weeks.

    ``alerts`` are the items of the AM digests the alerts sink planned (``sinks.alert_items``); an alert is
    *into at-risk* by :func:`~seg_pipeline.segmentation.personas.is_into_at_risk`. It is right when its account
    churns 1 to 8 weeks after the alert's week (an alert is read after its week closed, so a churn in that
    week is too late). Churn is known up to ``horizon`` (the last simulated week): alerts less than 8 weeks
    before it are judged on the weeks observed (``alert_precision`` is then a lower bound;
    ``alert_precision_followed_up`` keeps the alerts with the whole window observed). Recall: of the accounts
    that churned at least two weeks after ``first_week`` (the first week a move can be alerted is the second
    assigned week), the share with an into-at-risk alert in the 8 weeks before churning; lead time: weeks from
    that account's first such alert to its churn.
    """
    missing = [c for c in ALERT_COLUMNS if c not in alerts.columns]
    if missing:
        raise ValueError(f"alerts are missing column(s): {', '.join(missing)}")
    a = alerts.assign(week_start=to_week(alerts["week_start"]))
    risky = a.loc[into_at_risk(a["from_name"], a["to_name"]), ["account_id", "week_start"]]
    risky = risky.merge(churn[["account_id", "churn_week"]], on="account_id", how="left")
    lead = _weeks_between(risky["week_start"], risky["churn_week"])
    hit = lead.between(1, ALERT_WINDOW_WEEKS)
    full = (risky["week_start"] + pd.Timedelta(weeks=ALERT_WINDOW_WEEKS) <= horizon) if horizon is not None \
        else pd.Series(False, index=risky.index)
    first_hit = risky.loc[hit].groupby("account_id").agg(first=("week_start", "min"), churn=("churn_week", "first"))
    leads = _weeks_between(first_hit["first"], first_hit["churn"])
    alertable = churn if first_week is None else churn.loc[
        churn["churn_week"] >= first_week + pd.Timedelta(weeks=2)]
    caught = int(alertable["account_id"].isin(first_hit.index).sum())
    return {
        "alerts_planned": len(a),
        "alerts_into_at_risk": len(risky),
        "alerts_into_at_risk_followed_by_churn": int(hit.sum()),
        "alert_precision": float(hit.mean()) if len(risky) else None,
        "alerts_into_at_risk_followed_up": int(full.sum()),
        "alert_precision_followed_up": float(hit[full].mean()) if full.any() else None,
        "median_alert_lead_weeks": float(leads.median()) if len(leads) else None,
        "churners_alertable": int(alertable["account_id"].nunique()),
        "churners_alerted_before_churn": caught,
        "alert_recall": caught / alertable["account_id"].nunique() if len(alertable) else None,
    }


def evaluate(truth_personas: pd.DataFrame, truth_migrations: pd.DataFrame, truth_churn: pd.DataFrame,
             assignments: pd.DataFrame, migrations: pd.DataFrame, alerts: pd.DataFrame | None = None,
             ) -> dict[str, Any]:
    """Compare assignments / the migration ledger with the truth; returns a JSON-friendly dict.

    - ARI per week over accounts present in both; predicted outliers (``is_outlier``) form one "outlier" class,
      matching the truth persona of that name. ``ari_core`` repeats it without any outlier on either side.
    - Migrations: confirmed ``kind == "segment"`` rows, mapped to personas by the majority mapping, match a
      true migration of the same account whose from/to personas agree within ±2 weeks (one-to-one). True
      migrations outside the assigned weeks, or from/to "outlier", are not counted (the pipeline cannot see them
      as segment moves). None when there is nothing to divide by.
    - ``unmoved_change_share``: per week, the share of accounts without any planted change (same persona in the
      previous and this week, no planted migration within ±2 weeks) whose segment or outlier flag changed;
      ``_max`` / ``_mean`` over the weeks. Segments must follow sustained behaviour, not a quiet week.
    - Median whole weeks from an account's first week in an at-risk segment (``personas.is_at_risk``) to its
      churn week (at-risk weeks after the churn week are ignored): segment membership, not alerts.
    - Alerts (``alerts``: the planned AM digest items, empty when None): see :func:`alert_outcomes`.
    """
    tp = truth_personas.assign(week_start=to_week(truth_personas["week_start"]))
    asg = assignments.assign(week_start=to_week(assignments["week_start"]))
    joined = asg.merge(tp[["account_id", "week_start", "persona"]], on=["account_id", "week_start"], how="inner")
    joined = joined.loc[joined["persona"].notna()]
    per_week = _ari_per_week(joined)
    mapping = segment_persona_map(joined)
    pred_m = _predicted_migrations(migrations, mapping)
    tm = _visible_true_migrations(truth_migrations, sorted(asg["week_start"].unique()))
    matched = _match_migrations(pred_m, tm)
    churn = truth_churn.assign(churn_week=to_week(truth_churn["churn_week"]))
    first = _first_at_risk(asg, churn)
    lead_weeks = ((first["churn"] - first["first"]).dt.days // 7).astype(int)
    unmoved = unmoved_change_shares(joined, truth_migrations)
    shares = [u["share"] for u in unmoved]

    ari_values = [w["ari"] for w in per_week]
    weeks = sorted(asg["week_start"].unique())
    alert_scores = alert_outcomes(
        pd.DataFrame(columns=ALERT_COLUMNS) if alerts is None else alerts, churn,
        first_week=pd.Timestamp(weeks[0]) if weeks else None,
        horizon=pd.Timestamp(tp["week_start"].max()) if len(tp) else None)
    return {
        "per_week": per_week,
        "per_week_ari": ari_values,
        "mean_ari": float(np.mean(ari_values)) if ari_values else None,
        "segment_persona_map": {str(k): v for k, v in sorted(mapping.items())},
        "predicted_migrations": len(pred_m),
        "true_migrations": len(tm),
        "matched_migrations": matched,
        "precision": matched / len(pred_m) if len(pred_m) else None,
        "recall": matched / len(tm) if len(tm) else None,
        "churned_accounts": int(churn["account_id"].nunique()),
        "churned_flagged_at_risk": len(first),
        "median_weeks_at_risk_to_churn": float(lead_weeks.median()) if len(lead_weeks) else None,
        "unmoved_change_share": unmoved,
        "unmoved_change_share_max": max(shares) if shares else None,
        "unmoved_change_share_mean": float(np.mean(shares)) if shares else None,
        **alert_scores,
    }
