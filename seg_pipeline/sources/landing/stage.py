""":func:`stage_week`: one week of one source into a DuckDB staging table, every row typed or given a reason.

The heavy work is SQL on the caller's connection, so memory follows DuckDB's ``memory_limit`` (and spills to its
``temp_directory``) instead of the week's size: Parquet rows go from ``read_parquet`` straight into the staging
table through the contract SELECT of :mod:`.sql_rules`; exact repeats are dropped and key conflicts quarantined
with window functions over the few repeated keys only; the reject rate and the snapshot's unique key are
aggregates. CSV and JSON lines are split into physical lines in Python first (:mod:`.readers`), because a bad line
must be quarantined by its line number and DuckDB's CSV reader neither numbers good rows nor rejects an
unterminated quote (docs/reliability.md); their all-text columns then go through the same SQL.

The staging table holds the contract columns, ``source_file``, ``source_row``, ``reason`` (NULL = loads) and
``record`` (the quarantined row as read, JSON). :func:`seg_pipeline.raw.tables.write_staged_week` moves it into
``raw.*`` in one transaction; :func:`seg_pipeline.sources.landing.load.load_week` fetches it as pandas.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from seg_pipeline.sources.contracts import (
    EMPTY_FILE,
    FILE_REASONS,
    UNPARSEABLE_FILE,
    Contract,
    ContractError,
    get_contract,
)
from seg_pipeline.sources.landing import parquet
from seg_pipeline.sources.landing.filedata import FileData, FileProblem
from seg_pipeline.sources.landing.files import landing_root, week_files
from seg_pipeline.sources.landing.readers import READERS
from seg_pipeline.sources.landing.records import dumps
from seg_pipeline.sources.landing.sql_rules import TEXT, lit, validate_sql
from seg_pipeline.warehouse.duck import ident
from seg_pipeline.weeks import parse_week

LINEAGE = ("source_file", "source_row", "reason", "record")


@dataclass
class StagedWeek:
    """One source × one week in the staging table ``table`` of the connection that staged it (counts in SQL)."""

    source: str
    week_start: date
    table: str
    files: list[str]
    rows_in: int
    loaded: int
    quarantined: int
    duplicates_dropped: int
    reasons: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)  # one sentence per file that blocks the week

    @property
    def reconciled(self) -> bool:
        """``in = loaded + quarantined + deduplicated`` — the invariant the raw-layer check asserts."""
        return self.rows_in == self.loaded + self.quarantined + self.duplicates_dropped


def staging_table(source: str) -> str:
    """Name the temp table that holds ``source``'s staged week (one per source and connection)."""
    get_contract(source)
    return ident(f"_stage_{source}")


@dataclass
class _Week:
    contract: Contract
    table: str
    week_start: date
    params: dict[str, Any]
    rows_in_by_file: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)


def stage_week(
    con: duckdb.DuckDBPyConnection,
    source: str,
    landing_dir: Path,
    week_start: date | str,
    *,
    now: datetime | None = None,
    reject_rate: float = 0.2,
) -> StagedWeek:
    """Read, validate, de-duplicate and reconcile one week of ``source`` into a temp table of ``con``.

    Raises :class:`ContractError` (naming the file) for a missing required column, a Parquet column of the wrong
    type, a duplicate key in a snapshot source, or a file whose quarantined share exceeds ``reject_rate``; the
    staging table is dropped then, and nothing else was written. ``now`` (default: current UTC time) bounds
    timestamps so future events are quarantined.
    """
    contract = get_contract(source)
    week_start = parse_week(week_start)
    if not 0.0 <= reject_rate <= 1.0:
        raise ValueError(f"reject_rate must be within [0, 1], got {reject_rate}")
    root = landing_root(landing_dir)
    paths = week_files(source, root, week_start)
    files = [p.relative_to(root).as_posix() for p in paths]
    now_utc = _normalise_now(now)
    start = datetime(week_start.year, week_start.month, week_start.day, tzinfo=UTC)
    week = _Week(
        contract,
        staging_table(source),
        week_start,
        {
            "now": now_utc,
            "start": start,
            "end": start + timedelta(days=7),
            "today": now_utc.date(),
            "tz": contract.time_zone,
        },
    )
    week.warnings += _missing_file_warnings(contract, week_start, files)
    _create_table(con, week)
    file_days = (
        {contract.file_name(week_start + timedelta(days=i)): week_start + timedelta(days=i) for i in range(7)}
        if contract.cadence == "day"
        else {}
    )
    try:
        for path, rel in zip(paths, files, strict=True):
            day = file_days.get(rel)
            if contract.file_format == "parquet":
                _stage_parquet(con, week, path.resolve(), rel, day)
            else:
                _stage_text(con, week, path.resolve(), rel, day)
            if contract.duplicate_key == "reject":
                _check_unique_key(con, week, rel)
        duplicates = _dedupe(con, week) if contract.duplicate_key == "dedupe" else 0
        _check_reject_rate(con, week, reject_rate)
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {week.table}")
        raise
    counts = con.execute(
        f"SELECT reason, count(*) FROM {week.table} GROUP BY reason ORDER BY reason NULLS FIRST"  # noqa: S608
    ).fetchall()
    reasons = {str(r): int(n) for r, n in counts if r is not None}
    loaded = sum(int(n) for r, n in counts if r is None)
    return StagedWeek(
        source=source,
        week_start=week_start,
        table=week.table,
        files=files,
        rows_in=sum(week.rows_in_by_file.values()),
        loaded=loaded,
        quarantined=sum(reasons.values()),
        duplicates_dropped=duplicates,
        reasons=reasons,
        warnings=week.warnings,
        file_problems=week.file_problems,
    )


def drop_staged(con: duckdb.DuckDBPyConnection, staged: StagedWeek) -> None:
    """Free the staging table once its rows are written (or fetched)."""
    con.execute(f"DROP TABLE IF EXISTS {staging_table(staged.source)}")


def _normalise_now(now: datetime | None) -> datetime:
    ts = datetime.now(UTC) if now is None else now
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _missing_file_warnings(contract: Contract, week_start: date, files: list[str]) -> list[str]:
    if contract.one_of_shapes and not files:
        return []
    if contract.cadence == "day" and len(files) < 7:
        missing = sorted({contract.file_name(week_start + timedelta(days=i)) for i in range(7)} - set(files))
        return [f"{contract.source}: {len(missing)} day file(s) missing: {', '.join(missing)}"]
    if not files:
        return [f"{contract.source}: no file for week {week_start} ({contract.file_name(week_start)})"]
    return []


def _create_table(con: duckdb.DuckDBPyConnection, week: _Week) -> None:
    columns = ", ".join(f"{ident(c.name)} {c.dtype}" for c in week.contract.columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {week.table} ({columns}, source_file VARCHAR, source_row BIGINT, "
        "reason VARCHAR, record VARCHAR)"
    )


def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the named parameters the statement uses (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _insert_validated(
    con: duckdb.DuckDBPyConnection, week: _Week, select: str, rel: str, params: dict[str, Any]
) -> None:
    names = ", ".join(ident(n) for n in week.contract.names)
    sql = (
        f"INSERT INTO {week.table} ({names}, source_file, source_row, reason, record) "  # noqa: S608
        f"SELECT {names}, $rel, source_row, reason, record FROM ({select})"
    )
    con.execute(sql, _bound(sql, {**week.params, **params, "rel": rel}))


def _file_problem(con: duckdb.DuckDBPyConnection, week: _Week, rel: str, problem: FileProblem, rows_in: int) -> None:
    """Warn about an empty file of a source that may be quiet; quarantine any other file without rows whole.

    The quarantine row (``source_row`` 0) counts as one row read, so ``in = loaded + quarantined + duplicates``
    still holds, and the sentence blocks the week through the raw check ``landing_files_readable``.
    """
    sentence = f"{week.contract.source} file landing/{rel} {problem.text}"
    if problem.reason == EMPTY_FILE and week.contract.empty_file_ok:
        week.warnings.append(sentence)
        return
    week.file_problems.append(sentence)
    _insert_quarantine(con, week, [(rel, 0, problem.reason, problem.record)])
    week.rows_in_by_file[rel] = rows_in + 1


def _insert_quarantine(con: duckdb.DuckDBPyConnection, week: _Week, rows: list[tuple[str, int, str, str]]) -> None:
    if rows:
        con.executemany(
            f"INSERT INTO {week.table} (source_file, source_row, reason, record) "  # noqa: S608
            "VALUES (?, ?, ?, ?)",
            rows,
        )


def _stage_parquet(con: duckdb.DuckDBPyConnection, week: _Week, path: Path, rel: str, day: date | None) -> None:
    """Footer check in Python, rows in SQL; a file DuckDB cannot read is quarantined whole."""
    contract = week.contract
    week.rows_in_by_file[rel] = 0
    try:
        layout = parquet.layout(path, rel, contract)
    except parquet.NotParquet as exc:
        _file_problem(con, week, rel, _unparseable_parquet(rel, path, str(exc)), 0)
        return
    week.warnings += layout.warnings
    if layout.num_rows == 0:
        text = "has a schema but no rows"
        _file_problem(con, week, rel, FileProblem(EMPTY_FILE, text, dumps({"file": rel, "problem": text})), 0)
        return
    select = validate_sql(
        contract, layout.kinds, parquet.raw_select(contract, layout.kinds), daily=day is not None, with_record=True
    )
    try:
        # one statement: a corrupt page aborts the whole INSERT, so the file is all staged or not at all
        _insert_validated(con, week, select, rel, {"path": str(path), "day": day})
    except duckdb.Error as exc:
        _file_problem(con, week, rel, _unparseable_parquet(rel, path, parquet.short(exc)), 0)
        return
    week.rows_in_by_file[rel] = layout.num_rows


def _unparseable_parquet(rel: str, path: Path, cause: str) -> FileProblem:
    text = f"is not valid Parquet: {cause}"
    with path.open("rb") as fh:
        head = fh.read(200)
    record = dumps({"file": rel, "problem": text, "head": head.decode("utf-8", errors="backslashreplace")})
    return FileProblem(UNPARSEABLE_FILE, text, record)


def _stage_text(con: duckdb.DuckDBPyConnection, week: _Week, path: Path, rel: str, day: date | None) -> None:
    """CSV / JSON lines: lines split in Python, the all-text columns validated in SQL, records rendered per line."""
    contract = week.contract
    fd = READERS[contract.file_format](path, rel, contract)
    week.warnings += fd.warnings
    week.rows_in_by_file[rel] = fd.rows_in
    _insert_quarantine(con, week, [(rel, line, reason, record) for line, reason, record in fd.bad_lines])
    if fd.problem is not None:
        _file_problem(con, week, rel, fd.problem, fd.rows_in)
    if not len(fd.raw):
        return
    kinds = dict.fromkeys(contract.names, TEXT)
    with _registered(con, "_stage_text_rows", _raw_table(fd)):
        select = validate_sql(contract, kinds, "_stage_text_rows", daily=day is not None, with_record=False)
        _insert_validated(con, week, select, rel, {"day": day})
    _render_records(con, week, rel, fd)


def _raw_table(fd: FileData) -> pa.Table:
    columns = {
        f"r{i}": pa.array(fd.raw[name].array.__arrow_array__()).cast(pa.string())
        for i, name in enumerate(fd.raw.columns)
    }
    columns["source_row"] = pa.array(fd.source_row, type=pa.int64())
    pre = fd.pre_reason if fd.pre_reason is not None else np.full(len(fd.raw), None, dtype=object)
    columns["pre_reason"] = pa.array(pre.tolist(), type=pa.string())
    return pa.table(columns)


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def _render_records(con: duckdb.DuckDBPyConnection, week: _Week, rel: str, fd: FileData) -> None:
    """Give the quarantined rows of a text file their record as read (the line's fields or JSON object)."""
    rows = [
        int(r[0])
        for r in con.execute(
            f"SELECT source_row FROM {week.table} WHERE source_file = ? AND reason IS NOT NULL "  # noqa: S608
            "AND record IS NULL ORDER BY source_row",
            [rel],
        ).fetchall()
    ]
    if not rows:
        return
    pos = np.searchsorted(fd.source_row, np.asarray(rows, dtype=np.int64))
    records = pa.table({"source_row": pa.array(rows, pa.int64()), "record": pa.array(fd.records(pos), pa.string())})
    with _registered(con, "_stage_records", records):
        con.execute(
            f"UPDATE {week.table} AS s SET record = r.record FROM _stage_records AS r "  # noqa: S608
            "WHERE s.source_file = ? AND s.source_row = r.source_row",
            [rel],
        )


def _check_unique_key(con: duckdb.DuckDBPyConnection, week: _Week, rel: str) -> None:
    """Reject a repeated key in a snapshot source (CRM): it makes the write-back ambiguous."""
    key = [ident(k) for k in week.contract.key]
    keys, present = ", ".join(key), " AND ".join(f"{k} IS NOT NULL" for k in key)
    # names are ident(); the file is a bound parameter
    sql = f"""
        WITH rows AS (SELECT {keys}, source_row FROM {week.table} WHERE source_file = $rel AND source_row > 0
                      AND {present}),
        dup AS (SELECT {keys}, min(source_row) AS first_row, list(source_row ORDER BY source_row) AS lines,
                       count(*) AS n FROM rows GROUP BY ALL HAVING count(*) > 1)
        SELECT {keys}, lines, (SELECT sum(n) FROM dup) FROM dup ORDER BY first_row LIMIT 1
    """  # noqa: S608
    row = con.execute(sql, {"rel": rel}).fetchone()
    if row is None:
        return
    values, lines, total = row[: len(key)], row[len(key)], row[len(key) + 1]
    key_txt = ", ".join(f"{k}={v!r}" for k, v in zip(week.contract.key, values, strict=True))
    raise ContractError(
        f"{rel}: duplicate key {key_txt} on lines {', '.join(map(str, lines[:10]))} "
        f"({int(total)} rows share a key); the snapshot is ambiguous"
    )


def _dedupe(con: duckdb.DuckDBPyConnection, week: _Week) -> int:
    """Drop exact repeats of a key (first kept, counted); quarantine every copy of a key with two payloads.

    The conflicts get ``duplicate_key_conflict``; only rows of repeated keys reach the window functions.
    """
    contract, table = week.contract, week.table
    key = [ident(k) for k in contract.key]
    payload = ", ".join(ident(n) for n in contract.names)
    on = " AND ".join(f"s.{k} IS NOT DISTINCT FROM rk.{k}" for k in key)
    # names are ident() of contract columns
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _stage_repeats AS
        WITH rk AS (SELECT {", ".join(key)} FROM {table} WHERE reason IS NULL GROUP BY ALL HAVING count(*) > 1),
        cand AS (SELECT s.rowid AS rid, s.* FROM {table} AS s SEMI JOIN rk ON {on} WHERE s.reason IS NULL),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY {payload} ORDER BY source_file, source_row) AS rn
                   FROM cand)
        SELECT rid, rn > 1 AS exact,
               rn = 1 AND count(*) FILTER (WHERE rn = 1) OVER (PARTITION BY {", ".join(key)}) > 1 AS conflict,
               to_json({{{", ".join(f"{lit(n)}: {ident(n)}" for n in contract.names)}}}) AS payload
        FROM ranked
    """)  # noqa: S608
    exact, conflicts = con.execute(
        "SELECT count(*) FILTER (WHERE exact), count(*) FILTER (WHERE conflict) FROM _stage_repeats"
    ).fetchone() or (0, 0)
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM _stage_repeats WHERE exact)")  # noqa: S608
    con.execute(
        f"UPDATE {table} AS s SET reason = 'duplicate_key_conflict', record = r.payload "  # noqa: S608
        "FROM _stage_repeats AS r WHERE r.conflict AND s.rowid = r.rid"
    )
    con.execute("DROP TABLE _stage_repeats")
    source, key_name = contract.source, "/".join(contract.key)
    if exact:
        week.warnings.append(f"{source}: {exact} exact duplicate {key_name} row(s) dropped")
    if conflicts:
        week.warnings.append(
            f"{source}: {conflicts} row(s) share a {key_name} with a different payload; "
            "all copies quarantined as duplicate_key_conflict"
        )
    return int(exact)


def _check_reject_rate(con: duckdb.DuckDBPyConnection, week: _Week, reject_rate: float) -> None:
    """REJECT a file whose quarantined share is implausible: it is a broken export, not a few bad rows.

    A file that gave no rows at all is one quarantine row and blocks the week through ``landing_files_readable``.
    """
    file_reasons = ", ".join(f"'{r}'" for r in FILE_REASONS)
    rows = con.execute(
        f"SELECT source_file, reason, count(*) AS n FROM {week.table} "  # noqa: S608 - fixed names
        f"WHERE reason IS NOT NULL AND reason NOT IN ({file_reasons}) GROUP BY ALL "
        "ORDER BY source_file, n DESC, min(source_row)"
    ).fetchall()
    by_file: dict[str, list[tuple[str, int]]] = {}
    for rel, reason, n in rows:
        by_file.setdefault(rel, []).append((reason, int(n)))
    for rel, counts in sorted(by_file.items()):
        total, n_in = sum(n for _, n in counts), week.rows_in_by_file.get(rel, 0)
        if n_in and total / n_in > reject_rate:
            top = ", ".join(f"{r}={c}" for r, c in counts[:5])
            raise ContractError(
                f"{rel}: {total} of {n_in} rows quarantined ({total / n_in:.1%} > {reject_rate:.0%}); "
                f"top reasons: {top}"
            )
