"""Revenue at risk: the MRR of accounts whose current segment is an at-risk persona, per segment and per AM."""

import pandas as pd
import pytest

from seg_pipeline.reports.value import UNASSIGNED_AM, by_account_manager, by_segment, flag_at_risk


def _accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d", "e"],
            "segment_id": [0, 2, 2, 3, 1],
            "segment_name": ["Power Users", "Declining / At-Risk", "Declining / At-Risk", "Dormant 2", "Steady Core"],
            "is_outlier": [False, True, False, False, False],
            "mrr": [1000.0, 300.0, None, 50.0, 200.0],
            "account_manager_id": ["am1", "am1", "am2", None, "am2"],
            "account_manager_name": ["Ada", "Ada", "Grace", None, ""],
        }
    )


def test_at_risk_uses_the_persona_definition_including_suffixed_duplicates() -> None:
    flagged = flag_at_risk(_accounts())
    assert flagged["at_risk"].tolist() == [False, True, True, True, False]
    assert flagged["mrr_at_risk"].tolist() == [0.0, 300.0, 0.0, 50.0, 0.0]  # unknown MRR counts as 0, not NaN


def test_per_segment_totals() -> None:
    seg = by_segment(_accounts()).set_index("segment_id")
    assert seg.loc[2, "accounts"] == 2
    assert seg.loc[2, "outliers"] == 1
    assert seg.loc[2, "mrr"] == pytest.approx(300.0)
    assert seg.loc[2, "mrr_at_risk"] == pytest.approx(300.0)
    assert not seg.loc[0, "at_risk"]
    assert seg["mrr_at_risk"].sum() == pytest.approx(350.0)


def test_per_account_manager_most_at_risk_first_and_nobody_lost() -> None:
    am = by_account_manager(_accounts())
    assert am["am_name"].tolist() == ["Ada", UNASSIGNED_AM, "Grace"]
    assert am["accounts"].sum() == 5  # accounts without an AM are a row of their own, not dropped
    ada = am.iloc[0]
    assert (ada["accounts"], ada["accounts_at_risk"], ada["mrr"], ada["mrr_at_risk"]) == (2, 1, 1300.0, 300.0)
    # an AM row with an id but an empty name is labelled by the id
    grace = am[am["am_id"] == "am2"].iloc[0]
    assert grace["am_name"] == "Grace"
