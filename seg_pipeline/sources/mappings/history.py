"""CRM history exports → one weekly snapshot CSV per week (the as-of rules are in :mod:`.crm_history`).

Reads the static accounts table (``crm_accounts.input``) and the ``history`` tables, links every row to an
account, and writes ``crm_accounts/accounts_<week>.csv`` for each week. Every export row is counted: written
(its account is in at least one snapshot written), skipped (``outside_weeks``: its account is in none of the
weeks imported) or rejected with a reason (``unresolved_join:accounts``, ``unresolved_join:subscriptions``,
``cast_error:<date column>``, ``null_key:account_id``, ``duplicate_key:account_id``, ``no_start_date``).
"""

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from seg_pipeline.sources.mappings.crm_history import CHURN, START, StateTimeline, lifetimes, status_in_week, week_range
from seg_pipeline.sources.mappings.exports import file_format, matching_files, read_rows
from seg_pipeline.sources.mappings.model import HistoryTable, SourceMapping
from seg_pipeline.sources.mappings.report import SourceReport
from seg_pipeline.sources.mappings.rows import MappedRow, RowMapper
from seg_pipeline.sources.mappings.targets import contract_for
from seg_pipeline.sources.mappings.values import ColumnMapper, as_text, get_path, parse_date
from seg_pipeline.sources.mappings.writer import write_crm
from seg_pipeline.weeks import ONE_WEEK, week_start_of

# Column paths under which the history hands its values to the row mapper (not valid export headers).
STATE, STATUS, FIRST_START = "@state:", "@status", "@first_start"
_ORDER = {"subscriptions": 0, "changes": 1}  # a subscription's start state before a same-day change


@dataclass
class _Account:
    """Everything known about one account: its static row and its dated events."""

    record: dict[str, Any]
    signup: date | None
    events: list[tuple[date, str]] = field(default_factory=list)
    states: list[tuple[date, int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class _Book:
    """Row outcomes: rejects at once, the rest once we know whether their account is in a snapshot."""

    report: SourceReport
    rejects: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)  # (file, account id)

    def reject(self, rel: str, row: int, reason: str, record: object) -> None:
        self.rejects.append({"file": rel, "row": row, "reason": reason, "record": record})
        self.report.count(rel, "rejected", reason)

    def settle(self, present: set[str]) -> None:
        for rel, account in self.pending:
            if account in present:
                self.report.count(rel, "written")
            else:
                self.report.count(rel, "skipped", "outside_weeks")


class _Reader:
    """Reads one history table's rows, with the account crosswalk and time zone of the CRM section."""

    def __init__(self, mapping: SourceMapping, import_dir: Path, book: _Book) -> None:
        self.mapping, self.import_dir, self.book = mapping, import_dir, book
        self.tz = ZoneInfo(mapping.time_zone)
        self.crosswalk = mapping.values.get("account_id", {})

    def rows(self, pattern: str, fmt: str | None, where: str) -> Any:
        """Yield ``(file, row number, record)``; unreadable rows are rejected here."""
        files = matching_files(pattern, self.import_dir, where)
        if not files:
            self.book.report.warnings.append(f"{where}: no export file matches {pattern!r} under {self.import_dir}")
        for path in files:
            rel = path.relative_to(self.import_dir).as_posix()
            self.book.report.files_read.append(rel)
            self.book.report.per_file.setdefault(rel, Counter())
            for row in read_rows(path, rel, file_format(path, fmt)):
                if row.record is None:
                    self.book.reject(rel, row.row, row.reason or "malformed_line", row.raw)
                else:
                    yield rel, row.row, row.record

    def account(self, record: dict[str, Any], paths: tuple[str, ...]) -> str | None:
        col = contract_for("crm_accounts").column("account_id")
        value, _ = ColumnMapper(col, paths, self.crosswalk, None).map(record)
        return as_text(value)

    def day(self, record: dict[str, Any], paths: tuple[str, ...], fmt: str | None) -> tuple[date | None, bool]:
        """(date, readable): an empty value is ``(None, True)``, an unparseable one ``(None, False)``."""
        text = next((t for p in paths if (t := as_text(get_path(record, p))) is not None), None)
        if text is None:
            return None, True
        parsed = parse_date(text, self.tz, fmt)
        return (None, False) if parsed is None else (date.fromisoformat(parsed), True)


def _state(record: dict[str, Any], table: HistoryTable) -> dict[str, Any]:
    return {name: next((v for p in paths if (v := as_text(get_path(record, p))) is not None), None)
            for name, paths in table.columns.items()}


def _read_accounts(reader: _Reader) -> dict[str, _Account]:
    mapping, book = reader.mapping, reader.book
    accounts: dict[str, _Account] = {}
    for rel, n, record in reader.rows(mapping.input, mapping.format, "crm_accounts"):
        account = reader.account(record, mapping.columns.get("account_id", ()))
        if account is None:
            book.reject(rel, n, "null_key:account_id", record)
        elif account in accounts:
            book.reject(rel, n, "duplicate_key:account_id", record)
        else:
            signup, _ = reader.day(record, mapping.columns.get("signup_date", ()), mapping.formats.get("signup_date"))
            accounts[account] = _Account(record, signup)
            book.pending.append((rel, account))
    return accounts


def _read_subscriptions(reader: _Reader, table: HistoryTable, accounts: dict[str, _Account]) -> dict[str, str]:
    """Add each subscription's start (and end) to its account; return subscription id -> account id."""
    owner: dict[str, str] = {}
    for rel, n, record in reader.rows(table.input, table.format, "crm_accounts.history.subscriptions"):
        account = reader.account(record, table.account)
        start, _ = reader.day(record, table.date, table.date_format)
        end, end_ok = reader.day(record, table.end, table.date_format)
        if account not in accounts:
            reader.book.reject(rel, n, "unresolved_join:accounts", record)
        elif start is None or not end_ok:
            reader.book.reject(rel, n, "cast_error:" + ("start" if start is None else "end"), record)
        else:
            acc = accounts[account]
            acc.events.append((start, START))
            if end is not None:
                acc.events.append((end, CHURN))
            acc.states.append((start, _ORDER["subscriptions"], _state(record, table)))
            sub_id = as_text(get_path(record, table.id or ""))
            if sub_id is not None:
                owner[sub_id] = account
            reader.book.pending.append((rel, account))
    return owner


def _read_dated(reader: _Reader, role: str, table: HistoryTable, accounts: dict[str, _Account],
                owner: dict[str, str]) -> None:
    """Read changes (new state) or churn events, linked by account or by subscription id."""
    for rel, n, record in reader.rows(table.input, table.format, f"crm_accounts.history.{role}"):
        if table.subscription:
            sub_id = next((t for p in table.subscription if (t := as_text(get_path(record, p))) is not None), None)
            account, missing = owner.get(sub_id or ""), "unresolved_join:subscriptions"
        else:
            account, missing = reader.account(record, table.account), "unresolved_join:accounts"
        day, _ = reader.day(record, table.date, table.date_format)
        if account not in accounts:
            reader.book.reject(rel, n, missing, record)
        elif day is None:
            reader.book.reject(rel, n, "cast_error:date", record)
        else:
            if role == "churn":
                accounts[account].events.append((day, CHURN))
            else:
                accounts[account].states.append((day, _ORDER["changes"], _state(record, table)))
            reader.book.pending.append((rel, account))


def import_crm_history(mapping: SourceMapping, import_dir: Path, landing: Path, weeks: list[date] | None,
                       now: datetime, report: SourceReport) -> list[dict[str, Any]]:
    """Write one snapshot per week of ``weeks`` (default: the history's own span); return the rejects."""
    history = mapping.history
    if history is None:
        raise ValueError("import_crm_history needs a mapping with a history")
    book = _Book(report)
    reader = _Reader(mapping, import_dir, book)
    accounts = _read_accounts(reader)
    owner = _read_subscriptions(reader, history.subscriptions, accounts)
    for role, table in history.tables().items():
        if role != "subscriptions":
            _read_dated(reader, role, table, accounts, owner)
    for account, acc in list(accounts.items()):
        if not any(kind == START for _, kind in acc.events):
            if acc.signup is None:
                book.pending = [(f, a) for f, a in book.pending if a != account]
                book.reject(mapping.input, 0, "no_start_date", acc.record)  # neither a subscription nor a signup
                del accounts[account]
                continue
            acc.events.append((acc.signup, START))
    if weeks is None:
        days = [d for acc in accounts.values() for d, _ in acc.events] + [
            d for acc in accounts.values() for d, _, _ in acc.states]
        weeks = week_range(min(days), min(max(days), now.date())) if days else []
    weeks = [w for w in weeks if w <= week_start_of(now.date())]
    present = _write_snapshots(mapping, accounts, weeks, landing, now, report)
    book.settle(present)
    return book.rejects


def _snapshot_mapping(mapping: SourceMapping) -> SourceMapping:
    """Column paths that read the history's values first, then the accounts table's own columns."""
    columns = dict(mapping.columns)
    history = mapping.history
    tables = [] if history is None else [t for t in (history.subscriptions, history.changes) if t is not None]
    for name in {n for t in tables for n in t.columns}:
        columns[name] = (STATE + name, *columns.get(name, ()))
    columns["status"] = (STATUS,)
    columns["signup_date"] = (*columns.get("signup_date", ()), FIRST_START)
    return replace(mapping, columns=columns)


def _write_snapshots(mapping: SourceMapping, accounts: dict[str, _Account], weeks: list[date], landing: Path,
                     now: datetime, report: SourceReport) -> set[str]:
    """Write every week's snapshot; return the accounts that appear in at least one."""
    contract = contract_for("crm_accounts")
    mapper = RowMapper(_snapshot_mapping(mapping), report, now, None)
    intervals = {a: lifetimes(acc.events) for a, acc in accounts.items()}
    timelines = {a: StateTimeline(acc.states) for a, acc in accounts.items()}
    firsts = {a: min(iv.start for iv in ivs).isoformat() for a, ivs in intervals.items() if ivs}
    cache: dict[tuple[str, int, str], MappedRow] = {}
    present: set[str] = set()
    for week in weeks:
        rows = []
        for account, acc in accounts.items():
            status = status_in_week(intervals[account], week)
            if status is None:
                continue
            index, state = timelines[account].as_of(week + ONE_WEEK)
            key = (account, index, status)
            if key not in cache:
                record = {**acc.record, **{STATE + k: v for k, v in state.items()}, STATUS: status,
                          FIRST_START: firsts.get(account)}
                mapped, _ = mapper.map(record)  # a CRM row always maps: odd values stay for the loader
                if mapped is None:
                    raise ValueError(f"CRM history row for {account} did not map")
                cache[key] = mapped
            rows.append(cache[key])
            present.add(account)
        report.files_written += write_crm(rows, contract, landing, week)
        report.rows_out += len(rows)
        report.weeks.add(week)
    return present
