"""Secrets and channels: SMTP credentials only over TLS; hostile account data renders inert in Slack and e-mail."""

import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from seg_pipeline.outcomes import EngineerAlert
from seg_pipeline.sinks.alerts import send_am_alerts, send_engineer_alert
from seg_pipeline.sinks.channels import inert
from seg_pipeline.sinks.config import AlertConfig
from seg_pipeline.sinks.http import RetryPolicy, SinkAuthError
from seg_pipeline_tests.sinks.conftest import WEBHOOK_SECRET, WEEK1, FakeClock, make_crm, webhook
from seg_pipeline_tests.sinks.servers import smtp_server, webhook_server

pytestmark = pytest.mark.reliability

PASSWORD = "sentinel-pw-9d1e"  # noqa: S105 - fake credential the local SMTP servers check
HOSTILE = "<https://evil.example/reset|Reset your CRM password> & <!channel>"
FAST = RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.2, max_total=5.0, timeout=5.0)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield c
    c.close()


@pytest.fixture
def config(tmp_path: Path) -> AlertConfig:
    return AlertConfig(outbox_path=tmp_path / "alerts.jsonl", dashboard_url="https://dash.example/seg")


class _Auth:
    """aiosmtpd authenticator that records every login attempt it sees."""

    def __init__(self) -> None:
        self.logins: list[tuple[str, bool]] = []

    def __call__(self, server: object, session: object, envelope: object, mechanism: str,
                 auth_data: object) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.password == PASSWORD.encode()
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)


def _email(config: AlertConfig, host: str, port: int, **kw: object) -> AlertConfig:
    return replace(config, channel="email", smtp_host=host, smtp_port=port, smtp_user="seg", smtp_password=PASSWORD,
                   **kw)  # type: ignore[arg-type]


def test_smtp_without_starttls_never_receives_the_password(con: duckdb.DuckDBPyConnection,
                                                           config: AlertConfig) -> None:
    auth = _Auth()
    with smtp_server(authenticator=auth, auth_require_tls=False) as (host, port, sink):
        with pytest.raises(SinkAuthError, match="offers no STARTTLS"):
            send_engineer_alert(con, _email(config, host, port), EngineerAlert(WEEK1, "x", "s", "b"),
                                sleep=FakeClock().sleep, policy=FAST)
        assert auth.logins == []
        assert sink.messages == []
    assert con.execute("SELECT status FROM sinks.alert_ledger").fetchall() == [("pending",)]


def test_plain_login_is_allowed_only_to_loopback_when_explicitly_set(con: duckdb.DuckDBPyConnection,
                                                                      config: AlertConfig) -> None:
    auth = _Auth()
    with smtp_server(authenticator=auth, auth_require_tls=False) as (host, port, sink):
        allowed = _email(config, host, port, smtp_allow_plain_localhost=True)
        assert send_engineer_alert(con, allowed, EngineerAlert(WEEK1, "x", "s", "b"), policy=FAST).sent == 1
        assert auth.logins == [("seg", True)]
        assert len(sink.messages) == 1


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """Make a server TLS context for 127.0.0.1 and the CA file (the certificate itself) that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "smtp.crt", tmp / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


def test_smtp_login_after_starttls_delivers(con: duckdb.DuckDBPyConnection, config: AlertConfig,
                                            tmp_path: Path) -> None:
    auth = _Auth()
    ctx, ca = _self_signed(tmp_path)
    with smtp_server(authenticator=auth, tls_context=ctx, require_starttls=True, auth_require_tls=True) as (
            host, port, sink):
        cfg = _email(config, host, port, smtp_ca_file=ca)
        assert send_engineer_alert(con, cfg, EngineerAlert(WEEK1, "x", "s", "b"), policy=FAST).sent == 1
        assert auth.logins == [("seg", True)]
        assert len(sink.messages) == 1
        # an untrusted certificate stops the stage instead of sending the password to an impostor
        with pytest.raises(SinkAuthError, match="STARTTLS failed"):
            send_engineer_alert(con, _email(config, host, port), EngineerAlert(WEEK1, "y", "s", "b"), policy=FAST)
        assert len(auth.logins) == 1


def _hostile_digest(con: duckdb.DuckDBPyConnection, cfg: AlertConfig) -> int:
    crm = make_crm(4)
    crm.loc[0, "account_name"] = HOSTILE
    crm.loc[0, "account_manager_name"] = "Mallory <!here> @channel"
    moves = pd.DataFrame([{"account_id": "acc_000000", "week_start": WEEK1, "from_segment": 0, "to_segment": 2,
                           "from_name": "Power Users", "to_name": "Declining / At-Risk", "kind": "segment",
                           "confirmed": True, "explanation": "see https://evil.example/x @here"}])
    return send_am_alerts(con, cfg, moves, crm, week_start=WEEK1, policy=FAST).sent


def _assert_inert(text: str) -> None:
    for bad in ("<", ">", "https://evil", "@channel", "@here"):  # no markup, no clickable link, no mention
        assert bad not in text, (bad, text)
    assert "&lt;" in text


def test_hostile_account_name_is_inert_in_the_slack_webhook(con: duckdb.DuckDBPyConnection,
                                                            config: AlertConfig) -> None:
    with webhook_server(WEBHOOK_SECRET) as (url, state):
        assert _hostile_digest(con, webhook(config, url)) == 1
        (payload,) = state.messages.values()
    mrkdwn = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    for text in [payload["text"], *mrkdwn]:
        _assert_inert(text)
    assert "Reset your CRM password" in mrkdwn[0]  # still readable, just not a link
    assert "<https://dash.example/seg|Segment-health dashboard>" in json.dumps(payload)  # our own link stays


def test_hostile_account_name_is_inert_in_the_email_body(con: duckdb.DuckDBPyConnection, config: AlertConfig) -> None:
    with smtp_server() as (host, port, sink):
        cfg = replace(config, channel="email", smtp_host=host, smtp_port=port)
        assert _hostile_digest(con, cfg) == 1
        (msg,) = sink.messages
    parsed = email.message_from_string(msg["content"], policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    _assert_inert(parsed.get_content())


def test_inert_escapes_slack_control_characters() -> None:
    assert inert("a & <b> @channel @Here ftp://x") == "a &amp; &lt;b&gt; @\u2060channel @\u2060Here ftp[:]//x"
