"""CRM write-back: send the CRM the segment changes it has not acknowledged yet.

The week's assignments are diffed against what the CRM last acknowledged, the changes are enqueued into
``sinks.crm_outbox`` and delivered to a REST CRM (batch upsert) or a per-week export file.

Two steps so a crash anywhere is safe: :func:`plan_writeback` only writes the outbox (one transaction);
:func:`deliver_writeback` sends pending rows under deterministic idempotency keys and marks them sent only
after a 2xx, so a rerun resends exactly the unacknowledged rows with the same keys.
"""

import json
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd

from seg_pipeline.atomic import atomic_write, atomic_write_bytes
from seg_pipeline.crashpoints import crash_point
from seg_pipeline.sinks.config import CRM_TOKEN_ENV, CrmConfig
from seg_pipeline.sinks.http import (
    Outcome,
    RateLimiter,
    RetryPolicy,
    SinkAuthError,
    SinkStopError,
    default_client,
    http_attempt,
    run_with_retry,
)
from seg_pipeline.sinks.outbox import dead_letter, delivery_metadata, stable_key
from seg_pipeline.warehouse.duck import transaction
from seg_pipeline.warehouse.schema import ensure_tables
from seg_pipeline.weeks import parse_week

BATCH_UPDATE_PATH = "/crm/v3/objects/companies/batch/update"
ASSIGNMENT_COLUMNS = ("account_id", "segment_id", "segment_name", "is_outlier")
EXPORT_COLUMNS = (
    "crm_id", "account_id", "segment_id", "segment_name", "is_outlier", "micro_community", "week_start",
    "model_version", "run_id", "idempotency_key",
)
_OUTBOX_COLUMNS = (
    "idempotency_key, account_id, crm_id, week_start, model_version, run_id, segment_id, segment_name, "
    "is_outlier, micro_community, batch_key, attempts"
)


@dataclass
class WritebackResult:
    """What one delivery did; ``as_metadata()`` is what the asset shows in the Dagster UI."""

    week_start: date
    mode: str
    dry_run: bool
    pending_before: int = 0
    sent: int = 0
    unchanged: int = 0
    failed: int = 0
    dead_lettered: int = 0
    not_in_crm: int = 0
    would_send: int = 0
    requests: int = 0
    file_path: Path | None = None
    changes: pd.DataFrame | None = field(default=None, repr=False)

    def as_metadata(self) -> dict[str, Any]:
        """Return the counts shown on the asset's materialization."""
        meta = delivery_metadata(self, (
            "mode", "dry_run", "pending_before", "sent", "unchanged", "failed", "dead_lettered", "not_in_crm",
            "would_send", "requests"), self.week_start)
        if self.file_path is not None:
            meta["file_path"] = str(self.file_path)
        return meta


# ---------------------------------------------------------------- planning


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing required column(s): {', '.join(missing)}")


def plan_writeback(
    con: duckdb.DuckDBPyConnection,
    assignments: pd.DataFrame,
    crm_accounts: pd.DataFrame,
    *,
    week_start: date | str,
    model_version: str,
    run_id: str,
    full_resync: bool = False,
) -> int:
    """Enqueue the accounts whose segment, name or outlier flag differ from the last acknowledged sync.

    All of them are enqueued when ``full_resync``; returns how many rows were enqueued.

    A week older than the newest planned week enqueues nothing, so a backfill never moves the CRM back in time.
    Accounts absent from the CRM snapshot are skipped (counted in ``sinks.crm_plans``); a duplicate account
    id in the snapshot is rejected because the write-back target would be ambiguous. Older pending rows for
    the same accounts are superseded so a stale value can never overwrite a newer one.
    """
    week = parse_week(week_start)
    _check_columns(assignments, ASSIGNMENT_COLUMNS, "assignments")
    _check_columns(crm_accounts, ("account_id",), "crm_accounts")
    if not model_version or not run_id:
        raise ValueError("model_version and run_id are required for provenance")
    a = _week_assignments(assignments, crm_accounts, week)
    ensure_tables(con)
    later = con.execute("SELECT count(*) FROM sinks.crm_plans WHERE week_start > ?", [week]).fetchall()[0][0]
    if later:
        return 0  # a rerun of an older week (backfill): the CRM already holds newer weeks' segments
    plan_in = _plan_input(a, crm_accounts)
    view = f"_seg_plan_{uuid.uuid4().hex}"
    con.register(view, plan_in)
    try:
        with transaction(con):
            return _enqueue_changes(con, view, week=week, model_version=model_version, run_id=run_id,
                                    full_resync=full_resync, n_assignments=len(a),
                                    n_not_in_crm=len(a) - len(plan_in))
    finally:
        con.unregister(view)


def _week_assignments(assignments: pd.DataFrame, crm_accounts: pd.DataFrame, week: date) -> pd.DataFrame:
    """Read the week's assignments, after rejecting inputs that would make the write-back ambiguous."""
    a = assignments
    if "week_start" in a.columns:
        a = a[pd.to_datetime(a["week_start"]).dt.date == week]
    if a["account_id"].isna().any():
        raise ValueError("assignments contain a null account_id")
    dup = a["account_id"][a["account_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"assignments have {len(dup)} duplicate account ids for {week}, e.g. {dup[0]!r}")
    dup = crm_accounts["account_id"][crm_accounts["account_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"CRM snapshot has duplicate account id {dup[0]!r}: write-back target is ambiguous")
    return a


def _plan_input(a: pd.DataFrame, crm_accounts: pd.DataFrame) -> pd.DataFrame:
    """Keep the assignments of accounts present in the CRM, with the CRM's object id (``crm_id`` or the account id)."""
    crm = crm_accounts[["account_id"]].copy()
    crm["crm_id"] = crm_accounts["crm_id"] if "crm_id" in crm_accounts.columns else crm_accounts["account_id"]
    plan_in = a[list(ASSIGNMENT_COLUMNS)].copy()
    plan_in["micro_community"] = a["micro_community"] if "micro_community" in a.columns else None
    return plan_in.merge(crm, on="account_id", how="inner")


# The plan: every input row with its deterministic key and whether it differs from the acknowledged state.
_PLAN_SQL = """
    CREATE OR REPLACE TEMP TABLE _seg_plan AS
    SELECT i.account_id, cast(i.crm_id AS VARCHAR) AS crm_id,
           cast(i.segment_id AS INTEGER) AS segment_id, cast(i.segment_name AS VARCHAR) AS segment_name,
           cast(i.is_outlier AS BOOLEAN) AS is_outlier,
           cast(i.micro_community AS INTEGER) AS micro_community,
           left(sha256(concat_ws('|', 'crm', i.account_id, cast($week AS VARCHAR), $model,
                coalesce(cast(i.segment_id AS VARCHAR), '~'), coalesce(i.segment_name, '~'),
                coalesce(cast(i.is_outlier AS VARCHAR), '~'), $nonce)), 32) AS idempotency_key,
           ($full OR s.account_id IS NULL
            OR s.segment_id IS DISTINCT FROM cast(i.segment_id AS INTEGER)
            OR s.segment_name IS DISTINCT FROM i.segment_name
            OR s.is_outlier IS DISTINCT FROM cast(i.is_outlier AS BOOLEAN))
           -- a rerun of an older week never moves the CRM back in time
           AND (s.week_start IS NULL OR s.week_start <= $week) AS changed
    FROM {view} i LEFT JOIN sinks.crm_sync_state s USING (account_id)"""
# Any pending row for these accounts that is not this week's value is stale.
_SUPERSEDE_SQL = """
    UPDATE sinks.crm_outbox SET status = 'superseded'
    WHERE status = 'pending'
      AND account_id IN (SELECT account_id FROM _seg_plan)
      AND idempotency_key NOT IN (SELECT idempotency_key FROM _seg_plan WHERE changed)"""
_ENQUEUE_SQL = """
    INSERT INTO sinks.crm_outbox (idempotency_key, account_id, crm_id, week_start, model_version,
        run_id, segment_id, segment_name, is_outlier, micro_community, status)
    SELECT idempotency_key, account_id, crm_id, $week, $model, $run, segment_id, segment_name,
           is_outlier, micro_community, 'pending'
    FROM _seg_plan WHERE changed
    ON CONFLICT (idempotency_key) DO UPDATE SET status = 'pending'
    WHERE crm_outbox.status = 'superseded'"""
_RECORD_PLAN_SQL = """
    INSERT INTO sinks.crm_plans VALUES ($week, $model, $run, $full, $n_a, $n_e, $n_u, $n_x, current_timestamp)
    ON CONFLICT (week_start) DO UPDATE SET model_version = excluded.model_version,
        run_id = excluded.run_id, full_resync = excluded.full_resync,
        n_assignments = excluded.n_assignments, n_enqueued = excluded.n_enqueued,
        n_unchanged = excluded.n_unchanged, n_not_in_crm = excluded.n_not_in_crm,
        planned_at = excluded.planned_at"""


def _enqueue_changes(con: duckdb.DuckDBPyConnection, view: str, *, week: date, model_version: str, run_id: str,
                     full_resync: bool, n_assignments: int, n_not_in_crm: int) -> int:
    """Diff the registered ``view`` against the sync state and enqueue the changes; return how many.

    Also supersedes stale rows and records the week's plan; the caller holds the transaction.
    """
    # A full resync must not collide with the keys of normal syncs the CRM already deduplicated, hence the nonce;
    # it is per week, never per run, so a rerun after a crash re-derives the same keys (no second effect).
    nonce = "resync" if full_resync else ""
    con.execute(_PLAN_SQL.format(view=view), {"week": week, "model": model_version, "nonce": nonce,
                                              "full": full_resync})
    con.execute(_SUPERSEDE_SQL)
    con.execute(_ENQUEUE_SQL, {"week": week, "model": model_version, "run": run_id})
    n_changed, n_total = con.execute(
        "SELECT count(*) FILTER (WHERE changed), count(*) FROM _seg_plan").fetchone() or (0, 0)
    con.execute(_RECORD_PLAN_SQL, {"week": week, "model": model_version, "run": run_id, "full": full_resync,
                                   "n_a": n_assignments, "n_e": n_changed, "n_u": n_total - n_changed,
                                   "n_x": n_not_in_crm})
    con.execute("DROP TABLE _seg_plan")
    return int(n_changed)


# ---------------------------------------------------------------- delivery


def _pending(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    return con.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM sinks.crm_outbox "  # noqa: S608 - module constant column list
        "WHERE status = 'pending' AND week_start <= ? ORDER BY batch_key NULLS LAST, account_id, idempotency_key",
        [week],
    ).df()


def _properties(row: Any) -> dict[str, Any]:
    """CRM properties with provenance; ids and names only, nothing about end users."""
    return {
        "seg_segment_id": None if pd.isna(row.segment_id) else int(row.segment_id),
        "seg_segment_name": row.segment_name,
        "seg_is_outlier": bool(row.is_outlier),
        "seg_micro_community": None if pd.isna(row.micro_community) else int(row.micro_community),
        "seg_week_start": pd.Timestamp(row.week_start).date().isoformat(),
        "seg_model_version": row.model_version,
        "seg_run_id": row.run_id,
        "seg_sync_key": row.idempotency_key,
    }


def _mark_sent(con: duckdb.DuckDBPyConnection, keys: list[str], *, week: date, via: str, status: int | None,
               attempts: int, batch_key: str | None) -> None:
    """Outbox → sent, sync state → acknowledged value, one log row each; one transaction."""
    if not keys:
        return
    with transaction(con):
        con.execute("""
            UPDATE sinks.crm_outbox SET status = 'sent', sent_at = current_timestamp, http_status = $status,
                delivered_week = $week, delivered_via = $via, attempts = attempts + $attempts, last_error = NULL
            WHERE idempotency_key IN (SELECT unnest($keys))""",
                    {"status": status, "week": week, "via": via, "attempts": attempts, "keys": keys})
        con.execute("""
            INSERT INTO sinks.crm_sync_state
            SELECT account_id, segment_id, segment_name, is_outlier, micro_community, week_start, model_version,
                   run_id, idempotency_key, current_timestamp
            FROM sinks.crm_outbox WHERE idempotency_key IN (SELECT unnest($keys))
            QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY week_start DESC, idempotency_key) = 1
            ON CONFLICT (account_id) DO UPDATE SET segment_id = excluded.segment_id,
                segment_name = excluded.segment_name, is_outlier = excluded.is_outlier,
                micro_community = excluded.micro_community, week_start = excluded.week_start,
                model_version = excluded.model_version, run_id = excluded.run_id,
                idempotency_key = excluded.idempotency_key, synced_at = excluded.synced_at""", {"keys": keys})
        _log(con, keys, week=week, outcome="sent", status=status, attempts=attempts, batch_key=batch_key,
             detail=via)


def _log(con: duckdb.DuckDBPyConnection, keys: list[str], *, week: date, outcome: str, status: int | None,
         attempts: int, batch_key: str | None, detail: str) -> None:
    con.execute("""
        INSERT INTO sinks.crm_sync_log (delivery_week, idempotency_key, account_id, batch_key, outcome,
                                        http_status, attempts, detail)
        SELECT $week, idempotency_key, account_id, $batch, $outcome, $status, $attempts, $detail
        FROM sinks.crm_outbox WHERE idempotency_key IN (SELECT unnest($keys)) ORDER BY account_id""",
                {"week": week, "batch": batch_key, "outcome": outcome, "status": status, "attempts": attempts,
                 "detail": detail[:1000], "keys": keys})


def _mark_dead(con: duckdb.DuckDBPyConnection, reasons: dict[str, str], accounts: dict[str, str], *,
               week: date, status: int | None, attempts: int, batch_key: str | None) -> None:
    with transaction(con):
        for key, reason in reasons.items():
            con.execute("""
                UPDATE sinks.crm_outbox SET status = 'dead', attempts = attempts + ?, last_error = ?,
                    http_status = ? WHERE idempotency_key = ?""", [attempts, reason[:1000], status, key])
            dead_letter(con, sink="crm", item_key=key, week_start=week, subject_id=accounts[key],
                        status_code=status, reason=reason)
            _log(con, [key], week=week, outcome="dead", status=status, attempts=attempts, batch_key=batch_key,
                 detail=reason)


def _mark_attempted(con: duckdb.DuckDBPyConnection, keys: list[str], *, week: date, outcome: str,
                    status: int | None, attempts: int, batch_key: str | None, reason: str) -> None:
    """Rows stay pending; record why (retry budget spent, or the stage was stopped)."""
    with transaction(con):
        con.execute("""
            UPDATE sinks.crm_outbox SET attempts = attempts + $attempts, last_error = $reason, http_status = $status
            WHERE idempotency_key IN (SELECT unnest($keys))""",
                    {"attempts": attempts, "reason": reason[:1000], "status": status, "keys": keys})
        _log(con, keys, week=week, outcome=outcome, status=status, attempts=attempts, batch_key=batch_key,
             detail=reason)


def _assign_batches(con: duckdb.DuckDBPyConnection, pending: pd.DataFrame, size: int) -> list[tuple[str, list[str]]]:
    """Batches with persisted keys: rows that were already tried keep their batch (and its key)."""
    tried = pending[pending["batch_key"].notna()].sort_values(["account_id", "idempotency_key"])
    batches: dict[str, list[str]] = {}
    for key, grp in tried.groupby("batch_key", sort=False):  # in account order, as first sent
        batches[str(key)] = grp["idempotency_key"].tolist()
    fresh = pending[pending["batch_key"].isna()]["idempotency_key"].tolist()
    new: list[tuple[str, list[str]]] = []
    for i in range(0, len(fresh), max(1, size)):
        chunk = fresh[i:i + size]
        new.append((stable_key("crm-batch", *sorted(chunk)), chunk))
    if new:
        with transaction(con):
            for bkey, chunk in new:
                con.execute("UPDATE sinks.crm_outbox SET batch_key = ? WHERE idempotency_key IN (SELECT unnest(?))",
                            [bkey, chunk])
    return list(batches.items()) + new


def _named_rows(response: httpx.Response | None, crm_ids: set[str]) -> dict[str, str]:
    """Map the rows a CRM error body names to their messages: ``{crm_id: message}``.

    Understands ``errors[].context.ids|id`` and ``errors[].id`` (HubSpot-style batch errors); anything else
    names no rows.
    """
    if response is None:
        return {}
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    named: dict[str, str] = {}
    for err in errors if isinstance(errors, list) else []:
        if not isinstance(err, dict):
            continue
        message = str(err.get("message") or body.get("message") or "rejected")
        ids: list[Any] = []
        ctx = err.get("context")
        if isinstance(ctx, dict):
            for k in ("ids", "id"):
                v = ctx.get(k)
                ids.extend(v if isinstance(v, list) else [v] if v is not None else [])
        if err.get("id") is not None:
            ids.append(err["id"])
        for i in ids:
            if str(i) in crm_ids:
                named[str(i)] = f"HTTP {response.status_code}: {message}"[:1000]
    return named


def _write_export(df: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write the export atomically (readers see the old file or the new one)."""
    if fmt == "csv":
        atomic_write_bytes(path, df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    else:
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def export_path(export_dir: Path, week: date, fmt: str = "csv") -> Path:
    """Where the file sink writes week ``week``: ``<export_dir>/crm_writeback_<week>.<fmt>``."""
    return export_dir / f"crm_writeback_{week.isoformat()}.{fmt}"


def _deliver_file(con: duckdb.DuckDBPyConnection, config: CrmConfig, week: date, pending: pd.DataFrame,
                  result: WritebackResult, fmt: str) -> None:
    path = export_path(config.export_dir, week, fmt)
    result.file_path = path
    if pending.empty and path.exists():
        return
    # Rows already delivered in this week's file are rewritten too, so a rerun yields the identical file.
    rows = con.execute(
        "SELECT " + ", ".join(EXPORT_COLUMNS) + " FROM sinks.crm_outbox "  # noqa: S608 - module constant columns
        "WHERE (status = 'pending' AND week_start <= $week) "
        "   OR (status = 'sent' AND delivered_week = $week AND delivered_via = 'file') "
        "ORDER BY account_id, week_start, idempotency_key", {"week": week}).df()
    _write_export(rows, path, fmt)
    keys = pending["idempotency_key"].tolist()
    _mark_sent(con, keys, week=week, via="file", status=None, attempts=1, batch_key=None)
    result.sent += len(keys)


def _deliver_rest(con: duckdb.DuckDBPyConnection, config: CrmConfig, week: date, pending: pd.DataFrame,
                  result: WritebackResult, *, client: httpx.Client | None, sleep: Callable[[float], None],
                  clock: Callable[[], float], policy: RetryPolicy) -> None:
    if not config.base_url:
        raise ValueError("crm_mode is 'rest' but no CRM base URL is configured (SEG_CRM_BASE_URL)")
    if pending.empty:
        return
    url = config.base_url.rstrip("/") + BATCH_UPDATE_PATH
    rows = pending.set_index("idempotency_key", drop=False)
    queue = deque(_assign_batches(con, pending, config.batch_size))
    limiter = RateLimiter(config.rps, clock=clock, sleep=sleep)
    rng = random.Random(config.jitter_seed)  # noqa: S311 - retry jitter, seedable for tests; not cryptographic
    own_client = client is None
    http = default_client(policy.timeout) if client is None else client
    try:
        while queue:
            batch_key, keys = queue.popleft()
            batch = rows.loc[keys].sort_values("account_id")
            body = json.dumps(
                {"inputs": [{"id": r.crm_id, "properties": _properties(r)} for r in batch.itertuples()]},
                separators=(",", ":"), sort_keys=True,
            ).encode("utf-8")

            def headers(bk: str = batch_key) -> dict[str, str]:
                token = config.token
                if not token:
                    raise SinkAuthError(f"CRM token missing: set {CRM_TOKEN_ENV}; rows stay pending")
                return {"Authorization": f"Bearer {token}", "Idempotency-Key": bk,
                        "Content-Type": "application/json"}

            attempt = http_attempt(http, url, body=body, headers=headers, limiter=limiter)
            try:
                outcome = _counting(attempt, result)
                out = run_with_retry(outcome, policy=policy, sleep=sleep, clock=clock, rng=rng,
                                     what="CRM write-back")
                crash_point("crm_after_response")  # the CRM may have applied the batch; the outbox does not know yet
            except SinkStopError as exc:
                _mark_attempted(con, keys, week=week, outcome="stopped", status=None, attempts=1,
                                batch_key=batch_key, reason=str(exc))
                raise
            _settle_batch(con, week, batch, batch_key, out, queue, result)
            if out.kind == "failed":
                # The CRM is unavailable beyond our budget: leave the rest pending for the next run.
                for _, rest in queue:
                    result.failed += len(rest)
                break
    finally:
        if own_client:
            http.close()


def _counting(attempt: Callable[[], Any], result: WritebackResult) -> Callable[[], Any]:
    def wrapped() -> Any:
        result.requests += 1
        return attempt()
    return wrapped


def _settle_batch(con: duckdb.DuckDBPyConnection, week: date, batch: pd.DataFrame, batch_key: str,
                  out: Outcome, queue: deque[tuple[str, list[str]]], result: WritebackResult) -> None:
    keys = batch["idempotency_key"].tolist()
    by_crm = dict(zip(batch["crm_id"].astype(str), keys, strict=True))
    accounts = dict(zip(keys, batch["account_id"], strict=True))
    if out.kind == "failed":
        _mark_attempted(con, keys, week=week, outcome="retry_exhausted", status=out.status_code,
                        attempts=out.attempts, batch_key=batch_key, reason=out.reason)
        result.failed += len(keys)
        return
    named = _named_rows(out.response, set(by_crm))
    if out.kind == "ok":
        # 207 Multi-Status: the rows the CRM names failed, the others were applied.
        bad = {by_crm[c]: msg for c, msg in named.items()} if out.status_code == 207 else {}
        if bad:
            _mark_dead(con, bad, accounts, week=week, status=out.status_code, attempts=out.attempts,
                       batch_key=batch_key)
            result.dead_lettered += len(bad)
        good = [k for k in keys if k not in bad]
        _mark_sent(con, good, week=week, via="rest", status=out.status_code, attempts=out.attempts,
                   batch_key=batch_key)
        result.sent += len(good)
        return
    if named:
        # A batch 4xx applied nothing: dead-letter the named rows, resend the others as a new batch.
        bad = {by_crm[c]: msg for c, msg in named.items()}
        _mark_dead(con, bad, accounts, week=week, status=out.status_code, attempts=out.attempts,
                   batch_key=batch_key)
        result.dead_lettered += len(bad)
        rest = [k for k in keys if k not in bad]
        if rest:
            new_key = stable_key("crm-batch", *sorted(rest))
            with transaction(con):
                con.execute("UPDATE sinks.crm_outbox SET batch_key = ? WHERE idempotency_key IN (SELECT unnest(?))",
                            [new_key, rest])
            queue.appendleft((new_key, rest))
        return
    reason = out.reason or f"HTTP {out.status_code}"
    _mark_dead(con, dict.fromkeys(keys, reason), accounts, week=week, status=out.status_code,
               attempts=out.attempts, batch_key=batch_key)
    result.dead_lettered += len(keys)


def deliver_writeback(
    con: duckdb.DuckDBPyConnection,
    config: CrmConfig,
    *,
    week_start: date | str,
    dry_run: bool = False,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    policy: RetryPolicy | None = None,
    file_format: str = "csv",
) -> WritebackResult:
    """Deliver every pending outbox row up to ``week_start`` via ``config.mode`` (``rest`` | ``file``).

    ``dry_run`` only reports the pending changes (``result.changes``). Raises :class:`SinkAuthError` on
    401/403 or a missing token, leaving rows pending. ``client`` is used as given (its timeout applies).
    """
    week = parse_week(week_start)
    if config.mode not in ("rest", "file"):
        raise ValueError(f"unknown crm_mode {config.mode!r}; expected 'rest' or 'file'")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"unknown file_format {file_format!r}; expected 'csv' or 'parquet'")
    ensure_tables(con)
    result = WritebackResult(week_start=week, mode=config.mode, dry_run=dry_run)
    plan = con.execute("SELECT n_unchanged, n_not_in_crm FROM sinks.crm_plans WHERE week_start = ?",
                       [week]).fetchone()
    if plan is not None:
        result.unchanged, result.not_in_crm = int(plan[0]), int(plan[1])
    pending = _pending(con, week)
    result.pending_before = len(pending)
    if dry_run:
        result.would_send = len(pending)
        result.changes = con.execute("""
            SELECT o.account_id, s.segment_name AS crm_segment_name, o.segment_name, s.is_outlier AS crm_is_outlier,
                   o.is_outlier, o.week_start, o.model_version
            FROM sinks.crm_outbox o LEFT JOIN sinks.crm_sync_state s USING (account_id)
            WHERE o.status = 'pending' AND o.week_start <= ? ORDER BY o.account_id""", [week]).df()
        return result
    if config.mode == "file":
        _deliver_file(con, config, week, pending, result, file_format)
    else:
        _deliver_rest(con, config, week, pending, result, client=client, sleep=sleep, clock=clock,
                      policy=policy or RetryPolicy())
    return result
