"""AM digests and engineer alerts through the file outbox, a real signed-webhook receiver and a real SMTP server."""

import json
from dataclasses import replace
from datetime import date

import httpx
import pandas as pd
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from seg_pipeline.outcomes import EngineerAlert
from seg_pipeline.sinks.alerts import (
    AT_RISK,
    build_digest,
    deliver_alerts,
    digest_message_id,
    send_am_alerts,
    send_engineer_alert,
)
from seg_pipeline.sinks.channels import sign_webhook
from seg_pipeline.sinks.http import RetryPolicy, SinkAuthError
from seg_pipeline_tests.sinks.conftest import WEBHOOK_SECRET, WEEK1, WEEK2, make_crm, webhook
from seg_pipeline_tests.sinks.servers import Scripted, smtp_server

FAST = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_total=60.0, timeout=2.0)


def _move(acc, frm, to, *, week=WEEK1, kind="segment", confirmed=True, why="logins -60 %, 4 P1 tickets"):
    names = {0: "Power Users", 1: "Steady Core", 2: "Declining / At-Risk", 3: "Dormant", 4: "Expansion Candidates"}
    return {"account_id": acc, "week_start": week, "from_segment": frm, "to_segment": to,
            "from_name": names[frm], "to_name": names[to], "kind": kind, "margin": 1.2, "confirmed": confirmed,
            "explanation": why}


def _migrations(week=WEEK1) -> pd.DataFrame:
    """am_00 gets accounts 0, 2, 4 (+ flapping 6), am_01 gets 1, 3; plus noise that must not alert."""
    return pd.DataFrame([
        _move("acc_000000", 0, 1, week=week),
        _move("acc_000002", 1, 3, week=week, why="no logins for 3 weeks"),
        _move("acc_000004", 1, 4, week=week, why="seats +40 %"),
        _move("acc_000001", 1, 2, week=week),
        _move("acc_000003", 4, 0, week=week),
        # flapping account: two unconfirmed bounces and one confirmed move
        _move("acc_000006", 1, 2, week=week, confirmed=False),
        _move("acc_000006", 2, 1, week=week, confirmed=False),
        _move("acc_000006", 1, 2, week=week, confirmed=True),
        _move("acc_000008", 1, 2, week=week, kind="outlier_enter"),
        _move("acc_000005", 0, 1, week=WEEK2 if week == WEEK1 else WEEK1),  # another week
    ])


def _send(con, alert_config, clock, migrations=None, week=WEEK1, **kw):
    kw.setdefault("policy", FAST)
    return send_am_alerts(con, alert_config, _migrations(week) if migrations is None else migrations, make_crm(10),
                          week_start=week, sleep=clock.sleep, clock=clock.monotonic, **kw)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_outbox_one_digest_per_am_and_rerun_sends_nothing(con, alert_config, clock):
    result = _send(con, alert_config, clock)
    path = alert_config.outbox_path

    assert (result.planned, result.sent, result.channel) == (2, 2, "file")
    records = _lines(path)
    assert sorted(r["recipient_id"] for r in records) == ["am_00", "am_01"]
    am0 = next(r for r in records if r["recipient_id"] == "am_00")
    assert am0["message_id"] == digest_message_id("am_00", WEEK1)
    bullets = [line for line in am0["text"].splitlines() if line.startswith("•")]
    # at-risk moves first (Dormant, Declining / At-Risk), then the rest by name
    assert [b.split("(")[1].split(")")[0] for b in bullets] == ["acc_000002", "acc_000006", "acc_000000",
                                                                "acc_000004"]
    assert "Steady Core → Dormant ⚠ — no logins for 3 weeks" in bullets[0]
    assert am0["text"].count("acc_000006") == 1  # the flapping account appears once
    assert "acc_000008" not in am0["text"]
    assert "acc_000005" not in am0["text"]
    assert alert_config.dashboard_url.startswith("file://")
    assert alert_config.dashboard_url.endswith("/reports/dashboard.html")
    assert f"Dashboard: {alert_config.dashboard_url}" in am0["text"]
    assert "@" not in path.read_text()  # no e-mail addresses in payloads

    again = _send(con, alert_config, clock)
    assert (again.planned, again.sent, again.pending_before) == (0, 0, 0)
    assert len(_lines(path)) == 2


def test_account_already_alerted_into_same_segment_is_not_realerted(con, alert_config, clock):
    _send(con, alert_config, clock)
    week2 = pd.DataFrame([_move("acc_000006", 1, 2, week=WEEK2), _move("acc_000000", 1, 3, week=WEEK2)])
    result = _send(con, alert_config, clock, migrations=week2, week=WEEK2)
    records = [r for r in _lines(alert_config.outbox_path) if r["week_start"] == WEEK2.isoformat()]
    assert result.sent == 1
    assert len(records) == 1
    assert "acc_000000" in records[0]["text"]
    assert "acc_000006" not in records[0]["text"]


def test_backfill_of_an_older_week_sends_no_stale_digests(con, alert_config, clock):
    _send(con, alert_config, clock, migrations=pd.DataFrame([_move("acc_000000", 0, 1, week=WEEK2)]), week=WEEK2)
    result = _send(con, alert_config, clock)  # week 1 run again after week 2 was alerted
    assert result.planned == 0
    assert result.sent == 0
    assert {r["week_start"] for r in _lines(alert_config.outbox_path)} == {WEEK2.isoformat()}


def test_long_digest_is_truncated():
    moves = pd.DataFrame([{**_move(f"acc_{i:06d}", 0, 1), "account_name": f"Co {i:02d}"} for i in range(25)])
    msg = build_digest("am_00", "Ann", "ann@example.test", moves, week=WEEK1, link="http://dash", max_lines=20)
    bullets = [line for line in msg.text.splitlines() if line.startswith("•")]
    assert len(bullets) == 20
    assert "+5 more" in msg.text
    assert "ann@example.test" not in json.dumps(msg.payload())
    assert msg.blocks[-1]["elements"][0]["text"] == "<http://dash|Segment-health dashboard>"


def test_only_moves_into_a_more_severe_at_risk_state_are_flagged():
    """A Dormant account coming back (Dormant -> Declining) is listed but not flagged; Declining -> Dormant is."""
    moves = pd.DataFrame([{**_move("acc_000001", 3, 2), "account_name": "Back"},
                          {**_move("acc_000002", 2, 3), "account_name": "Worse"},
                          {**_move("acc_000003", 1, 4), "account_name": "Growing"}])
    msg = build_digest("am_00", "Ann", None, moves, week=WEEK1, link="http://dash")
    bullets = [line for line in msg.text.splitlines() if line.startswith("•")]
    assert bullets[0].startswith("• Worse")
    assert bullets[0].count("⚠") == 1
    assert [b.count("⚠") for b in bullets[1:]] == [0, 0]
    assert msg.subject.endswith("3 account(s), 1 into at-risk segments")


def test_at_risk_set():
    assert {"Declining / At-Risk", "Support-Heavy Strugglers", "Dormant"} == AT_RISK


def test_webhook_signed_delivered_once_and_rerun_sends_nothing(con, alert_config, hook, clock):
    url, state = hook
    result = _send(con, webhook(alert_config, url), clock)

    assert result.sent == 2
    assert state.rejected == []
    assert set(state.deliveries) == {digest_message_id("am_00", WEEK1), digest_message_id("am_01", WEEK1)}
    assert set(state.deliveries.values()) == {1}
    body = next(iter(state.messages.values()))
    assert set(body) == {"text", "blocks"}
    assert body["blocks"][0]["type"] == "header"
    raw = json.dumps(list(state.messages.values()))
    assert WEBHOOK_SECRET not in raw
    assert "@" not in raw

    again = _send(con, webhook(alert_config, url), clock)
    assert again.sent == 0
    assert set(state.deliveries.values()) == {1}


def test_sign_webhook_matches_standard_webhooks_vector():
    # Test vector from the Standard Webhooks reference implementations.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the published test vector's secret
    body = b'{"test": 2432232314}'
    assert sign_webhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_webhook_retries_then_dead_letters_4xx(con, alert_config, hook, clock):
    url, state = hook
    state.script.extend([Scripted(status=400, body={"error": "invalid_blocks"}),  # am_00: dead
                         Scripted(status=503, headers={"Retry-After": "2"})])  # am_01: retried, delivered
    result = _send(con, webhook(alert_config, url), clock)

    assert (result.sent, result.dead_lettered) == (1, 1)
    assert max(clock.sleeps) >= 2
    dead = con.execute("SELECT sink, subject_id, status_code, reason FROM sinks.dead_letters").fetchall()
    assert dead == [("alerts", "am_00", 400, 'HTTP 400: {"error": "invalid_blocks"}')]
    assert dict(con.execute("SELECT recipient_id, status FROM sinks.alert_ledger").fetchall()) == {
        "am_00": "dead", "am_01": "sent"}
    assert list(state.deliveries) == [digest_message_id("am_01", WEEK1)]


def test_webhook_bad_secret_stops_and_keeps_digests_pending(con, alert_config, hook, clock):
    url, state = hook
    with pytest.raises(SinkAuthError):
        _send(con, webhook(alert_config, url, secret="whsec_" + "A" * 44), clock)
    assert len(state.rejected) == 1
    assert not state.deliveries
    assert con.execute("SELECT DISTINCT status FROM sinks.alert_ledger").fetchall() == [("pending",)]


def test_webhook_crash_after_2xx_redelivers_with_same_id(con, alert_config, hook, clock):
    url, state = hook
    fired = {"n": 0}

    def crash_once(response: httpx.Response) -> None:
        fired["n"] += 1
        if fired["n"] == 1:
            raise RuntimeError("killed after 2xx")

    with httpx.Client(timeout=2.0, event_hooks={"response": [crash_once]}) as client, \
            pytest.raises(RuntimeError):
        _send(con, webhook(alert_config, url), clock, client=client)
    result = deliver_alerts(con, webhook(alert_config, url), week_start=WEEK1, sleep=clock.sleep,
                            clock=clock.monotonic)
    assert result.sent == 2
    # at-least-once with a stable id: the receiver sees the same webhook-id twice and can drop the copy
    assert sorted(state.deliveries.values()) == [1, 2]
    assert len(state.messages) == 2


def test_email_digests_over_smtp(con, alert_config, clock):
    with smtp_server() as (host, port, sink):
        s = replace(alert_config, channel="email", smtp_host=host, smtp_port=port)
        result = _send(con, s, clock)
        assert result.sent == 2
        assert sorted(m["to"][0] for m in sink.messages) == ["am0@example.test", "am1@example.test"]
        mail = next(m for m in sink.messages if m["to"] == ["am0@example.test"])
        assert f"Message-ID: <{digest_message_id('am_00', WEEK1)}@seg-pipeline>" in mail["content"]
        assert "Steady Core" in mail["content"]
        assert _send(con, s, clock).sent == 0
        assert len(sink.messages) == 2


def test_email_transient_retry_and_permanent_dead_letter(con, alert_config, clock):
    with smtp_server() as (host, port, sink):
        sink.script.extend(["451 4.3.0 try again later", "550 5.1.1 mailbox unavailable"])
        s = replace(alert_config, channel="email", smtp_host=host, smtp_port=port)
        result = _send(con, s, clock)
        # am_00: 451 then retried (the 550 is its 2nd attempt) → dead; am_01 delivered
        assert (result.sent, result.dead_lettered) == (1, 1)
        assert len(clock.sleeps) == 1
        reason = con.execute("SELECT reason FROM sinks.dead_letters").fetchone()[0]
        assert reason.startswith("SMTP 550")
        assert len(sink.messages) == 1


def test_email_logs_in_when_credentials_exist(con, alert_config, clock):
    seen: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        seen.append(auth_data.login.decode())
        ok = auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    with smtp_server(authenticator=authenticator, auth_require_tls=False) as (host, port, sink):
        s = replace(alert_config, channel="email", smtp_host=host, smtp_port=port, smtp_user="seg",
                    smtp_password="s3cret",  # noqa: S106 - fake credentials for the local SMTP server
                    smtp_allow_plain_localhost=True)  # a plain test server on 127.0.0.1, explicitly allowed
        assert send_engineer_alert(con, s, EngineerAlert(WEEK1, "x", "x", "y"), sleep=clock.sleep).sent == 1
        assert seen == ["seg"]
        assert len(sink.messages) == 1
        with pytest.raises(SinkAuthError) as err:
            send_engineer_alert(con, replace(s, smtp_password="wrong"), EngineerAlert(WEEK1, "z", "z", "y"),  # noqa: S106
                                sleep=clock.sleep)
        assert "wrong" not in str(err.value)


def test_engineer_alert_once_per_week_and_reason(con, alert_config, clock):
    mass = EngineerAlert(WEEK1, "mass_migration", "Mass migration blocked sinks",
                         "34 % of accounts moved (threshold 15 %)")
    first = send_engineer_alert(con, alert_config, mass, sleep=clock.sleep)
    again = send_engineer_alert(con, alert_config, mass, sleep=clock.sleep)
    other = send_engineer_alert(con, alert_config, EngineerAlert(WEEK1, "volume", "Volume drop", "-70 %"),
                                sleep=clock.sleep)
    records = _lines(alert_config.outbox_path)
    assert (first.sent, again.sent, other.sent) == (1, 0, 1)
    assert [r["kind"] for r in records] == ["engineer", "engineer"]


def test_unrouted_move_is_dead_lettered_not_dropped(con, alert_config, clock):
    moves = pd.DataFrame([_move("acc_000000", 0, 1), _move("acc_999999", 1, 2)])
    result = _send(con, alert_config, clock, migrations=moves)
    assert (result.sent, result.unrouted_moves) == (1, 1)
    assert con.execute("SELECT subject_id FROM sinks.dead_letters").fetchall() == [("acc_999999",)]
    _send(con, alert_config, clock, migrations=moves)
    assert con.execute("SELECT count(*) FROM sinks.dead_letters").fetchone() == (1,)


def test_dry_run_sends_nothing(con, alert_config, clock):
    result = _send(con, alert_config, clock, dry_run=True)
    assert (result.would_send, result.sent) == (2, 0)
    assert not (alert_config.outbox_path).exists()


def test_week_must_be_a_monday(con, alert_config, clock):
    with pytest.raises(ValueError, match="weeks start on Monday"):
        send_engineer_alert(con, alert_config, EngineerAlert(date(2026, 1, 6), "r", "s", "b"))
