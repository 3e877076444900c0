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
