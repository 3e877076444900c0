"""CLV on a public transaction log: `seg rfm` on the CDNOW sample reproduces the published BG/NBD and Gamma-Gamma fits.

Published (Fader, Hardie & Lee 2005; lifetimes docs), 2,357 customers, weeks 1-39 of 1997: BG/NBD r=0.243,
alpha=4.414, a=0.793, b=2.426; Gamma-Gamma on the 946 repeat customers p=6.25, q=3.74, v=15.44. `seg rfm` drops the
8 zero-dollar lines (its cleaning rule: non-positive amounts are not purchases), which removes 8 one-purchase
customers; the BG/NBD parameters move by < 1 %, the Gamma-Gamma ones (repeat customers only) not at all.
"""

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import main
from seg_pipeline.segmentation.clv import fit_clv, repeat_purchase_summary
from seg_pipeline.segmentation.public_logs import write_cdnow_sample

PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CDNOW_ARGS = [
    "--customer-col",
    "customer_id",
    "--date-col",
    "date",
    "--amount-col",
    "dollar_value",
    "--as-of",
    "1997-10-01",
]


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("cdnow")
    src = write_cdnow_sample(tmp / "cdnow.csv", sep=";")
    out = CliRunner().invoke(
        main, ["rfm", str(src), *CDNOW_ARGS, "--sep", ";", "--k-max", "6", "--out", str(tmp / "out")]
    )
    assert out.exit_code == 0, out.output
    return out.output, tmp / "out"


def test_cdnow_parameters_match_the_published_fit(cdnow_run: tuple[str, Path]) -> None:
    output, out_dir = cdnow_run
    clv = json.loads((out_dir / "summary.json").read_text())["clv"]
    assert clv["observation_end"] == "1997-09-30"
    assert clv["repeat_customers"] == 946
    for name, value in PUBLISHED_BG_NBD.items():
        assert clv["bg_nbd"][name] == pytest.approx(value, rel=0.01), name
    for name, value in PUBLISHED_GAMMA_GAMMA.items():
        assert clv["gamma_gamma"][name] == pytest.approx(value, abs=0.006), name
    # the CLI prints the same parameters
    assert f"BG/NBD: r={clv['bg_nbd']['r']:.4f}, alpha={clv['bg_nbd']['alpha']:.4f}" in output
    assert f"Gamma-Gamma: p={clv['gamma_gamma']['p']:.4f}" in output


def test_cdnow_clv_per_customer_and_segment(cdnow_run: tuple[str, Path]) -> None:
    _, out_dir = cdnow_run
    summary = json.loads((out_dir / "summary.json").read_text())
    customers = pd.read_csv(out_dir / "customers.csv", dtype={"customer": str})
    assert customers["clv"].notna().all()
    assert (customers["clv"] >= 0).all()
    assert customers["p_alive"].between(0, 1).all()
    by_rf = {row["segment"]: row for row in summary["clv"]["by_rf_segment"]}
    assert sum(r["customers"] for r in by_rf.values()) == len(customers) == summary["customers"]
    assert sum(r["clv_total"] for r in by_rf.values()) == pytest.approx(summary["clv"]["clv_total"], abs=0.5)
    # the model agrees with the rules on who is worth most: champions before hibernating customers
    assert by_rf["champions"]["clv_mean"] > 5 * by_rf["hibernating"]["clv_mean"]
    assert summary["kmeans"]["k"] <= 6
    report = (out_dir / "report.html").read_text()
    assert "r=0.243, alpha=4.414" in report
    assert "CLV per RF segment" in report
    assert "data:image/png" in report


def test_one_day_is_one_purchase_and_time_is_in_weeks() -> None:
    lines = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "b"],
            "day": pd.to_datetime(["2020-01-01", "2020-01-15", "2020-01-15", "2020-01-08"]),
            "amount": [5.0, 10.0, 4.0, 3.0],
        }
    )
    rf = repeat_purchase_summary(lines, date(2020, 1, 29)).set_index("customer")
    assert rf.loc["a", "repeat_frequency"] == 1  # two lines on Jan 15 are one repeat purchase
    assert rf.loc["a", "recency_weeks"] == pytest.approx(2.0)
    assert rf.loc["a", "age_weeks"] == pytest.approx(4.0)
    assert rf.loc["a", "avg_repeat_value"] == pytest.approx(14.0)  # the first purchase is not in the mean
    assert rf.loc["b", "repeat_frequency"] == 0


def test_too_little_history_is_explained_not_fitted() -> None:
    lines = pd.DataFrame({"customer": list("abcdef"), "day": pd.Timestamp("2020-01-01"), "amount": 1.0})
    result = fit_clv(lines, date(2020, 2, 1))
    assert result.bg_nbd is None
    assert result.gamma_gamma is None
    assert result.notes == ["BG/NBD not fitted: no customer bought on two different days"]
    assert fit_clv(lines.head(3), date(2020, 2, 1)).notes[0].startswith("BG/NBD not fitted: 3 customers")
    assert result.summary()["bg_nbd"] is None
