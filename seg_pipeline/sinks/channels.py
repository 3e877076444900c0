"""Alert channels: JSONL file (embedded default), Standard-Webhooks-signed webhook, SMTP email.

Each channel delivers one :class:`Message` and returns an :class:`~seg_pipeline.sinks.http.Outcome`; the
ledger in :mod:`seg_pipeline.sinks.alerts` decides what to send and records the result. Secrets are read
arrive as config values (resolved by Dagster at run time) and never enter payloads or error messages.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx

from seg_pipeline.sinks.config import WEBHOOK_SECRET_ENV, AlertConfig
from seg_pipeline.sinks.http import (
    Attempt,
    Outcome,
    RetryPolicy,
    SinkAuthError,
    default_client,
    http_attempt,
    run_with_retry,
)


@dataclass(frozen=True)
class Message:
    """One alert. ``recipient_address`` is used for the SMTP envelope only, never in the payload."""

    message_id: str
    kind: str
    recipient_id: str
    recipient_name: str | None
    recipient_address: str | None
    week_start: date
    subject: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """Slack-compatible body: ``text`` is the fallback, ``blocks`` the layout."""
        return {"text": self.text, "blocks": self.blocks}


_MENTION = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]*):(?=//)", re.IGNORECASE)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def inert(text: object) -> str:
    """Render data (account names, reasons) inert in Slack mrkdwn, plain text and e-mail bodies.

    ``&``, ``<`` and ``>`` are escaped (Slack's own escaping, so ``<url|text>`` links and ``<!channel>``
    mentions cannot be formed), ``@channel``/``@here``/``@everyone`` get a zero-width joiner so they ping nobody,
    and ``scheme://`` is defanged to ``scheme[:]//`` so no client turns data into a clickable link.
    """
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MENTION.sub("@\u2060", s)
    return _SCHEME.sub(r"\1[:]", s)


class Channel(Protocol):
    """Where alert messages go: a file outbox, a webhook or email."""

    name: str

    def send(self, msg: Message) -> Outcome:
        """Deliver one message; the outcome says whether it was accepted, should be retried or is dead."""
        ...

    def close(self) -> None:
        """Release the channel's connections."""
        ...


def _secret_key(secret: str) -> bytes:
    """Decode a Standard Webhooks secret (``whsec_<base64>``) into its HMAC key."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise ValueError("webhook secret is not in the whsec_<base64> format") from None


def sign_webhook(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (standardwebhooks.com)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class FileChannel:
    """Appends one JSON line per message to ``alerts.jsonl``, never the same message id twice.

    A message id already in the file is not written again, so a crash between the append and the ledger
    update cannot duplicate it.
    """

    name = "file"

    def __init__(self, path: Path) -> None:
        """Append to ``path``; the ids already in it are read on the first send."""
        self.path = path
        self._seen: set[str] | None = None

    def _ids(self) -> set[str]:
        if self._seen is None:
            self._seen = set()
            if self.path.exists():
                with self.path.open(encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            self._seen.add(json.loads(line)["message_id"])
                        except (ValueError, KeyError, TypeError):
                            continue  # a torn last line from a crash; the message is rewritten
        return self._seen

    def send(self, msg: Message) -> Outcome:
        """Append the message unless its id is already in the file (fsynced before it counts as sent)."""
        if msg.message_id in self._ids():
            return Outcome("ok", None, "already in file", 1)
        record = {
            "message_id": msg.message_id, "kind": msg.kind, "recipient_id": msg.recipient_id,
            "recipient_name": msg.recipient_name, "week_start": msg.week_start.isoformat(),
            "subject": msg.subject, **msg.payload(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._ids().add(msg.message_id)
        return Outcome("ok", None, "appended", 1)

    def close(self) -> None:
        """Nothing to release: every send opens and closes the file."""


class WebhookChannel:
    """POSTs the Slack-compatible payload signed with the Standard Webhooks headers."""

    name = "webhook"

    def __init__(self, config: AlertConfig, *, client: httpx.Client | None, policy: RetryPolicy,
                 sleep: Callable[[float], None], clock: Callable[[], float], now: Callable[[], float],
                 rng: random.Random) -> None:
        """Post to the configured webhook URL; a client is created (and closed) here unless one is given."""
        if not config.webhook_url:
            raise ValueError("alert_channel is 'webhook' but no webhook URL is configured (SEG_WEBHOOK_URL)")
        self.secret, self.url = config.webhook_secret, config.webhook_url
        self.policy, self.sleep, self.clock, self.now, self.rng = policy, sleep, clock, now, rng
        self._own = client is None
        self.client = default_client(policy.timeout) if client is None else client

    def send(self, msg: Message) -> Outcome:
        """POST the message signed afresh per attempt, retrying transient failures under the policy."""
        body = json.dumps(msg.payload(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        def headers() -> dict[str, str]:
            secret = self.secret
            if not secret:
                raise SinkAuthError(f"webhook secret missing: set {WEBHOOK_SECRET_ENV}; alerts stay pending")
            ts = str(int(self.now()))  # fresh per attempt: receivers reject stale timestamps
            return {"Content-Type": "application/json", "webhook-id": msg.message_id, "webhook-timestamp": ts,
                    "webhook-signature": sign_webhook(secret, msg.message_id, ts, body)}

        return run_with_retry(http_attempt(self.client, self.url, body=body, headers=headers),
                              policy=self.policy, sleep=self.sleep, clock=self.clock, rng=self.rng,
                              what="alert webhook")

    def close(self) -> None:
        """Close the HTTP client when this channel created it."""
        if self._own:
            self.client.close()


SmtpFactory = Callable[[str, int, float], smtplib.SMTP]


def _default_smtp(host: str, port: int, timeout: float) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, timeout=timeout)


def classify_smtp_error(exc: BaseException) -> Attempt:
    """SMTP 4xx / disconnects / socket errors are transient, 5xx final, auth failures stop the stage."""
    if isinstance(exc, PlainAuthRefusedError):
        return Attempt("stop_auth", None, str(exc))
    if isinstance(exc, ssl.SSLError):
        return Attempt("stop_auth", None, f"SMTP STARTTLS failed ({exc.reason}); check the server certificate "
                       "or set SEG_SMTP_CA_FILE")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Attempt("stop_auth", exc.smtp_code, f"SMTP {exc.smtp_code}: authentication failed")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Attempt("stop_auth", None, f"SMTP server does not support a required extension: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{code} {m.decode(errors='replace') if isinstance(m, bytes) else m}"
                           for code, m in exc.recipients.values())
        transient = bool(codes) and all(400 <= c < 500 for c in codes)
        return Attempt("retry" if transient else "dead", codes[0] if codes else None,
                       f"SMTP recipient refused: {detail}"[:500])
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Attempt("retry" if 400 <= exc.smtp_code < 500 else "dead", exc.smtp_code,
                       f"SMTP {exc.smtp_code}: {err}"[:500])
    return Attempt("retry", None, f"SMTP connection error ({type(exc).__name__})")


class PlainAuthRefusedError(smtplib.SMTPException):
    """Credentials would cross the network in clear: the server offers no STARTTLS."""


class EmailChannel:
    """One email per message over SMTP: STARTTLS when offered, login only when credentials exist and only over TLS.

    With credentials and no STARTTLS the login is refused (the password never leaves in clear), unless
    ``smtp_allow_plain_localhost`` is set and the server is on the loopback address (test servers).
    """

    name = "email"

    def __init__(self, config: AlertConfig, *, smtp_factory: SmtpFactory | None, policy: RetryPolicy,
                 sleep: Callable[[float], None], clock: Callable[[], float], rng: random.Random) -> None:
        """Send through the configured SMTP server; ``smtp_factory`` replaces the connection in tests."""
        if not config.smtp_host:
            raise ValueError("alert_channel is 'email' but no SMTP host is configured (SEG_SMTP_HOST)")
        self.config = config
        self.factory = smtp_factory or _default_smtp
        self.policy, self.sleep, self.clock, self.rng = policy, sleep, clock, rng

    def _email(self, msg: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.config.smtp_from
        email["To"] = msg.recipient_address or ""
        email["Subject"] = msg.subject
        # Deterministic Message-ID: a redelivery is recognisable as the same message.
        email["Message-ID"] = f"<{msg.message_id}@seg-pipeline>"
        email.set_content(msg.text)
        return email

    def _attempt(self, email: EmailMessage) -> Attempt:
        host = self.config.smtp_host or ""
        try:
            with self.factory(host, self.config.smtp_port, self.policy.timeout) as smtp:
                smtp.ehlo()
                tls = smtp.has_extn("starttls")
                if tls:
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                user, password = self.config.smtp_user, self.config.smtp_password
                if user and password:
                    self._check_plain_login(host, tls)
                    smtp.login(user, password)
                smtp.send_message(email)
        except (smtplib.SMTPException, OSError) as exc:
            return classify_smtp_error(exc)
        return Attempt("ok", 250, "accepted")

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.smtp_ca_file is not None:
            context.load_verify_locations(cafile=str(self.config.smtp_ca_file))
        return context

    def _check_plain_login(self, host: str, tls: bool) -> None:
        """Refuse to send credentials without TLS, except to a loopback test server explicitly allowed."""
        if tls or (self.config.smtp_allow_plain_localhost and host in LOOPBACK):
            return
        raise PlainAuthRefusedError(
            f"SMTP server {host}:{self.config.smtp_port} offers no STARTTLS, so the password would be sent in "
            "clear; not logging in. Fix: enable STARTTLS on the server (or, for a test server on 127.0.0.1 only, "
            "set SEG_SMTP_ALLOW_PLAIN_LOCALHOST=1)"
        )

    def send(self, msg: Message) -> Outcome:
        """Email the message, retrying transient SMTP failures; no address means the message is dead."""
        if not msg.recipient_address:
            return Outcome("dead", None, f"no email address for recipient {msg.recipient_id}", 0)
        email = self._email(msg)
        return run_with_retry(lambda: self._attempt(email), policy=self.policy, sleep=self.sleep,
                              clock=self.clock, rng=self.rng, what="alert email")

    def close(self) -> None:
        """Nothing to release: every attempt opens and closes its SMTP connection."""
