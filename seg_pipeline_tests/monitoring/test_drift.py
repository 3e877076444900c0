import json
import re
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest

from seg_pipeline.monitoring.drift import SKIP_ALL_NULL, drift_report, segment_share_drift, weekly_drift

COLS = ["weekly_active_users", "active_days", "seat_utilisation", "p1_tickets", "csat_avg", "mrr"]


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "account_id": [f"acc_{i:06d}" for i in range(n)],
        "weekly_active_users": rng.poisson(40 * (1 + shift), n),
        "active_days": rng.integers(0, 8, n) if not shift else rng.integers(0, 3, n),
        "seat_utilisation": rng.beta(5, 3, n) * (1 - 0.5 * shift),
        "p1_tickets": rng.poisson(0.2 + 2 * shift, n),
        "csat_avg": rng.normal(4.2 - shift, 0.3, n),
        "mrr": rng.lognormal(7 + shift, 0.5, n),
    })


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("drift")
    ref = frame(1500, 1)
    same = drift_report(frame(1500, 2), ref, columns=COLS, out_dir=out, name="same")
    shifted = drift_report(frame(1500, 3, shift=1.0), ref, columns=COLS, out_dir=out, name="shifted")
    return same, shifted


def test_shifted_data_drifts_and_unshifted_does_not(reports):
    same, shifted = reports
    assert same.n_features == len(COLS)
    assert same.share_drifted <= 1 / len(COLS)
    assert shifted.share_drifted >= 5 / len(COLS)
    assert set(shifted.drifted_features) >= {"weekly_active_users", "p1_tickets", "csat_avg"}
    col = shifted.per_column["weekly_active_users"]
    assert col["drifted"]
    assert col["method"]
    assert col["threshold"] is not None


def test_files_written_small_and_self_contained(reports):
    _, shifted = reports
    html = shifted.html_path.read_text(encoding="utf-8")
    assert shifted.html_path.name == "shifted.html"
    assert shifted.json_path.name == "shifted.json"
    assert "weekly_active_users" in html
    assert html.count("<svg") == len(COLS)  # one inline histogram per compared feature
    # nothing is fetched: no external script, stylesheet or image
    assert not re.search(r"<(script|link|img)\b", html)
    assert shifted.html_path.stat().st_size < 100_000  # Evidently's HTML was 5.6 MB per report
    payload = json.loads(shifted.json_path.read_text(encoding="utf-8"))
    assert payload["n_drifted"] == shifted.n_drifted
    assert payload["per_column"] == shifted.per_column
    assert payload["sample"]["seed"] == 0


def test_constant_all_null_and_missing_columns_do_not_crash(tmp_path):
    ref, cur = frame(300, 1), frame(300, 2)
    ref["flat"], cur["flat"] = 1.0, 1.0
    ref["moved_flat"], cur["moved_flat"] = 1.0, 2.0
    ref["empty"], cur["empty"] = np.nan, np.nan
    ref["plan"] = np.where(np.arange(300) % 2, "growth", "starter")
    cur["plan"] = "enterprise"
    res = drift_report(cur, ref, columns=["flat", "moved_flat", "empty", "plan", "nope", "mrr"],
                       out_dir=tmp_path, name="edge")
    assert res.per_column["empty"]["status"] == SKIP_ALL_NULL
    assert res.per_column["nope"]["status"].startswith("skipped")
    assert res.n_features == 4
    assert not res.per_column["flat"]["drifted"]
    assert res.per_column["moved_flat"]["drifted"]
    assert res.per_column["plan"]["drifted"]
    assert res.html_path.exists()
    assert res.json_path.exists()


def test_nothing_usable_writes_a_placeholder(tmp_path):
    df = pd.DataFrame({"x": [np.nan, np.nan]})
    res = drift_report(df, df, columns=["x"], out_dir=tmp_path, name="empty")
    assert (res.n_features, res.share_drifted) == (0, 0.0)
    assert "No drift computed" in res.html_path.read_text()


def test_sampling_is_deterministic_and_order_independent(tmp_path):
    ref, cur = frame(400, 1), frame(400, 3, shift=0.1)
    a = drift_report(cur, ref, columns=COLS, out_dir=tmp_path, name="a", sample=150, seed=5)
    b = drift_report(cur.sample(frac=1, random_state=9), ref, columns=COLS, out_dir=tmp_path, name="b",
                     sample=150, seed=5)
    assert a.per_column == b.per_column
    assert json.loads(a.json_path.read_text())["rows_current"] == 150


def test_segment_share_drift():
    ref = pd.Series([0] * 50 + [1] * 30 + [2] * 20)
    same = segment_share_drift(ref.copy(), ref)
    assert same["tvd"] == pytest.approx(0.0)
    assert same["p_value"] == pytest.approx(1.0)
    moved = segment_share_drift(pd.Series([0] * 20 + [1] * 30 + [2] * 40 + [3] * 10), ref)
    assert moved["tvd"] == pytest.approx(0.5 * (0.3 + 0.0 + 0.2 + 0.1))
    assert moved["p_value"] < 1e-3
    assert moved["shares_current"]["3"] == pytest.approx(0.1)
    assert moved["shares_reference"]["3"] == 0.0


def test_weekly_drift_summary(tmp_path):
    cur, prev, train = frame(600, 3, shift=1.0), frame(600, 2), frame(600, 1)
    seg = np.arange(600) % 4
    a_cur = pd.DataFrame({"account_id": cur["account_id"], "segment_id": np.where(seg == 3, 0, seg)})
    a_prev = pd.DataFrame({"account_id": prev["account_id"], "segment_id": seg})
    out = weekly_drift(cur, prev, train, a_cur, a_prev, columns=COLS, out_dir=tmp_path,
                       week_start=date(2026, 1, 12), largest_segments=2, sample=300)
    refs = [r["reference"] for r in out["rows"]]
    assert refs == ["previous_week", "training", "segment:0", "segment:1"]
    assert out["vs_previous"]["share_drifted"] > 0.5
    assert out["max_share_drifted"] > 0.5
    assert out["segment_shares"]["tvd"] == pytest.approx(0.25)
    assert all(r["week_start"] == date(2026, 1, 12) for r in out["rows"])
    # one report per comparison: the segments are sections of the vs-last-week report, not files of their own
    assert sorted(p.name for p in tmp_path.glob("*.html")) == [
        "drift_2026-01-12_vs_previous.html", "drift_2026-01-12_vs_training.html"]
    seg_rows = [r for r in out["rows"] if r["reference"].startswith("segment:")]
    assert {r["html_path"] for r in seg_rows} == {out["vs_previous"]["html_path"]}
    assert set(out["segments"]) == {"0", "1"}
    assert "id='segment-0'" in (tmp_path / "drift_2026-01-12_vs_previous.html").read_text()
    json.dumps(out, default=str)
    first = weekly_drift(cur, None, None, a_cur, None, columns=COLS, out_dir=tmp_path,
                         week_start=date(2026, 1, 5))
    assert first["rows"] == []
    assert first["vs_previous"] is None


def test_same_inputs_give_byte_identical_files(tmp_path):
    ref, cur = frame(300, 1), frame(300, 3, shift=0.5)
    a = drift_report(cur, ref, columns=COLS, out_dir=tmp_path / "a", name="week")
    b = drift_report(cur, ref, columns=COLS, out_dir=tmp_path / "b", name="week")
    assert a.html_path.read_bytes() == b.html_path.read_bytes()
    assert a.json_path.read_bytes() == b.json_path.read_bytes()


@pytest.mark.browser
def test_report_renders_in_chromium_without_network(reports):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    _, shifted = reports
    external: list[str] = []

    def block(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", block)
            page.goto(shifted.html_path.as_uri())
            body = page.inner_text("body")
        finally:
            browser.close()
    assert external == []
    assert errors == []
    assert "weekly_active_users" in body
    assert "features drifted" in body
