"""CRM write-back against a real HTTP CRM stand-in on 127.0.0.1 and the file export."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from seg_pipeline.sinks.crm import deliver_writeback, export_path, plan_writeback
from seg_pipeline.sinks.http import RetryPolicy, SinkAuthError, parse_retry_after
from seg_pipeline_tests.sinks.conftest import SEGMENTS, TOKEN, WEEK1, WEEK2, make_assignments, make_crm, rest
from seg_pipeline_tests.sinks.servers import Scripted

FAST = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=4.0, max_total=60.0, timeout=2.0)


def _plan(con, n=25, week=WEEK1, changes=None, **kw):
    return plan_writeback(con, make_assignments(n, week, changes), make_crm(n), week_start=week,
                          model_version="m1", run_id=f"run-{week}", **kw)


def _deliver(con, crm_config, clock, week=WEEK1, **kw):
    kw.setdefault("policy", FAST)
    return deliver_writeback(con, crm_config, week_start=week, sleep=clock.sleep, clock=clock.monotonic, **kw)


def _status_counts(con):
    return dict(con.execute("SELECT status, count(*) FROM sinks.crm_outbox GROUP BY 1").fetchall())


def test_rest_final_state_equals_assignments(con, crm_config, crm, clock):
    url, state = crm
    assert _plan(con) == 25
    result = _deliver(con, rest(crm_config, url), clock)

    assert (result.sent, result.failed, result.dead_lettered, result.requests) == (25, 0, 0, 3)
    expected = make_assignments(25)
    assert set(state.companies) == set(expected["account_id"])
    for r in expected.itertuples():
        props = state.companies[r.account_id]
        assert (props["seg_segment_id"], props["seg_segment_name"], props["seg_is_outlier"]) == (
            r.segment_id, r.segment_name, False)
        assert (props["seg_week_start"], props["seg_model_version"], props["seg_run_id"]) == (
            "2026-01-05", "m1", "run-2026-01-05")
    assert set(state.writes.values()) == {1}
    assert all(r["auth_ok"] for r in state.requests)
    # 10 requests/second: the 2nd and 3rd batch wait 0.1 s each on the injected clock.
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    assert _status_counts(con) == {"sent": 25}
    assert con.execute("SELECT count(*) FROM sinks.crm_sync_log WHERE outcome = 'sent'").fetchone() == (25,)

    # A rerun of the whole stage: nothing is enqueued, nothing is sent.
    assert _plan(con) == 0
    again = _deliver(con, rest(crm_config, url), clock)
    assert (again.sent, again.unchanged, again.requests) == (0, 25, 0)
    assert len(state.requests) == 3


def test_crash_between_2xx_and_mark_sent_has_no_second_effect(con, crm_config, crm, clock):
    url, state = crm
    _plan(con)
    crashed = {"done": False}

    def crash_once(response: httpx.Response) -> None:
        if not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("process killed after the CRM answered 2xx")

    with httpx.Client(timeout=2.0, event_hooks={"response": [crash_once]}) as client, \
            pytest.raises(RuntimeError, match="killed"):
        _deliver(con, rest(crm_config, url), clock, client=client)
    assert sum(state.effects.values()) == 1  # the CRM applied the first batch …
    assert _status_counts(con) == {"pending": 25}  # … but we never recorded it

    result = _deliver(con, rest(crm_config, url), clock)
    assert result.sent == 25
    assert set(state.effects.values()) == {1}  # every key applied exactly once
    assert sum(state.replays.values()) == 1  # the resent batch was deduplicated by its key
    assert set(state.writes.values()) == {1}
    assert len(state.companies) == 25
    keys = [r["key"] for r in state.requests]
    assert keys[0] == keys[1]  # resent first, with the same Idempotency-Key
    assert len(set(keys)) == 3


def test_batch_4xx_naming_rows_dead_letters_those_rows(con, crm_config, crm, clock):
    url, state = crm
    state.reject_ids = {"acc_000003": "seg_segment_name: value not in picklist"}
    _plan(con)
    result = _deliver(con, rest(crm_config, url), clock)

    assert (result.sent, result.dead_lettered, result.failed) == (24, 1, 0)
    assert "acc_000003" not in state.companies
    assert len(state.companies) == 24
    dead = con.execute("SELECT sink, subject_id, status_code, reason FROM sinks.dead_letters").fetchall()
    assert len(dead) == 1
    assert dead[0][:3] == ("crm", "acc_000003", 400)
    assert "not in picklist" in dead[0][3]
    assert _status_counts(con) == {"sent": 24, "dead": 1}


def test_207_multi_status_dead_letters_only_the_named_rows(con, crm_config, crm, clock):
    url, state = crm
    state.reject_ids = {"acc_000003": "invalid", "acc_000013": "invalid"}
    state.multi_status = True
    _plan(con)
    result = _deliver(con, rest(crm_config, url), clock)
    assert (result.sent, result.dead_lettered, result.requests) == (23, 2, 3)
    assert len(state.companies) == 23
    assert sorted(r[0] for r in con.execute("SELECT subject_id FROM sinks.dead_letters").fetchall()) == [
        "acc_000003", "acc_000013"]


def test_batch_4xx_without_row_names_dead_letters_the_batch(con, crm_config, crm, clock):
    url, state = crm
    state.script.append(Scripted(status=422, body={"message": "unknown property seg_micro_community"}))
    _plan(con)
    result = _deliver(con, rest(crm_config, url), clock)

    assert (result.sent, result.dead_lettered) == (15, 10)
    reasons = {r[0] for r in con.execute("SELECT reason FROM sinks.dead_letters").fetchall()}
    assert len(reasons) == 1
    assert "HTTP 422" in reasons.pop()
    assert clock.sleeps == pytest.approx([0.1, 0.1])  # a 4xx is not retried


def test_retry_after_is_honoured(con, crm_config, crm, clock):
    url, state = crm
    state.script.append(Scripted(status=429, headers={"Retry-After": "7"}))
    _plan(con, n=5)
    result = _deliver(con, rest(crm_config, url), clock)

    assert result.sent == 5
    assert result.requests == 2
    assert max(clock.sleeps) >= 7
    assert len(state.companies) == 5


def test_retry_after_http_date():
    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now=now) == pytest.approx(30)
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None


def test_5xx_retries_with_bounded_full_jitter(con, crm_config, crm, clock):
    url, state = crm
    state.script.extend([Scripted(status=500), Scripted(status=503)])
    _plan(con, n=5)
    result = _deliver(con, rest(crm_config, url), clock)

    assert result.sent == 5
    assert result.requests == 3
    backoffs = list(clock.sleeps)
    assert len(backoffs) == 2
    assert 0 <= backoffs[0] <= 0.5  # full jitter within base * 2^n
    assert 0 <= backoffs[1] <= 1.0


def test_slow_response_times_out_and_retry_is_deduplicated(con, crm_config, crm, clock):
    url, state = crm
    state.script.append(Scripted(status=200, apply=True, delay=0.5))
    _plan(con, n=5)
    with httpx.Client(timeout=0.2) as client:
        result = _deliver(con, rest(crm_config, url), clock, client=client)

    assert result.sent == 5
    assert result.requests == 2
    assert set(state.effects.values()) == {1}
    assert sum(state.replays.values()) == 1


def test_retry_budget_exhausted_leaves_rows_pending_then_resends_same_key(con, crm_config, crm, clock):
    url, state = crm
    state.script.extend([Scripted(status=503)] * 3)
    _plan(con)
    policy = replace(FAST, max_attempts=3)
    result = _deliver(con, rest(crm_config, url), clock, policy=policy)

    assert (result.sent, result.failed) == (0, 25)
    assert len(state.requests) == 3  # stops at the first unavailable batch
    assert _status_counts(con) == {"pending": 25}
    assert con.execute("SELECT count(*) FROM sinks.crm_sync_log WHERE outcome = 'retry_exhausted'").fetchone() == (10,)

    result = _deliver(con, rest(crm_config, url), clock)
    assert result.sent == 25
    assert state.requests[3]["key"] == state.requests[0]["key"]


def test_total_time_budget_bounds_retry_after(con, crm_config, crm, clock):
    url, state = crm
    state.script.append(Scripted(status=503, headers={"Retry-After": "3600"}))
    _plan(con, n=3)
    result = _deliver(con, rest(crm_config, url), clock)
    assert result.failed == 3
    assert result.requests == 1
    assert all(s < 3600 for s in clock.sleeps)


def test_401_stops_at_once_and_rows_stay_pending(con, crm_config, crm, clock):
    url, state = crm
    _plan(con)
    with pytest.raises(SinkAuthError) as err:
        _deliver(con, rest(crm_config, url, token="wrong-token"), clock)  # noqa: S106 - deliberately wrong fake token

    assert len(state.requests) == 1
    assert not state.companies
    assert _status_counts(con) == {"pending": 25}
    assert "wrong-token" not in str(err.value)
    assert TOKEN not in str(err.value)
    assert clock.sleeps == []


def test_missing_token_stops_before_any_request(con, crm_config, crm, clock):
    url, state = crm
    _plan(con, n=3)
    with pytest.raises(SinkAuthError, match="SEG_CRM_TOKEN"):
        _deliver(con, rest(crm_config, url, token=None), clock)
    assert state.requests == []


def test_dry_run_sends_nothing(con, crm_config, crm, clock):
    url, state = crm
    _plan(con)
    result = _deliver(con, rest(crm_config, url), clock, dry_run=True)

    assert result.would_send == 25
    assert result.sent == 0
    assert result.changes is not None
    assert len(result.changes) == 25
    assert state.requests == []
    assert _status_counts(con) == {"pending": 25}
    assert con.execute("SELECT count(*) FROM sinks.crm_outbox WHERE batch_key IS NOT NULL").fetchone() == (0,)


def test_second_week_sends_only_the_three_changed_accounts(con, crm_config, crm, clock):
    url, state = crm
    _plan(con, n=20)
    _deliver(con, rest(crm_config, url), clock)
    before = len(state.requests)
    changes = {
        "acc_000001": {"segment_id": 3, "segment_name": SEGMENTS[3]},  # moved
        "acc_000002": {"segment_name": "Declining / At-Risk (renamed)"},  # renamed persona
        "acc_000004": {"is_outlier": True},  # became an outlier
    }
    assert _plan(con, n=20, week=WEEK2, changes=changes) == 3
    result = _deliver(con, rest(crm_config, url), clock, week=WEEK2)

    assert (result.sent, result.unchanged) == (3, 17)
    sent_ids = [i["id"] for r in state.requests[before:] for i in json.loads(r["body"])["inputs"]]
    assert sorted(sent_ids) == ["acc_000001", "acc_000002", "acc_000004"]
    assert state.companies["acc_000001"]["seg_segment_name"] == "Dormant"
    assert state.companies["acc_000004"]["seg_is_outlier"] is True
    assert state.companies["acc_000001"]["seg_week_start"] == WEEK2.isoformat()


def test_rerunning_an_older_week_never_moves_the_crm_back(con, crm_config, crm, clock):
    url, state = crm
    _plan(con, n=10)
    _deliver(con, rest(crm_config, url), clock)
    _plan(con, n=10, week=WEEK2, changes={"acc_000001": {"segment_id": 3, "segment_name": SEGMENTS[3]}})
    _deliver(con, rest(crm_config, url), clock, week=WEEK2)
    before = len(state.requests)
    assert _plan(con, n=10, week=WEEK1) == 0  # week 1 again (a backfill): its older values are not re-sent
    _deliver(con, rest(crm_config, url), clock, week=WEEK1)
    assert len(state.requests) == before
    assert state.companies["acc_000001"]["seg_segment_name"] == SEGMENTS[3]


def test_newer_plan_supersedes_undelivered_rows(con, crm_config, crm, clock):
    url, state = crm
    _plan(con, n=5)  # never delivered
    _plan(con, n=5, week=WEEK2, changes={"acc_000001": {"segment_id": 3, "segment_name": SEGMENTS[3]}})
    result = _deliver(con, rest(crm_config, url), clock, week=WEEK2)

    assert result.sent == 5
    assert set(state.writes.values()) == {1}
    assert state.companies["acc_000001"]["seg_segment_name"] == "Dormant"
    assert _status_counts(con) == {"sent": 5, "superseded": 5}


def test_full_resync_resends_everything_under_new_keys(con, crm_config, crm, clock):
    url, state = crm
    _plan(con, n=5)
    _deliver(con, rest(crm_config, url), clock)
    assert _plan(con, n=5) == 0
    assert _plan(con, n=5, full_resync=True) == 5
    result = _deliver(con, rest(crm_config, url), clock)
    assert result.sent == 5
    assert set(state.writes.values()) == {2}
    assert sum(state.replays.values()) == 0


def test_accounts_missing_from_crm_are_skipped_and_counted(con, crm_config, crm, clock):
    url, _ = crm
    n = plan_writeback(con, make_assignments(6), make_crm(4), week_start=WEEK1, model_version="m1", run_id="r")
    assert n == 4
    result = _deliver(con, rest(crm_config, url), clock)
    assert (result.sent, result.not_in_crm) == (4, 2)


def test_bad_inputs_are_rejected(con):
    a, c = make_assignments(3), make_crm(3)
    with pytest.raises(ValueError, match="duplicate account id"):
        plan_writeback(con, a, pd.concat([c, c.iloc[:1]]), week_start=WEEK1, model_version="m", run_id="r")
    with pytest.raises(ValueError, match="segment_name"):
        plan_writeback(con, a.drop(columns="segment_name"), c, week_start=WEEK1, model_version="m", run_id="r")
    with pytest.raises(ValueError, match="weeks start on Monday"):
        plan_writeback(con, a, c, week_start=WEEK1 + timedelta(days=1), model_version="m", run_id="r")
    with pytest.raises(ValueError, match="is not a date like"):
        plan_writeback(con, a, c, week_start="2026-01-05'; DROP TABLE x; --", model_version="m", run_id="r")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_export_is_atomic_and_rerun_safe(con, crm_config, clock, fmt):
    _plan(con, n=12)
    result = _deliver(con, crm_config, clock, file_format=fmt)
    path = export_path(crm_config.export_dir, WEEK1, fmt)

    assert result.sent == 12
    assert result.file_path == path
    df = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    assert len(df) == 12
    assert df["account_id"].is_unique
    assert set(df.columns) >= {"segment_name", "model_version", "run_id", "idempotency_key", "week_start"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    first = path.read_bytes()

    # Crash after the rename but before marking sent: the rerun rewrites the identical file.
    con.execute("UPDATE sinks.crm_outbox SET status = 'pending', delivered_week = NULL")
    again = _deliver(con, crm_config, clock, file_format=fmt)
    assert again.sent == 12
    assert path.read_bytes() == first
    assert _deliver(con, crm_config, clock, file_format=fmt).sent == 0
