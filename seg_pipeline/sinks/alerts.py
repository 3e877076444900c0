"""Account-manager digests and engineer alerts, delivered at most once per (recipient, week) via a ledger.

Grouping (one digest per AM per week), quieting (only confirmed segment moves; an account already alerted
into the same segment is not alerted again) and the ledger follow Alertmanager's grouping/inhibition model
(R6). Message ids are deterministic, so a redelivery after a crash carries the same id and receivers can
deduplicate.
"""

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import httpx
import pandas as pd

from seg_pipeline.outcomes import EngineerAlert
from seg_pipeline.segmentation.personas import AT_RISK_NAMES, into_at_risk
from seg_pipeline.sinks.channels import (
    Channel,
    EmailChannel,
    FileChannel,
    Message,
    SmtpFactory,
    WebhookChannel,
    inert,
)
from seg_pipeline.sinks.config import AlertConfig
from seg_pipeline.sinks.http import Outcome, RetryPolicy, SinkStopError
from seg_pipeline.sinks.outbox import dead_letter, delivery_metadata, stable_key
from seg_pipeline.warehouse.duck import transaction
from seg_pipeline.warehouse.schema import ensure_tables
from seg_pipeline.weeks import parse_week

AT_RISK = AT_RISK_NAMES  # one definition of "at-risk", shared with persona naming
MIGRATION_COLUMNS = ("account_id", "week_start", "from_segment", "to_segment", "from_name", "to_name", "kind",
                     "confirmed", "explanation")
CRM_COLUMNS = ("account_id", "account_name", "account_manager_id", "account_manager_name",
               "account_manager_email")
MAX_EXPLANATION = 200


@dataclass
class AlertResult:
    """What one alert delivery did (``as_metadata()`` for the Dagster UI; no addresses, no secrets)."""

    week_start: date
    channel: str
    dry_run: bool
    planned: int = 0
    pending_before: int = 0
    sent: int = 0
    failed: int = 0
    dead_lettered: int = 0
    would_send: int = 0
    unrouted_moves: int = 0

    def as_metadata(self) -> dict[str, Any]:
        """Return the counts shown on the asset's materialization."""
        return delivery_metadata(self, (
            "channel", "dry_run", "planned", "pending_before", "sent", "failed", "dead_lettered", "would_send",
            "unrouted_moves"), self.week_start)


def digest_message_id(am_id: str, week: date) -> str:
    """Derive a stable message id, so re-running the week never sends a manager's digest twice."""
    return "msg_" + stable_key("am_digest", am_id, week.isoformat())


def engineer_message_id(week: date, reason: str) -> str:
    """Derive a stable message id, so one week's engineer alert for ``reason`` is sent once."""
    return "msg_" + stable_key("engineer", week.isoformat(), reason)


def _clip(text: object, limit: int = MAX_EXPLANATION) -> str:
    s = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def build_digest(am_id: str, am_name: str | None, am_email: str | None, moves: pd.DataFrame, *, week: date,
                 link: str, max_lines: int = 20) -> Message:
    """One digest: moves into at-risk first, then by account name; beyond ``max_lines`` a ``+N more`` line.

    "Into at-risk" (⚠) is :func:`~seg_pipeline.segmentation.personas.is_into_at_risk`: a Dormant account coming
    back as a Support-Heavy Struggler is listed, but not flagged.
    """
    risky = into_at_risk(moves["from_name"], moves["to_name"])
    moves = moves.assign(_risk=~risky).sort_values(["_risk", "account_name", "account_id"], kind="stable")
    lines = []
    for r, into in zip(moves.itertuples(), ~moves["_risk"], strict=True):
        flag = " ⚠" if into else ""
        why = inert(_clip(r.explanation))  # data never becomes markup, a link or a mention
        lines.append(f"• {inert(_clip(r.account_name, 80))} ({inert(r.account_id)}): {inert(r.from_name)} → "
                     f"{inert(r.to_name)}{flag}" + (f" — {why}" if why else ""))
    shown, hidden = lines[:max_lines], len(lines) - min(len(lines), max_lines)
    if hidden:
        shown.append(f"+{hidden} more")
    n_risk = int(risky.sum())
    subject = (f"Segment changes for your accounts, week of {week.isoformat()}: {len(moves)} account(s)"
               + (f", {n_risk} into at-risk segments" if n_risk else ""))
    greeting = f"Hi {inert(am_name)}," if am_name else "Hi,"
    text = "\n".join([greeting, subject, "", *shown, "", f"Dashboard: {link}"])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(shown)[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Segment-health dashboard>"}]},
    ]
    return Message(message_id=digest_message_id(am_id, week), kind="am_digest", recipient_id=am_id,
                   recipient_name=am_name, recipient_address=am_email, week_start=week, subject=subject,
                   text=text, blocks=blocks)


def _check(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing required column(s): {', '.join(missing)}")


def _str_or_none(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def plan_alerts(
    con: duckdb.DuckDBPyConnection,
    config: AlertConfig,
    migrations: pd.DataFrame,
    crm_accounts: pd.DataFrame,
    *,
    week_start: date | str,
    max_lines: int = 20,
) -> AlertResult:
    """Put this week's digests into ``sinks.alert_ledger`` (one per AM; at most once per (AM, week)).

    Only confirmed ``segment`` moves of the week count. A move is skipped when the last alert for the
    account (an earlier week) already announced the same target segment. Moves whose account has no AM in
    the CRM snapshot are dead-lettered (never silently dropped). A digest already sent is never rebuilt, and a
    week older than a week that already has digests plans none (stale news after a backfill).
    """
    week = parse_week(week_start)
    _check(migrations, MIGRATION_COLUMNS, "migrations")
    _check(crm_accounts, CRM_COLUMNS, "crm_accounts")
    ensure_tables(con)
    result = AlertResult(week_start=week, channel=config.channel, dry_run=False)
    later = con.execute(
        "SELECT count(*) FROM sinks.alert_ledger WHERE kind = 'am_digest' AND week_start > ?", [week]
    ).fetchall()[0][0]
    if later:
        return result  # a rerun of an older week (backfill): managers already heard about newer weeks
    moves = _new_moves(con, migrations, week).merge(
        crm_accounts[list(CRM_COLUMNS)].drop_duplicates("account_id"), on="account_id", how="left")
    unrouted = moves[moves["account_manager_id"].isna()]
    routed = moves[moves["account_manager_id"].notna()]
    digests = [
        build_digest(str(am_id), _str_or_none(g["account_manager_name"].iloc[0]),
                     _str_or_none(g["account_manager_email"].iloc[0]), g, week=week, link=config.dashboard_url,
                     max_lines=max_lines)
        for am_id, g in routed.groupby("account_manager_id", sort=True)
    ]
    with transaction(con):
        _dead_letter_unrouted(con, unrouted, week)
        result.unrouted_moves = len(unrouted)
        result.planned = sum(_enqueue_digest(con, msg, routed, week) for msg in digests)
    return result


def _new_moves(con: duckdb.DuckDBPyConnection, migrations: pd.DataFrame, week: date) -> pd.DataFrame:
    """Select the week's confirmed segment moves (one per account), minus those already announced (quieting)."""
    m = migrations[(pd.to_datetime(migrations["week_start"]).dt.date == week)
                   & (migrations["kind"] == "segment") & migrations["confirmed"].eq(True)]
    m = m.sort_values(["account_id", "to_segment"], kind="stable").drop_duplicates("account_id", keep="last")
    if m.empty:
        return m
    prior = con.execute("""
        SELECT i.account_id, i.to_segment FROM sinks.alert_items i
        JOIN sinks.alert_ledger l USING (message_id)
        WHERE i.week_start < ? AND l.status IN ('pending', 'sent')
        QUALIFY row_number() OVER (PARTITION BY i.account_id ORDER BY i.week_start DESC) = 1""", [week]).df()
    last_to = dict(zip(prior["account_id"], prior["to_segment"], strict=True))
    return m[[last_to.get(a) != t for a, t in zip(m["account_id"], m["to_segment"], strict=True)]]


def _dead_letter_unrouted(con: duckdb.DuckDBPyConnection, unrouted: pd.DataFrame, week: date) -> None:
    """One dead letter per move without an account manager (a rerun adds none)."""
    r: Any  # an itertuples row: its fields hold whatever the frame's columns hold
    for r in unrouted.itertuples():
        key = stable_key("unrouted", r.account_id, week.isoformat())
        exists = con.execute("SELECT 1 FROM sinks.dead_letters WHERE sink = 'alerts' AND item_key = ?",
                             [key]).fetchone()
        if not exists:
            dead_letter(con, sink="alerts", item_key=key, week_start=week, subject_id=r.account_id,
                        status_code=None, reason="no account manager for this account in the CRM snapshot")


def _enqueue_digest(con: duckdb.DuckDBPyConnection, msg: Message, routed: pd.DataFrame, week: date) -> bool:
    """Ledger row plus the digest's items (what the next weeks' quieting compares against); True when written."""
    accounts = routed[routed["account_manager_id"].astype(str) == msg.recipient_id]
    if not _enqueue(con, msg, reason_key=None, n_items=len(accounts)):
        return False
    con.execute("DELETE FROM sinks.alert_items WHERE message_id = ?", [msg.message_id])
    con.executemany(
        "INSERT INTO sinks.alert_items VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[msg.message_id, r.account_id, week, _int(r.from_segment), _int(r.to_segment),
          _str_or_none(r.from_name), _str_or_none(r.to_name)] for r in accounts.itertuples()])
    return True


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _enqueue(con: duckdb.DuckDBPyConnection, msg: Message, *, reason_key: str | None, n_items: int) -> bool:
    """Insert or refresh a *pending* ledger row; a sent/dead one is never touched. True when written."""
    row = con.execute("SELECT status FROM sinks.alert_ledger WHERE message_id = ?", [msg.message_id]).fetchone()
    if row is not None and row[0] != "pending":
        return False
    payload = json.dumps({"subject": msg.subject, **msg.payload()}, ensure_ascii=False, sort_keys=True)
    con.execute("""
        INSERT INTO sinks.alert_ledger (message_id, kind, recipient_id, recipient_name, recipient_address,
            week_start, reason_key, subject, payload_json, n_items, status)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
        ON CONFLICT (message_id) DO UPDATE SET subject = excluded.subject, payload_json = excluded.payload_json,
            n_items = excluded.n_items, recipient_name = excluded.recipient_name,
            recipient_address = excluded.recipient_address""",
                [msg.message_id, msg.kind, msg.recipient_id, msg.recipient_name, msg.recipient_address,
                 msg.week_start, reason_key, msg.subject, payload, n_items])
    return True


def make_channel(config: AlertConfig, *, client: httpx.Client | None = None, smtp_factory: SmtpFactory | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time, policy: RetryPolicy | None = None) -> Channel:
    """Make the channel named by ``config.channel`` (file | webhook | email)."""
    policy = policy or RetryPolicy()
    rng = random.Random(config.jitter_seed)  # noqa: S311 - retry jitter, seedable for tests; not cryptographic
    if config.channel == "file":
        return FileChannel(config.outbox_path)
    if config.channel == "webhook":
        return WebhookChannel(config, client=client, policy=policy, sleep=sleep, clock=clock, now=now, rng=rng)
    if config.channel == "email":
        return EmailChannel(config, smtp_factory=smtp_factory, policy=policy, sleep=sleep, clock=clock, rng=rng)
    raise ValueError(f"unknown alert_channel {config.channel!r}; expected file, webhook or email")


def _log(con: duckdb.DuckDBPyConnection, msg_id: str, week: date, channel: str, outcome: str,
         code: int | None, attempts: int, detail: str) -> None:
    con.execute("INSERT INTO sinks.alert_log (message_id, week_start, channel, outcome, status_code, attempts, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?)", [msg_id, week, channel, outcome, code, attempts, detail[:1000]])


def deliver_alerts(
    con: duckdb.DuckDBPyConnection,
    config: AlertConfig,
    *,
    week_start: date | str,
    dry_run: bool = False,
    client: httpx.Client | None = None,
    smtp_factory: SmtpFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
    policy: RetryPolicy | None = None,
    message_ids: list[str] | None = None,
) -> AlertResult:
    """Send pending ledger messages up to ``week_start`` through ``config.channel``.

    Marked sent only after the channel acknowledged; 4xx/5xx-SMTP → dead letter; transient failures stay
    pending (and stop this run); 401/403 raise :class:`~seg_pipeline.sinks.http.SinkAuthError`.
    """
    week = parse_week(week_start)
    ensure_tables(con)
    result = AlertResult(week_start=week, channel=config.channel, dry_run=dry_run)
    messages = _pending_messages(con, week, message_ids)
    result.pending_before = len(messages)
    if dry_run or not messages:
        result.would_send = len(messages) if dry_run else 0
        return result
    channel = make_channel(config, client=client, smtp_factory=smtp_factory, sleep=sleep, clock=clock, now=now,
                           policy=policy)
    try:
        for i, msg in enumerate(messages):
            out = _send_one(con, channel, msg)
            _record_outcome(con, channel.name, msg, out, result)
            if out.kind == "failed":
                # The channel is down beyond the retry budget; the rest waits for the next run.
                result.failed += len(messages) - i
                break
    finally:
        channel.close()
    return result


def _pending_messages(con: duckdb.DuckDBPyConnection, week: date, message_ids: list[str] | None) -> list[Message]:
    """Pending ledger rows up to ``week`` (optionally only ``message_ids``), oldest week first."""
    sql = ("SELECT message_id, kind, recipient_id, recipient_name, recipient_address, week_start, subject, "
           "payload_json FROM sinks.alert_ledger WHERE status = 'pending' AND week_start <= ?")
    params: list[Any] = [week]
    if message_ids is not None:
        sql += " AND message_id IN (SELECT unnest(?))"
        params.append(message_ids)
    messages = []
    for mid, kind, rid, rname, raddr, wk, subject, payload_json in con.execute(
            sql + " ORDER BY week_start, kind, recipient_id", params).fetchall():
        payload = json.loads(payload_json)
        messages.append(Message(message_id=mid, kind=kind, recipient_id=rid, recipient_name=rname,
                                recipient_address=raddr, week_start=wk, subject=subject, text=payload["text"],
                                blocks=payload.get("blocks", [])))
    return messages


def _send_one(con: duckdb.DuckDBPyConnection, channel: Channel, msg: Message) -> Outcome:
    """Send ``msg``; a stop (auth, gone) is recorded against it before it propagates."""
    try:
        return channel.send(msg)
    except SinkStopError as exc:
        with transaction(con):
            con.execute("UPDATE sinks.alert_ledger SET attempts = attempts + 1, last_error = ? "
                        "WHERE message_id = ?", [str(exc)[:1000], msg.message_id])
            _log(con, msg.message_id, msg.week_start, channel.name, "stopped", None, 1, str(exc))
        raise


def _record_outcome(con: duckdb.DuckDBPyConnection, channel: str, msg: Message, out: Outcome,
                    result: AlertResult) -> None:
    """Ledger row → sent / dead (+ dead letter) / still pending, plus one log row; one transaction."""
    mid, wk = msg.message_id, msg.week_start
    with transaction(con):
        if out.kind == "ok":
            con.execute("UPDATE sinks.alert_ledger SET status = 'sent', channel = ?, "
                        "sent_at = current_timestamp, attempts = attempts + ?, last_error = NULL "
                        "WHERE message_id = ?",
                        [channel, out.attempts, mid])
            result.sent += 1
        elif out.kind == "dead":
            con.execute("UPDATE sinks.alert_ledger SET status = 'dead', channel = ?, "
                        "attempts = attempts + ?, last_error = ? WHERE message_id = ?",
                        [channel, out.attempts, out.reason, mid])
            dead_letter(con, sink="alerts", item_key=mid, week_start=wk, subject_id=msg.recipient_id,
                        status_code=out.status_code, reason=out.reason)
            result.dead_lettered += 1
        else:
            con.execute("UPDATE sinks.alert_ledger SET attempts = attempts + ?, last_error = ? "
                        "WHERE message_id = ?", [out.attempts, out.reason, mid])
        _log(con, mid, wk, channel, {"ok": "sent", "dead": "dead"}.get(out.kind, "retry_exhausted"),
             out.status_code, out.attempts, out.reason)


def send_am_alerts(
    con: duckdb.DuckDBPyConnection,
    config: AlertConfig,
    migrations: pd.DataFrame,
    crm_accounts: pd.DataFrame,
    *,
    week_start: date | str,
    dry_run: bool = False,
    max_lines: int = 20,
    **delivery: Any,
) -> AlertResult:
    """Plan this week's AM digests and deliver what is pending (the ``sinks/am_alerts`` asset body)."""
    planned = plan_alerts(con, config, migrations, crm_accounts, week_start=week_start, max_lines=max_lines)
    result = deliver_alerts(con, config, week_start=week_start, dry_run=dry_run, **delivery)
    result.planned, result.unrouted_moves = planned.planned, planned.unrouted_moves
    return result


def send_engineer_alert(
    con: duckdb.DuckDBPyConnection, config: AlertConfig, alert: EngineerAlert, **delivery: Any
) -> AlertResult:
    """One message per (week, reason) to the engineers, e.g. when the mass-migration gate blocks the week.

    ``alert.reason`` is the dedup key: calling again for the same week and reason sends nothing new.
    ``delivery`` takes the same injectables as :func:`deliver_alerts`.
    """
    week = parse_week(alert.week_start)
    ensure_tables(con)
    subject, body = alert.subject, alert.body
    msg = Message(message_id=engineer_message_id(week, alert.reason), kind="engineer", recipient_id="engineer",
                  recipient_name="data engineering", recipient_address=config.engineer_email, week_start=week,
                  subject=subject, text=f"{subject}\n\n{body}\n\nDashboard: {config.dashboard_url}",
                  blocks=[{"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
                          {"type": "section", "text": {"type": "mrkdwn", "text": inert(body)[:3000]}}])
    with transaction(con):
        planned = _enqueue(con, msg, reason_key=alert.reason, n_items=0)
    result = deliver_alerts(con, config, week_start=week, message_ids=[msg.message_id], **delivery)
    result.planned = int(planned)
    return result

