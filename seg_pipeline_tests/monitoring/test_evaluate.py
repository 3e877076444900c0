from datetime import date, timedelta

import pandas as pd
import pytest

from seg_pipeline.monitoring import evaluate as evaluate_module
from seg_pipeline.monitoring.evaluate import evaluate
from seg_pipeline.segmentation import personas

W = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(6)]
SEG = {"steady_core": 0, "declining_at_risk": 1, "power_users": 2}
NAME = {0: "Steady Core", 1: "Declining / At-Risk", 2: "Power Users"}


def persona_of(acc: str, i: int) -> str | None:
    fixed = {"p": "power_users", "s": "steady_core", "d": "declining_at_risk", "o": "outlier"}
    churn = {"d1": 4, "p1": 5}
    if acc in churn and i > churn[acc]:
        return None
    if acc == "b1":
        return "steady_core" if i < 2 else "declining_at_risk"
    if acc == "b2":
        return "power_users" if i < 2 else "steady_core"
    return fixed[acc[0]]


ACCOUNTS = ["p1", "p2", "p3", "s1", "s2", "s3", "b1", "b2", "d1", "d2", "o1"]


def truth_personas() -> pd.DataFrame:
    rows = [{"account_id": a, "week_start": W[i], "persona": persona_of(a, i)}
            for i in range(6) for a in ACCOUNTS if persona_of(a, i)]
    return pd.DataFrame(rows)


def perfect_assignments(tp: pd.DataFrame) -> pd.DataFrame:
    out = tp.copy()
    out["is_outlier"] = out["persona"] == "outlier"
    out["segment_id"] = out["persona"].map(SEG).fillna(0).astype(int)  # outliers keep their nearest segment
    out["segment_name"] = out["segment_id"].map(NAME)
    return out.drop(columns="persona")


def ledger(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"account_id": a, "week_start": W[i], "from_segment": f, "to_segment": t,
                          "kind": k, "confirmed": c} for a, i, f, t, k, c in rows])


TRUTH_MIGRATIONS = pd.DataFrame([
    {"account_id": "b1", "week_start": W[2], "from_persona": "steady_core", "to_persona": "declining_at_risk"},
    {"account_id": "b2", "week_start": W[2], "from_persona": "power_users", "to_persona": "steady_core"},
    {"account_id": "o1", "week_start": W[1], "from_persona": "steady_core", "to_persona": "outlier"},
])
CHURN = pd.DataFrame({"account_id": ["d1", "p1", "d2"], "churn_week": [W[4], W[5], W[5]]})


def test_perfect_assignments_and_known_migration_scores():
    tp = truth_personas()
    preds = ledger([
        ("b1", 2, 0, 1, "segment", False),   # pending: ignored
        ("b1", 3, 0, 1, "segment", True),    # true positive (1 week after the true move)
        ("s1", 2, 0, 2, "segment", True),    # no such true move
        ("b2", 5, 2, 0, "segment", True),    # right personas, 3 weeks late: outside ±2
        ("o1", 1, 0, 0, "outlier_enter", False),
    ])
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, perfect_assignments(tp), preds)
    assert res["per_week_ari"] == pytest.approx([1.0] * 6)
    assert res["mean_ari"] == pytest.approx(1.0)
    assert all(w["ari_core"] == pytest.approx(1.0) for w in res["per_week"])
    assert res["segment_persona_map"] == {"0": "steady_core", "1": "declining_at_risk", "2": "power_users"}
    assert (res["predicted_migrations"], res["true_migrations"], res["matched_migrations"]) == (3, 2, 1)
    assert res["precision"] == pytest.approx(1 / 3)
    assert res["recall"] == pytest.approx(1 / 2)
    # d1 at risk from week 0, churns week 4; d2 from week 0, churns week 5; p1 never flagged
    assert res["median_weeks_at_risk_to_churn"] == pytest.approx(4.5)
    assert (res["churned_accounts"], res["churned_flagged_at_risk"]) == (3, 2)


def test_wrong_outlier_flags_and_wrong_personas_lower_the_scores():
    tp = truth_personas()
    asg = perfect_assignments(tp)
    asg.loc[asg["account_id"] == "o1", "is_outlier"] = False  # missed outlier
    asg.loc[asg["account_id"] == "s1", "segment_id"] = 2  # s1 looks like a power user
    preds = ledger([("b1", 4, 2, 1, "segment", True)])  # mapped power_users → declining: wrong from persona
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, asg, preds)
    assert all(a < 1.0 for a in res["per_week_ari"])
    assert res["precision"] == 0.0
    assert res["recall"] == 0.0


def test_empty_predictions_give_none_precision():
    tp = truth_personas()
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, perfect_assignments(tp), pd.DataFrame())
    assert res["precision"] is None
    assert res["recall"] == 0.0


def test_at_risk_is_the_persona_definition():
    """One definition of at-risk (the AM alerts'): a suffixed or other at-risk persona counts, free text does not."""
    assert evaluate_module.is_at_risk is personas.is_at_risk
    tp = truth_personas()
    asg = perfect_assignments(tp)
    for name in ("Declining / At-Risk", "Declining / At-Risk 2", "Dormant", "Support-Heavy Strugglers"):
        renamed = asg.assign(segment_name=asg["segment_name"].replace({"Declining / At-Risk": name}))
        res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, renamed, pd.DataFrame())
        assert (res["churned_flagged_at_risk"], res["median_weeks_at_risk_to_churn"]) == (2, 4.5), name
    free_text = asg.assign(segment_name=asg["segment_name"].replace({"Declining / At-Risk": "Enterprise at-risk"}))
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, free_text, pd.DataFrame())
    assert res["churned_flagged_at_risk"] == 0
    assert res["median_weeks_at_risk_to_churn"] is None


def test_unmoved_change_share_counts_only_accounts_without_a_planted_change():
    """Hand-made weeks: which accounts count as unmoved, and which of them changed label (outlier included)."""
    segs = {  # account -> predicted label per week W0..W5 (None = absent, "o" = outlier)
        "u1": [0, 0, 0, 2, 0, 0],        # flips to 2 at W3 and back at W4: two unmoved changes
        "u2": [0, 0, 0, 0, 0, 0],
        "u3": [0, 0, "o", 0, 0, 0],      # outlier flag on at W2, off at W3: two changes
        "m1": [0, 1, 1, 1, 1, 1],        # planted move at W3: W1..W5 are within ±2 weeks, never counted
        "m2": [0, 1, 1, 1, 1, 1],        # planted move at W4: the W1 change is 3 weeks before it, so it counts
        "g1": [0, 0, None, 0, 0, 0],     # absent at W2: no W1→W2 or W2→W3 pair
        "x1": [0, 0, 2, 2, 2, 2],        # truth persona changes at W2 (no ledger row): that pair is excluded
    }
    rows, truth = [], []
    for acc, labels in segs.items():
        for i, lab in enumerate(labels):
            if lab is None:
                continue
            rows.append({"account_id": acc, "week_start": W[i], "is_outlier": lab == "o",
                         "segment_id": 0 if lab == "o" else lab, "segment_name": "Steady Core"})
            persona = "power_users" if acc == "x1" and i >= 2 else "steady_core"
            truth.append({"account_id": acc, "week_start": W[i], "persona": persona})
    planted = pd.DataFrame([
        {"account_id": "m1", "week_start": W[3], "from_persona": "steady_core", "to_persona": "power_users"},
        {"account_id": "m2", "week_start": W[4], "from_persona": "steady_core", "to_persona": "power_users"},
    ])
    no_churn = pd.DataFrame({"account_id": pd.Series([], dtype=object),
                             "churn_week": pd.Series([], dtype="datetime64[ns]")})
    res = evaluate(pd.DataFrame(truth), planted, no_churn, pd.DataFrame(rows), pd.DataFrame())
    got = [(u["week_start"], u["unmoved_accounts"], u["changed"]) for u in res["unmoved_change_share"]]
    assert got == [
        (W[1].isoformat(), 6, 1),  # u1 u2 u3 m2 g1 x1; m2 changed
        (W[2].isoformat(), 3, 1),  # u1 u2 u3 (m2 now within ±2 of W4, x1's persona changed); u3 became an outlier
        (W[3].isoformat(), 4, 2),  # u1 u2 u3 x1; u1 moved, u3 left the outliers
        (W[4].isoformat(), 5, 1),  # + g1; u1 back
        (W[5].isoformat(), 5, 0),
    ]
    shares = [1 / 6, 1 / 3, 2 / 4, 1 / 5, 0.0]
    assert [u["share"] for u in res["unmoved_change_share"]] == pytest.approx(shares)
    assert res["unmoved_change_share_max"] == pytest.approx(0.5)
    assert res["unmoved_change_share_mean"] == pytest.approx(sum(shares) / 5)


def test_unmoved_change_share_is_zero_for_perfect_assignments():
    tp = truth_personas()
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, perfect_assignments(tp), pd.DataFrame())
    assert res["unmoved_change_share_max"] == 0.0
    assert len(res["unmoved_change_share"]) == 5


def alerts(rows: list[tuple[str, int, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"account_id": a, "week_start": W[i], "from_name": f, "to_name": t} for a, i, f, t in rows],
                        columns=list(evaluate_module.ALERT_COLUMNS))


def test_alert_precision_recall_and_lead_come_from_the_planned_alerts():
    """Only alerts into a more severe at-risk state count; right = churn 1..8 weeks later; lead from the first."""
    tp = truth_personas()
    planned = alerts([
        ("d1", 1, "Steady Core", "Declining / At-Risk"),           # churns week 4: right, 3 weeks ahead
        ("d1", 2, "Declining / At-Risk", "Dormant"),               # right too (more severe), but not the first
        ("d2", 3, "Dormant", "Support-Heavy Strugglers"),          # coming back: not into at-risk
        ("s1", 2, "Steady Core", "Support-Heavy Strugglers 2"),    # into at-risk, never churns: wrong
        ("p1", 5, "Power Users", "Declining / At-Risk"),           # alert in its churn week: too late, wrong
        ("s2", 1, "Steady Core", "Power Users"),                   # not an at-risk move at all
    ])
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, perfect_assignments(tp), pd.DataFrame(), planned)
    assert (res["alerts_planned"], res["alerts_into_at_risk"]) == (6, 4)
    assert res["alerts_into_at_risk_followed_by_churn"] == 2
    assert res["alert_precision"] == pytest.approx(2 / 4)
    assert res["median_alert_lead_weeks"] == pytest.approx(3.0)
    # d1 (week 4), p1 and d2 (week 5) churned at least two weeks after the first assigned week; only d1 was warned
    assert (res["churners_alertable"], res["churners_alerted_before_churn"]) == (3, 1)
    assert res["alert_recall"] == pytest.approx(1 / 3)
    assert res["alerts_into_at_risk_followed_up"] == 0  # 6 simulated weeks: no alert has 8 weeks of follow-up
    assert res["alert_precision_followed_up"] is None


def test_no_alerts_give_none_precision_and_zero_recall():
    tp = truth_personas()
    res = evaluate(tp, TRUTH_MIGRATIONS, CHURN, perfect_assignments(tp), pd.DataFrame())
    assert (res["alerts_planned"], res["alert_precision"], res["median_alert_lead_weeks"]) == (0, None, None)
    assert res["alert_recall"] == 0.0
    with pytest.raises(ValueError, match="alerts are missing column"):
        evaluate_module.alert_outcomes(pd.DataFrame({"account_id": []}), CHURN, first_week=None, horizon=None)
