"""Drift on a stratified sample: the sample keeps segment shares, and still catches a planted shift.

The population here is 60 000 accounts per week in four segments of unequal size; the report compares
``SAMPLE_ROWS`` (5 000) per side. Evidently's verdicts on the sample are checked against a real
``DataDriftPreset`` report on the same rows.
"""

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.monitoring.drift import (
    SAMPLE_ROWS,
    allocate,
    compare,
    drift_report,
    stratified_sample,
)

N = 60_000
SHARES = {0: 0.5, 1: 0.25, 2: 0.15, 3: 0.10}
COLS = ["weekly_active_users", "seat_utilisation", "p1_tickets", "csat_avg", "mrr"]


def company(seed: int, *, shift: dict[str, float] | None = None, segment_shift: int | None = None) -> pd.DataFrame:
    """Accounts in four segments with their own profiles; ``shift`` adds ``{feature: amount}`` (to one segment)."""
    rng = np.random.default_rng(seed)
    seg = rng.choice(list(SHARES), size=N, p=list(SHARES.values()))
    df = pd.DataFrame({
        "account_id": [f"acc_{i:07d}" for i in range(N)],
        "segment_id": seg,
        "weekly_active_users": rng.poisson(10 + 30 * seg),
        "seat_utilisation": rng.beta(2 + seg, 3),
        "p1_tickets": rng.poisson(0.1 + 0.5 * (seg == 3)),
        "csat_avg": rng.normal(4.4 - 0.3 * seg, 0.3),
        "mrr": rng.lognormal(6 + 0.5 * seg, 0.6),
    })
    for col, amount in (shift or {}).items():
        rows = slice(None) if segment_shift is None else df["segment_id"] == segment_shift
        df.loc[rows, col] = df.loc[rows, col] + amount
    return df


@pytest.fixture(scope="module")
def weeks() -> dict[str, pd.DataFrame]:
    ref = company(1)
    sd = float(ref["csat_avg"].std())
    return {
        "reference": ref,
        "control": company(2),  # the same company, redrawn: nothing moved
        # csat down by 0.25 standard deviations for everyone: Wasserstein/std ≈ 0.25, the threshold is 0.1
        "shifted": company(2, shift={"csat_avg": -0.25 * sd}),
        # seat utilisation up 0.15 inside segment 2 only (15 % of the accounts)
        "segment_shifted": company(2, shift={"seat_utilisation": 0.15}, segment_shift=2),
    }


def test_allocation_is_proportional_and_exact() -> None:
    quota = allocate(pd.Series({0: 5001, 1: 2500, 2: 1499, 3: 1000}), 1000)
    assert quota.sum() == 1000
    assert quota.to_dict() == {0: 500, 1: 250, 2: 150, 3: 100}
    assert allocate(pd.Series({0: 3, 1: 4}), 10).to_dict() == {0: 3, 1: 4}


def test_sample_keeps_segment_shares_and_is_stable_across_weeks(weeks: dict[str, pd.DataFrame]) -> None:
    ref, cur = weeks["reference"], weeks["control"]
    a = stratified_sample(ref, SAMPLE_ROWS, seed=7)
    assert len(a) == SAMPLE_ROWS
    full = ref["segment_id"].value_counts(normalize=True)
    drawn = a["segment_id"].value_counts(normalize=True)
    assert (drawn - full).abs().max() < 1 / SAMPLE_ROWS + 1e-12  # exact up to rounding
    # order does not matter, the seed does
    shuffled = stratified_sample(ref.sample(frac=1, random_state=3), SAMPLE_ROWS, seed=7)
    pd.testing.assert_frame_equal(a, shuffled)
    assert set(stratified_sample(ref, SAMPLE_ROWS, seed=8)["account_id"]) != set(a["account_id"])
    # an account keeps its key: accounts staying in their segment are drawn in both weeks
    b = stratified_sample(cur, SAMPLE_ROWS, seed=7)
    same_segment = set(ref.loc[ref["segment_id"] == cur["segment_id"], "account_id"])
    drawn_a = set(a["account_id"]) & same_segment
    assert len(drawn_a & set(b["account_id"])) > 0.9 * len(drawn_a)


def test_planted_shift_is_flagged_on_the_sample_and_the_control_is_not(weeks, tmp_path) -> None:
    ref = weeks["reference"]
    control = drift_report(weeks["control"], ref, columns=COLS, out_dir=tmp_path, name="control", seed=7)
    shifted = drift_report(weeks["shifted"], ref, columns=COLS, out_dir=tmp_path, name="shifted", seed=7)
    assert control.drifted_features == []
    assert shifted.drifted_features == ["csat_avg"]
    assert shifted.per_column["csat_avg"]["method"] == "Wasserstein distance (normed)"  # as on all rows
    # the sample's score is close to the one on all 60 000 rows
    full = compare(weeks["shifted"], ref, ["csat_avg"])["per_column"]["csat_avg"]
    assert full["drifted"]
    assert shifted.per_column["csat_avg"]["score"] == pytest.approx(full["score"], abs=0.05)
    for res in (control, shifted):
        assert res.summary()["n_features"] == len(COLS)
    assert all(p["score"] < 0.06 for p in control.per_column.values())  # far from the 0.1 threshold


def test_shift_inside_one_segment_is_flagged_in_that_segment(weeks, tmp_path) -> None:
    res = drift_report(weeks["segment_shifted"], weeks["reference"], columns=COLS, out_dir=tmp_path,
                       name="segments", seed=7, segments=[0, 1, 2])
    assert res.segments["2"]["drifted_features"] == ["seat_utilisation"]
    assert res.segments["0"]["drifted_features"] == []
    assert res.segments["1"]["drifted_features"] == []
    assert res.segments["2"]["rows_current"] == 2_000  # SEGMENT_ROWS of the segment's ~9 000 accounts


@pytest.mark.parametrize("n", [300, 1500])  # both of Evidently's regimes: K-S/chi-square and Wasserstein/JS
def test_verdicts_are_evidently_data_drift_preset(n: int) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = ["weekly_active_users", "csat_avg", "p1_tickets"]
    cur = weeks_head(company(5, shift={"csat_avg": -0.05}), n)
    ref = weeks_head(company(6), n)
    ours = compare(cur, ref, cols)["per_column"]
    definition = DataDefinition(numerical_columns=cols)
    snapshot = Report([DataDriftPreset(columns=cols)]).run(
        current_data=Dataset.from_pandas(cur[cols].astype(float), data_definition=definition),
        reference_data=Dataset.from_pandas(ref[cols].astype(float), data_definition=definition))
    theirs = {m["config"]["column"]: m for m in snapshot.dict()["metrics"]
              if m["config"].get("type", "").endswith("ValueDrift")}
    for c in cols:
        assert ours[c]["method"] == theirs[c]["config"]["method"]
        assert ours[c]["threshold"] == pytest.approx(theirs[c]["config"]["threshold"])
        assert ours[c]["score"] == pytest.approx(float(theirs[c]["value"]))


def weeks_head(df: pd.DataFrame, n: int) -> pd.DataFrame:
    return df.head(n).reset_index(drop=True)
