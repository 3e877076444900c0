"""`seg rfm` on a hand-written Online-Retail-style log whose R/F/M, scores and segments are worked out below."""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.segmentation.adhoc import InputError
from seg_pipeline.segmentation.rfm import quintile_bins, rf_segment, run_rfm

COLS = {
    "customer_col": "CustomerID",
    "invoice_col": "InvoiceNo",
    "date_col": "InvoiceDate",
    "quantity_col": "Quantity",
    "price_col": "UnitPrice",
}

# customer -> (unit price, [invoice dates]); every clean invoice is one line of quantity 2, except B's first,
# which has two lines. Ids are numeric: 9500 sorts before 12001 (numeric, not text, customer-id order).
CUSTOMERS: dict[str, tuple[float, list[str]]] = {
    "12001": (5.0, ["12/9/2011 8:26"]),  # A
    "12002": (1.5, ["1/5/2011 10:00", "3/5/2011 10:00", "6/1/2011 9:00", "10/1/2011 9:00", "12/8/2011 17:59"]),
    "12003": (2.0, ["2/1/2011 10:00", "7/1/2011 10:00", "12/7/2011 23:59"]),  # C
    "12004": (10.0, ["12/5/2011 0:01"]),  # D
    "12005": (3.0, ["4/4/2011 10:00", "12/3/2011 10:00"]),  # E
    "12006": (4.0, ["1/10/2011 10:00", "2/10/2011 10:00", "5/10/2011 10:00", "11/30/2011 10:00"]),  # F
    "12007": (2.5, ["1/20/2011 10:00", "11/20/2011 10:00"]),  # G
    "12008": (1.0, [f"{m}/10/2011 10:00" for m in (1, 2, 3, 4, 5)] + ["11/10/2011 10:00"]),  # H
    "12009": (8.0, ["10/11/2011 10:00"]),  # I
    "12010": (6.0, ["1/11/2011 10:00", "5/11/2011 10:00", "9/11/2011 10:00"]),  # J
    "9500": (7.0, ["2/13/2011 10:00", "6/13/2011 10:00"]),  # K
}

# Worked by hand. as_of = 2011-12-10 (the day after the last invoice, 2011-12-09).
# Recency sorted: 1 2 3 5 7 10 20 30 60 90 180 -> quintile edges (linear, n=11) fall exactly on the 3rd, 5th,
# 7th and 9th values: 3, 7, 20, 60; a value equal to an edge is in the lower bin -> R 5,5,5 | 4,4 | 3,3 | 2,2 | 1,1.
# Frequency ranks, ties in customer-id order: f=1: 12001,12004,12009 -> 1,2,3; f=2: 9500,12005,12007 -> 4,5,6;
# f=3: 12003,12010 -> 7,8; f=4: 12006 -> 9; f=5: 12002 -> 10; f=6: 12008 -> 11.
# Rank edges 3,5,7,9 -> F1 ranks 1-3, F2 4-5, F3 6-7, F4 8-9, F5 10-11.
EXPECTED = pd.DataFrame(
    [
        # customer, recency, frequency, monetary, r, f, segment
        ("9500", 180, 2, 28.0, 1, 2, "hibernating"),
        ("12001", 1, 1, 10.0, 5, 1, "new_customers"),
        ("12002", 2, 5, 18.0, 5, 5, "champions"),  # 5 invoices x 2 x 1.5 + the second line of invoice 1 (3.0)
        ("12003", 3, 3, 12.0, 5, 3, "potential_loyalists"),
        ("12004", 5, 1, 20.0, 4, 1, "promising"),
        ("12005", 7, 2, 12.0, 4, 2, "potential_loyalists"),
        ("12006", 10, 4, 32.0, 3, 4, "loyal_customers"),
        ("12007", 20, 2, 10.0, 3, 3, "need_attention"),
        ("12008", 30, 6, 12.0, 2, 5, "cant_lose"),
        ("12009", 60, 1, 16.0, 2, 1, "hibernating"),
        ("12010", 90, 3, 36.0, 1, 4, "at_risk"),
    ],
    columns=["customer", "recency", "frequency", "monetary", "r_score", "f_score", "rf_segment"],
)


def _transactions() -> pd.DataFrame:
    rows = []
    n = 536_000
    for cust, (price, dates) in CUSTOMERS.items():
        for i, d in enumerate(dates):
            n += 1
            rows.append((str(n), "85123A", "HEART T-LIGHT", 2, d, price, cust, "United Kingdom"))
            if cust == "12002" and i == 0:
                rows.append((str(n), "71053", "LANTERN", 2, d, price, cust, "United Kingdom"))
    clean = len(rows)
    dirty = [
        # no customer (2)
        ("536900", "22752", "SET 7 BABUSHKA", 4, "12/9/2011 9:00", 7.65, "", "United Kingdom"),
        ("536901", "22752", "SET 7 BABUSHKA", 4, "12/10/2011 9:00", 7.65, "", "France"),
        # cancelled invoices (2); a later date must not move as_of
        ("C536379", "D", "Discount", -1, "12/9/2011 9:41", 27.5, "12001", "United Kingdom"),
        ("C536380", "22752", "SET 7 BABUSHKA", 6, "12/9/2011 9:45", 1.0, "12008", "United Kingdom"),
        # non-positive quantity / price on otherwise new invoices (2): would change F and R if kept
        ("536950", "22752", "SET 7 BABUSHKA", 0, "12/9/2011 9:00", 2.0, "12010", "United Kingdom"),
        ("536951", "22752", "SET 7 BABUSHKA", 3, "12/9/2011 9:00", 0.0, "9500", "United Kingdom"),
    ]
    dup = rows[[r[6] for r in rows].index("12004")]
    df = pd.DataFrame(
        [*rows, *dirty, dup],
        columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
                 "Country"],
    )
    assert len(df) == clean + 7
    return df


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("rfm")
    src = tmp / "online_retail.csv"
    _transactions().to_csv(src, index=False)
    summary = run_rfm(src, tmp / "out", **COLS, seed=0)
    customers = pd.read_csv(tmp / "out" / "customers.csv", dtype={"customer": str})
    assert json.loads((tmp / "out" / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert "<h2>Customer lifetime value</h2>" in (tmp / "out" / "report.html").read_text()
    return summary, customers


def test_cleaning_chain_counts(result: tuple[dict, pd.DataFrame]) -> None:
    summary, _ = result
    clean = sum(len(d) for _, d in CUSTOMERS.values()) + 1
    assert summary["cleaning"] == [
        {"step": "loaded", "rows": clean + 7},
        {"step": "drop_missing_customer", "rows": clean + 5},
        {"step": "drop_cancelled_invoices", "rows": clean + 3},
        {"step": "drop_non_positive_quantity_or_price", "rows": clean + 1},
        {"step": "drop_duplicate_rows", "rows": clean},
    ]
    assert summary["as_of"] == "2011-12-10"
    assert summary["customers"] == 11


def test_rfm_scores_and_segments_match_hand_computation(result: tuple[dict, pd.DataFrame]) -> None:
    summary, customers = result
    got = customers[EXPECTED.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)
    assert summary["rf_segments"] == EXPECTED["rf_segment"].value_counts().sort_index().to_dict()


def test_clustering_results_cover_every_customer(result: tuple[dict, pd.DataFrame]) -> None:
    summary, customers = result
    km, db = summary["kmeans"], summary["dbscan"]
    assert 2 <= km["k"] <= 8
    assert sum(km["sizes"].values()) == 11
    assert sum(sum(row.values()) for row in km["crosstab_vs_rf"].values()) == 11
    assert db["n_noise"] + sum(v for k, v in db["sizes"].items() if k != "-1") == 11
    assert set(customers["kmeans_segment"]) == {int(k) for k in km["sizes"]}
    assert customers["dbscan_segment"].min() >= -1


def test_explicit_as_of_shifts_recency_not_scores(tmp_path) -> None:
    src = tmp_path / "tx.parquet"
    _transactions().to_parquet(src)
    run_rfm(src, tmp_path / "out", **COLS, as_of=date(2011, 12, 20))
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype={"customer": str})
    assert customers["recency"].tolist() == (EXPECTED["recency"] + 10).tolist()
    assert customers["r_score"].tolist() == EXPECTED["r_score"].tolist()


def test_as_of_inside_the_log_is_a_calibration_cut(tmp_path) -> None:
    src = tmp_path / "tx.csv"
    _transactions().to_csv(src, index=False)
    summary = run_rfm(src, tmp_path / "out", **COLS, as_of=date(2011, 12, 1), clv=False)
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype={"customer": str})
    # purchases on or after Dec 1 are gone: A (12001) and D (12004) bought only in December
    assert "12001" not in set(customers["customer"])
    assert "12004" not in set(customers["customer"])
    assert summary["cleaning"][-1]["step"] == "drop_on_or_after_as_of"
    assert summary["cleaning"][-1]["rows"] < summary["cleaning"][-2]["rows"]
    assert pd.to_datetime(customers["last_purchase"]).max() < pd.Timestamp("2011-12-01")
    with pytest.raises(InputError, match="no transactions left"):
        run_rfm(src, tmp_path / "out2", **COLS, as_of=date(2010, 1, 1), clv=False)


def test_amount_column_and_separator_give_the_same_study(tmp_path) -> None:
    df = _transactions()
    df["LineTotal"] = pd.to_numeric(df["Quantity"]) * pd.to_numeric(df["UnitPrice"])
    src = tmp_path / "tx_semicolon.csv"
    df.drop(columns=["Quantity", "UnitPrice"]).to_csv(src, index=False, sep=";")
    cols = {k: v for k, v in COLS.items() if k not in ("quantity_col", "price_col")}
    summary = run_rfm(src, tmp_path / "out", **cols, amount_col="LineTotal", sep=";", clv=False)
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype={"customer": str})
    pd.testing.assert_frame_equal(customers[EXPECTED.columns], EXPECTED, check_dtype=False)
    assert [s["step"] for s in summary["cleaning"]][3] == "drop_non_positive_amount"
    with pytest.raises(InputError, match="not found"):  # the default comma separator sees one column
        run_rfm(src, tmp_path / "out", **cols, amount_col="LineTotal", clv=False)
    with pytest.raises(InputError, match="either --amount-col or"):
        run_rfm(src, tmp_path / "out", **COLS, amount_col="LineTotal", sep=";")


def test_k_max_bounds_the_k_search(tmp_path) -> None:
    src = tmp_path / "tx.csv"
    _transactions().to_csv(src, index=False)
    summary = run_rfm(src, tmp_path / "out", **COLS, k_max=2, clv=False)
    assert summary["kmeans"]["k"] == 2
    with pytest.raises(InputError, match="below 2"):
        run_rfm(src, tmp_path / "out", **COLS, k_max=1)


def test_missing_column_names_the_available_ones(tmp_path) -> None:
    src = tmp_path / "tx.csv"
    _transactions().rename(columns={"UnitPrice": "Price"}).to_csv(src, index=False)
    with pytest.raises(InputError, match=r"'UnitPrice' not found in tx.csv; available columns: .*'Price'"):
        run_rfm(src, tmp_path / "out", **COLS)


def test_unparseable_dates_are_a_clear_error(tmp_path) -> None:
    df = _transactions()
    df.loc[3, "InvoiceDate"] = "yesterday"
    src = tmp_path / "tx.csv"
    df.to_csv(src, index=False)
    with pytest.raises(InputError, match="'InvoiceDate' has dates in an unrecognised format"):
        run_rfm(src, tmp_path / "out", **COLS)


def test_quintile_bins_match_qcut_when_edges_are_distinct() -> None:
    x = np.random.default_rng(3).gamma(2.0, 10.0, size=503).round(1)
    expected = pd.qcut(x, 5, labels=False)
    assert (quintile_bins(x) == expected).all()
    # Heavy ties: edges are 1, 1, 1, 2.2 (qcut would raise on the duplicates); the tied 1s all take the
    # lowest bin, 2 lands above the last tied edge, 3 and 4 above 2.2.
    assert quintile_bins(np.array([1, 1, 1, 1, 1, 1, 1, 2, 3, 4])).tolist() == [0] * 7 + [3, 4, 4]


@pytest.mark.parametrize(
    ("r", "f", "name"),
    [(1, 1, "hibernating"), (2, 4, "at_risk"), (2, 5, "cant_lose"), (3, 2, "about_to_sleep"),
     (3, 3, "need_attention"), (3, 5, "loyal_customers"), (4, 4, "loyal_customers"), (4, 1, "promising"),
     (5, 1, "new_customers"), (4, 3, "potential_loyalists"), (5, 2, "potential_loyalists"), (5, 4, "champions")],
)
def test_rf_segment_grid(r: int, f: int, name: str) -> None:
    assert rf_segment(r, f) == name


def test_rf_grid_covers_every_cell_once() -> None:
    names = {rf_segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(names) == 10
    with pytest.raises(ValueError, match="out of range"):
        rf_segment(0, 3)
