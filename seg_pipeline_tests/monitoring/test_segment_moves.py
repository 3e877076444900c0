from datetime import date, timedelta

import pandas as pd
import pytest

from seg_pipeline.monitoring.explain import describe_change
from seg_pipeline.monitoring.ledger import LEDGER_COLUMNS
from seg_pipeline.monitoring.segment_moves import detect_migrations

W0 = date(2026, 1, 5)  # a Monday
NAMES = {0: "Power Users", 1: "Steady Core", 2: "Declining / At-Risk"}


def wk(i: int) -> date:
    return W0 + timedelta(weeks=i)


def assignments(week: date, rows: list[tuple]) -> pd.DataFrame:
    """rows: (account_id, segment_id[, margin[, is_outlier[, micro]]])."""
    out = []
    for r in rows:
        acc, seg, margin, outlier, micro = (*r, *(0.2, False, None)[len(r) - 2:])
        out.append({"account_id": acc, "week_start": week, "segment_id": seg, "segment_name": NAMES.get(seg),
                    "micro_community": micro, "is_outlier": outlier, "margin": margin})
    df = pd.DataFrame(out)
    df["micro_community"] = df["micro_community"].astype("Int64")
    return df


def features(week: date, accounts: list[str], **overrides: dict[str, float]) -> pd.DataFrame:
    base = {"weekly_active_users": 100.0, "p1_tickets": 0.0, "seat_utilisation": 0.71, "active_days": 5.0,
            "csat_avg": 4.2}
    rows = []
    for a in accounts:
        vals = {**base, **overrides.get(a, {})}
        rows.append({"account_id": a, "week_start": week, **vals})
    return pd.DataFrame(rows)


def run_weeks(weekly: list[list[tuple]], *, confirm_margin: float = 1.0, centroids=None,
              feats: dict[int, pd.DataFrame] | None = None):
    """Drive detect_migrations week by week the way the pipeline does, feeding back history and the ledger."""
    frames = [assignments(wk(i), rows) for i, rows in enumerate(weekly)]
    ledger: pd.DataFrame | None = None
    results = []
    for i in range(1, len(frames)):
        accs = sorted(frames[i]["account_id"])
        fc = feats[i] if feats and i in feats else features(wk(i), accs)
        fh = pd.concat([feats[j] if feats and j in feats else features(wk(j), accs) for j in range(i)])
        res = detect_migrations(
            frames[i], frames[i - 1], history=pd.concat(frames[: i - 1]) if i > 1 else frames[0].iloc[0:0],
            features_current=fc, features_history=fh, centroids_z=centroids, week_start=wk(i),
            confirm_weeks=2, confirm_margin=confirm_margin, prior_migrations=ledger,
        )
        results.append(res)
        if len(res.ledger):
            ledger = res.ledger if ledger is None else pd.concat([ledger, res.ledger], ignore_index=True)
    return results, ledger if ledger is not None else pd.DataFrame(columns=LEDGER_COLUMNS)


def seg_rows(ledger: pd.DataFrame, acc: str = "a1") -> pd.DataFrame:
    return ledger.loc[(ledger["kind"] == "segment") & (ledger["account_id"] == acc)]


def test_move_confirmed_in_second_week_and_not_again():
    weekly = [[("a1", 0), ("a2", 1)], [("a1", 0), ("a2", 1)], [("a1", 1), ("a2", 1)], [("a1", 1), ("a2", 1)],
              [("a1", 1), ("a2", 1)]]
    results, ledger = run_weeks(weekly)
    rows = seg_rows(ledger)
    assert list(rows["week_start"]) == [wk(2), wk(3)]
    assert list(rows["confirmed"]) == [False, True]
    confirmed = rows.loc[rows["confirmed"]].iloc[0]
    assert (confirmed["from_segment"], confirmed["to_segment"]) == (0, 1)
    assert (confirmed["from_name"], confirmed["to_name"]) == ("Power Users", "Steady Core")
    assert [r.confirmed for r in results] == [0, 0, 1, 0]
    assert [r.moves for r in results] == [0, 1, 1, 0]
    assert results[2].rate == pytest.approx(0.5)
    assert seg_rows(ledger, "a2").empty


def test_low_margin_flapping_never_confirms():
    weekly = [[("a1", 0)], [("a1", 0)], [("a1", 1)], [("a1", 0)], [("a1", 1)], [("a1", 0)], [("a1", 0)]]
    _, ledger = run_weeks(weekly)
    rows = seg_rows(ledger)
    assert len(rows) == 2
    assert not rows["confirmed"].any()
    assert set(rows["from_segment"]) == {0}


def test_high_margin_confirms_immediately_but_flap_back_does_not():
    weekly = [[("a1", 0, 3.0)], [("a1", 0, 3.0)], [("a1", 1, 3.0)], [("a1", 0, 3.0)], [("a1", 1, 3.0)]]
    results, ledger = run_weeks(weekly, confirm_margin=1.0)
    rows = seg_rows(ledger)
    assert rows["confirmed"].sum() == 1
    first = rows.iloc[0]
    assert first["week_start"] == wk(2)
    assert first["confirmed"]
    assert first["to_segment"] == 1
    # A→B confirmed, B→A inside the hysteresis window stays pending, back to B is no move at all.
    assert list(rows["confirmed"]) == [True, False]
    assert results[3].moves == 0


def test_margin_below_threshold_waits():
    weekly = [[("a1", 0)], [("a1", 1, 0.99)]]
    results, _ = run_weeks(weekly, confirm_margin=1.0)
    assert results[0].moves == 1
    assert results[0].confirmed == 0


def test_prior_ledger_prevents_second_confirmation_and_rerun_is_idempotent():
    hist = pd.concat([assignments(wk(0), [("a1", 0)]), assignments(wk(1), [("a1", 0)])])
    prev = assignments(wk(2), [("a1", 1)])
    cur = assignments(wk(3), [("a1", 1)])
    feats = features(wk(3), ["a1"])
    kwargs = {"history": hist, "features_current": feats, "features_history": feats.iloc[0:0], "centroids_z": None,
              "week_start": wk(3)}
    fresh = detect_migrations(cur, prev, **kwargs)
    assert fresh.confirmed == 1
    # An earlier run already confirmed 0→1 (e.g. with a lower margin threshold): never alert it twice.
    prior = pd.DataFrame([{"account_id": "a1", "week_start": wk(2), "from_segment": 0, "to_segment": 1,
                           "from_name": "Power Users", "to_name": "Steady Core", "kind": "segment",
                           "margin": 2.0, "confirmed": True, "explanation": ""}])
    again = detect_migrations(cur, prev, prior_migrations=prior, **kwargs)
    assert again.confirmed == 0
    assert again.moves == 0
    # Rerunning the same week with its own rows already in the ledger gives the same rows.
    rerun = detect_migrations(cur, prev, prior_migrations=fresh.ledger, **kwargs)
    pd.testing.assert_frame_equal(rerun.ledger, fresh.ledger)


def test_explanation_names_the_feature_that_moved_it_with_sign_and_percentage():
    accs = ["a1", "a2", "a3", "a4"]
    hist_feats = {i: features(wk(i), accs) for i in range(4)}
    cur = features(wk(4), accs, a1={"weekly_active_users": 38.0, "p1_tickets": 4.0, "seat_utilisation": 0.96})
    centroids = pd.DataFrame(
        {"segment_id": [0, 2], "weekly_active_users": [1.0, -2.0], "p1_tickets": [0.0, 1.5],
         "seat_utilisation": [0.0, 0.5], "active_days": [0.0, 0.0], "csat_avg": [0.0, 0.0]})
    weekly = [[(a, 0) for a in accs]] * 4 + [[("a1", 2, 5.0)] + [(a, 0) for a in accs[1:]]]
    _, ledger = run_weeks(weekly, centroids=centroids, feats={**hist_feats, 4: cur})
    row = seg_rows(ledger).iloc[0]
    assert row["confirmed"]
    assert row["to_name"] == "Declining / At-Risk"
    parts = row["explanation"].split("; ")
    assert parts[0] == "weekly active users -62 % vs its 4-week mean"
    assert "4 P1 tickets this week (4-week mean 0)" in parts
    assert "seat utilisation 96 % (was 71 %)" in parts
    assert len(parts) == 3


def test_explanation_without_centroids_uses_standardized_change():
    accs = ["a1", "a2", "a3"]
    feats = {i: features(wk(i), accs, a2={"weekly_active_users": 50.0 + i}, a3={"weekly_active_users": 200.0})
             for i in range(2)}
    feats[2] = features(wk(2), accs, a1={"weekly_active_users": 250.0}, a2={"weekly_active_users": 52.0},
                        a3={"weekly_active_users": 200.0})
    weekly = [[(a, 0) for a in accs]] * 2 + [[("a1", 1, 5.0), ("a2", 0), ("a3", 0)]]
    _, ledger = run_weeks(weekly, feats=feats)
    assert seg_rows(ledger).iloc[0]["explanation"].startswith("weekly active users +150 % vs its 4-week mean")


def test_outlier_and_micro_kinds_are_not_segment_moves():
    weekly = [
        [("a1", 0, 0.2, False), ("a2", 1, 0.2, True), ("a3", 1, 0.2, False, 4), ("a4", 2)],
        [("a1", 0, 0.2, True), ("a2", 1, 0.2, False), ("a3", 1, 0.2, False, None), ("a4", 2)],
    ]
    results, ledger = run_weeks(weekly)
    res = results[0]
    kinds = dict(zip(ledger["account_id"], ledger["kind"], strict=True))
    assert kinds == {"a1": "outlier_enter", "a2": "outlier_leave", "a3": "micro_change"}
    assert res.moves == 0
    assert res.confirmed == 0
    assert res.rate == 0.0
    assert res.kind_counts == {"segment": 0, "outlier_enter": 1, "outlier_leave": 1, "micro_change": 1}
    enter = ledger.set_index("account_id").loc["a1"]
    assert enter["to_name"] == "Outlier"
    assert not enter["confirmed"]
    micro = ledger.set_index("account_id").loc["a3"]
    assert (micro["from_segment"], pd.isna(micro["to_segment"])) == (4, True)
    assert micro["explanation"] == "micro-community 4 → no micro-community"


def test_noise_segment_ids_do_not_count_as_moves():
    weekly = [[("a1", 0)], [("a1", -1, 0.0, True)], [("a1", 0)]]
    results, ledger = run_weeks(weekly)
    assert seg_rows(ledger).empty
    assert [r.moves for r in results] == [0, 0]


def test_transition_matrix_counts_stable_to_current():
    weekly = [
        [("a1", 0), ("a2", 0), ("a3", 1), ("a4", 1), ("a5", 2)],
        [("a1", 1), ("a2", 0), ("a3", 1), ("a4", 2, 3.0), ("a5", 2), ("new", 0)],
    ]
    results, _ = run_weeks(weekly)
    tm = results[0].transition_matrix
    assert list(tm.index) == [0, 1, 2]
    assert list(tm.columns) == [0, 1, 2]
    assert tm.loc[0, 1] == 1
    assert tm.loc[0, 0] == 1
    assert tm.loc[1, 1] == 1
    assert tm.loc[1, 2] == 1
    assert tm.loc[2, 2] == 1
    assert int(tm.to_numpy().sum()) == 5  # "new" was not present last week
    assert results[0].accounts_both_weeks == 5
    assert results[0].confirmed == 1
    assert results[0].rate == pytest.approx(0.2)


def test_describe_change_styles():
    assert describe_change("weekly_active_users", 38, 100) == "weekly active users -62 % vs its 4-week mean"
    assert describe_change("logins", 12, 0) == "logins 12 this week (none in the previous 4 weeks)"
    assert describe_change("p1_tickets", 0, 2) == "no P1 tickets this week (4-week mean 2)"
    assert describe_change("mrr", 900, 1200) == "MRR $900 (was $1,200)"
    assert describe_change("csat_avg", 2.5, 4.25) == "CSAT 2.5/5 (was 4.2/5)"


def test_missing_features_or_foreign_centroids_still_give_rows():
    weekly = [[("a1", 0), ("a2", 0)], [("a1", 1, 5.0), ("a2", 0)]]
    frames = [assignments(wk(i), rows) for i, rows in enumerate(weekly)]
    foreign = pd.DataFrame({"segment_id": [0, 1], "pca_1": [0.0, 1.0]})
    res = detect_migrations(frames[1], frames[0], history=pd.DataFrame(), features_current=pd.DataFrame(),
                            features_history=pd.DataFrame(), centroids_z=foreign, week_start=wk(1))
    assert res.confirmed == 1
    assert res.ledger.iloc[0]["explanation"] == "no features this week"
    res = detect_migrations(frames[1], frames[0], history=pd.DataFrame(),
                            features_current=features(wk(1), ["a1", "a2"], a1={"p1_tickets": 3.0}),
                            features_history=features(wk(0), ["a1", "a2"]), centroids_z=foreign,
                            week_start=wk(1))
    assert res.ledger.iloc[0]["explanation"].startswith("3 P1 tickets this week")


def test_first_week_without_previous_is_empty():
    cur = assignments(wk(0), [("a1", 0), ("a2", 1)])
    res = detect_migrations(cur, pd.DataFrame(), history=pd.DataFrame(), features_current=pd.DataFrame(),
                            features_history=pd.DataFrame(), centroids_z=None, week_start=wk(0))
    assert res.ledger.empty
    assert list(res.ledger.columns) == LEDGER_COLUMNS
    assert (res.moves, res.rate, res.accounts_both_weeks) == (0, 0.0, 0)
    with pytest.raises(ValueError, match="segment_id"):
        detect_migrations(cur.drop(columns="segment_id"), cur, history=pd.DataFrame(),
                          features_current=pd.DataFrame(), features_history=pd.DataFrame(), centroids_z=None,
                          week_start=wk(0))


def test_ledger_loads_into_the_contract_table(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    weekly = [[("a1", 0), ("a2", 1, 0.2, False, 3)], [("a1", 2, 4.0, True), ("a2", 1)]]
    _, ledger = run_weeks(weekly)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema monitoring")
    con.execute("""create table monitoring.segment_migrations (account_id varchar, week_start date,
        from_segment integer, to_segment integer, from_name varchar, to_name varchar, kind varchar,
        margin double, confirmed boolean, explanation varchar)""")
    con.register("ledger_df", ledger)
    con.execute("insert into monitoring.segment_migrations select * from ledger_df")
    got = con.execute("select account_id, week_start, kind, confirmed, to_segment from monitoring.segment_migrations"
                      " order by kind, account_id").fetchall()
    con.close()
    assert got == [("a2", wk(1), "micro_change", False, None), ("a1", wk(1), "outlier_enter", False, 2),
                   ("a1", wk(1), "segment", True, 2)]


def _random_weeks(seed: int, n_weeks: int = 12, n_accounts: int = 40) -> list[pd.DataFrame]:
    """Accounts that stay, flap, move for good, turn to noise, skip weeks; margins sometimes decisive."""
    import numpy as np

    rng = np.random.default_rng(seed)
    home = rng.integers(0, 3, n_accounts)
    frames = []
    for i in range(n_weeks):
        rows = []
        for a in range(n_accounts):
            if rng.random() < 0.15:
                continue  # not observed this week
            if rng.random() < 0.05:
                home[a] = rng.integers(0, 3)  # a real move
            seg = int(home[a]) if rng.random() > 0.25 else int(rng.integers(-1, 3))  # flaps and noise
            rows.append((f"a{a:02d}", seg, float(rng.choice([0.2, 0.6, 1.5])), seg < 0,
                         int(rng.integers(0, 2)) if rng.random() < 0.2 else None))
        df = assignments(wk(i), rows)
        df["segment_name"] = df["segment_id"].map(lambda s, i=i: f"{NAMES.get(s, s)} v{i // 4}")  # renames
        frames.append(df)
    return frames


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("gap", [1, 3])
def test_starting_from_the_stored_state_gives_the_rows_of_a_full_replay(seed: int, gap: int):
    """The bounded path (state of an earlier week + the weeks after it) equals replaying all history."""
    from seg_pipeline.monitoring.segment_moves import ReplayState

    frames = _random_weeks(seed)
    ledgers: list[pd.DataFrame] = []
    states: dict[int, ReplayState] = {}
    for i in range(len(frames)):
        accs = sorted(frames[i]["account_id"])
        kwargs = {"features_current": features(wk(i), accs), "features_history": features(wk(i), accs).iloc[0:0],
                  "centroids_z": None, "week_start": wk(i), "confirm_weeks": 2}
        prev = frames[i - 1] if i else frames[0].iloc[0:0]
        prior = pd.concat(ledgers, ignore_index=True) if ledgers else None
        full = detect_migrations(frames[i], prev, history=pd.concat(frames[:i]) if i else frames[0].iloc[0:0],
                                 prior_migrations=prior, **kwargs)
        start = i - gap
        if start >= 0:
            # the state as stored in the warehouse and read back
            s = states[start]
            names = pd.DataFrame(sorted(s.names.items()), columns=["segment_id", "segment_name"])
            state = ReplayState.from_frames(wk(start), s.frame(), names)
            later = frames[start + 1:i]
            bounded = detect_migrations(
                frames[i], prev, history=pd.concat(later) if later else frames[0].iloc[0:0],
                prior_migrations=pd.concat(ledgers[start + 1:i], ignore_index=True) if i - start > 1 else None,
                state=state, **kwargs)
            pd.testing.assert_frame_equal(bounded.ledger, full.ledger)
            pd.testing.assert_frame_equal(bounded.transition_matrix, full.transition_matrix)
            assert bounded.summary() == full.summary()
            pd.testing.assert_frame_equal(bounded.state.frame(), full.state.frame())
        assert full.state is not None
        states[i] = full.state
        ledgers.append(full.ledger)
    assert sum(int(lg["confirmed"].sum()) for lg in ledgers) > 3  # the weeks did confirm moves
