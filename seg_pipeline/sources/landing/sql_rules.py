"""The contract rules as one DuckDB SELECT: cast every raw column, give each bad row its first reason.

The SELECT reads a relation of raw columns (``r0``, ``r1``, ... in contract order, plus ``source_row`` and
``pre_reason``) and returns the contract columns typed, ``source_row`` and ``reason`` (NULL for a good row). Reasons
are the strings of docs/contracts.md, in its priority order: reading problems, NUL bytes in text, null keys,
cast/domain problems (column by column), nulls in non-nullable columns, implausible timestamps, outside the week (or,
for daily aggregates, not the file's day), timestamps out of order.

Raw columns come as text (CSV, JSON lines, Parquet strings: all-VARCHAR, cast here with ``TRY_CAST`` behind a shape
regex, so ``0x10``, ``1_000`` or ``1e309`` are cast errors as they always were) or typed (Parquet numbers, dates and
timestamps, only range-checked). Only contract constants are inlined (quoted); the week bounds, ``now``, the file's
day and the time zone are bound parameters (``$start``, ``$end``, ``$now``, ``$today``, ``$day``, ``$tz``).
"""

from dataclasses import dataclass

from seg_pipeline.sources.contracts import NUL_BYTE, Column, Contract
from seg_pipeline.warehouse.duck import ident

TEXT = "text"
ABSENT = "absent"
# typed Parquet kinds (see parquet.py): what the column holds, so only the checks that can fail are generated
INT, FLOAT, DATE_T, TS_AWARE, TS_NAIVE = "int", "float", "date", "ts_aware", "ts_naive"

_WS = "' \t\n\r\x0b\x0c'"  # what Python's str.strip() removes from ASCII text
_NUM = r"'[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?'"
_NON_FINITE = r"'(?i)[+-]?(?:nan|inf|infinity)'"
_INT_TEXT = r"'[+-]?\d+'"
_ISO_DATE = r"'\d{4}-\d{2}-\d{2}'"
_ISO_TS = r"'\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?'"
_TZ_SUFFIX = r"'(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$'"
# Text timestamps and dates outside pandas' nanosecond range were cast errors (and are still: same reasons as before)
_NS_MIN = "TIMESTAMPTZ '1677-09-21 00:12:43.145225+00'"
_NS_MAX = "TIMESTAMPTZ '2262-04-11 23:47:16.854775+00'"
_NS_MIN_NAIVE = "TIMESTAMP '1677-09-21 00:12:43.145225'"
_NS_MAX_NAIVE = "TIMESTAMP '2262-04-11 23:47:16.854775'"
TS_FLOOR = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # before: broken clocks / epoch defaults, never real activity
_BIGINT_LIMIT = "9223372036854775808.0"


def lit(text: str) -> str:
    """Quote a contract constant as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class _ColumnSql:
    """The SQL of one column: helper expressions (layer 1), value and problems (layer 2)."""

    helpers: list[tuple[str, str]]
    value: str
    null: str
    problems: list[tuple[str, str]]  # (condition, reason) in priority order
    text: bool  # the raw column is text: NUL bytes are looked for


def _text_column(i: int, col: Column) -> _ColumnSql:
    r, t, n = f"r{i}", f"t{i}", f"n{i}"
    name = col.name
    if col.dtype == "VARCHAR":
        helpers = [(n, f"({r} IS NULL OR {r} = '')")]
        value = f"CASE WHEN NOT {n} THEN {r} END"
        problems = []
        if col.allowed is not None:
            allowed = ", ".join(lit(a) for a in col.allowed)
            problems.append((f"NOT {n} AND {r} NOT IN ({allowed})", f"out_of_domain:{name}"))
        return _ColumnSql(helpers, value, n, problems, True)
    helpers = [(t, f"trim({r}, {_WS})"), (n, f"({t} IS NULL OR {t} = '')")]
    if col.dtype in ("BIGINT", "DOUBLE"):
        nf, d = f"nf{i}", f"d{i}"
        helpers += [
            (nf, f"(NOT {n} AND regexp_full_match({t}, {_NON_FINITE}))"),
            (d, f"CASE WHEN NOT {n} AND regexp_full_match({t}, {_NUM}) THEN TRY_CAST({t} AS DOUBLE) END"),
        ]
        unparsed = f"(NOT {n} AND NOT {nf} AND ({d} IS NULL OR isinf({d})))"
        bad = unparsed
        if col.dtype == "BIGINT":
            bad = (
                f"({unparsed} OR (NOT {n} AND NOT {nf} AND isfinite({d}) AND ({d} <> floor({d}) "
                f"OR abs({d}) >= {_BIGINT_LIMIT})))"
            )
        ok = f"(NOT {n} AND NOT {nf} AND NOT {bad})"
        if col.dtype == "BIGINT":
            value = (
                f"CASE WHEN {ok} THEN CASE WHEN regexp_full_match({t}, {_INT_TEXT}) "
                f"THEN TRY_CAST({t} AS BIGINT) ELSE CAST({d} AS BIGINT) END END"
            )
        else:
            value = f"CASE WHEN {ok} THEN {d} END"
        problems = [(bad, f"cast_error:{name}"), (nf, f"non_finite:{name}")]
        problems += _domain(col, ok, d)
        return _ColumnSql(helpers, value, n, problems, True)
    if col.dtype == "DATE":
        value = f"CASE WHEN NOT {n} AND regexp_full_match({t}, {_ISO_DATE}) THEN TRY_CAST({t} AS DATE) END"
        v = f"dv{i}"
        helpers.append((v, value))
        ranged = f"CASE WHEN {v} BETWEEN DATE '1677-09-22' AND DATE '2262-04-11' THEN {v} END"
        return _ColumnSql(helpers, ranged, n, [(f"NOT {n} AND ({ranged}) IS NULL", f"cast_error:{name}")], True)
    # TIMESTAMPTZ: an explicit offset wins, naive text is in the contract's zone
    ts = f"ts{i}"
    helpers.append(
        (
            ts,
            f"CASE WHEN NOT {n} AND regexp_full_match({t}, {_ISO_TS}) THEN CASE WHEN "
            f"regexp_matches({t}, {_TZ_SUFFIX}) THEN TRY_CAST({t} AS TIMESTAMPTZ) "
            f"ELSE timezone($tz, TRY_CAST({t} AS TIMESTAMP)) END END",
        )
    )
    value = f"CASE WHEN {ts} BETWEEN {_NS_MIN} AND {_NS_MAX} THEN {ts} END"
    return _ColumnSql(helpers, value, n, [(f"NOT {n} AND ({value}) IS NULL", f"cast_error:{name}")], True)


def _domain(col: Column, ok: str, number: str) -> list[tuple[str, str]]:
    bounds = []
    if col.min is not None:
        bounds.append(f"{number} < {col.min!r}")
    if col.max is not None:
        bounds.append(f"{number} > {col.max!r}")
    if not bounds:
        return []
    return [(f"{ok} AND ({' OR '.join(bounds)})", f"out_of_domain:{col.name}")]


def _typed_column(i: int, col: Column, kind: str) -> _ColumnSql:
    """Build a typed Parquet column: nulls are real nulls (NaN is a value: ``non_finite``)."""
    r, n = f"r{i}", f"n{i}"
    helpers = [(n, f"({r} IS NULL)")]
    name = col.name
    if col.dtype in ("BIGINT", "DOUBLE"):
        d, nf = f"d{i}", f"nf{i}"
        helpers += [(d, f"CAST({r} AS DOUBLE)"), (nf, f"(NOT {n} AND NOT isfinite({d}))")]
        if kind == INT:
            return _ColumnSql(helpers, f"CAST({r} AS {col.dtype})", n, _domain(col, f"NOT {n}", d), False)
        problems = []
        bad = "FALSE"
        if col.dtype == "BIGINT":
            bad = f"(NOT {n} AND NOT {nf} AND ({d} <> floor({d}) OR abs({d}) >= {_BIGINT_LIMIT}))"
            problems.append((bad, f"cast_error:{name}"))
        problems.append((nf, f"non_finite:{name}"))
        ok = f"(NOT {n} AND NOT {nf} AND NOT {bad})"
        value = f"CASE WHEN {ok} THEN CAST({d} AS {col.dtype}) END"
        return _ColumnSql(helpers, value, n, problems + _domain(col, ok, d), False)
    if col.dtype == "DATE":
        return _ColumnSql(helpers, f"CAST({r} AS DATE)", n, [], False)
    lo, hi = (_NS_MIN, _NS_MAX) if kind == TS_AWARE else (_NS_MIN_NAIVE, _NS_MAX_NAIVE)
    oob = f"(NOT {n} AND ({r} < {lo} OR {r} > {hi}))"
    local = f"CAST({r} AS TIMESTAMPTZ)" if kind == TS_AWARE else f"timezone($tz, CAST({r} AS TIMESTAMP))"
    return _ColumnSql(helpers, f"CASE WHEN NOT {oob} THEN {local} END", n, [(oob, "ts_out_of_range")], False)


def column_sql(i: int, col: Column, kind: str) -> _ColumnSql:
    """Build the SQL of contract column ``i`` read as ``kind`` (text, absent or a typed Parquet kind)."""
    if kind in (TEXT, ABSENT):
        return _text_column(i, col)
    return _typed_column(i, col, kind)


def validate_sql(contract: Contract, kinds: dict[str, str], relation: str, *, daily: bool, with_record: bool) -> str:
    """SELECT the contract columns typed + ``source_row``, ``reason`` and ``record`` from ``relation``.

    ``relation`` has the raw columns ``r<i>``, ``source_row`` and ``pre_reason``; ``kinds`` maps each contract column
    to how it was read; ``daily`` binds ``$day`` (the file's day) for the contract's ``day_column``;
    ``with_record`` renders a quarantined row as read (JSON) in SQL (text files render theirs from the lines).
    """
    cols = [column_sql(i, col, kinds[col.name]) for i, col in enumerate(contract.columns)]
    index = {col.name: i for i, col in enumerate(contract.columns)}
    layer1 = ", ".join(f"{expr} AS {alias}" for c in cols for alias, expr in c.helpers)
    layer2 = ", ".join(f"{c.value} AS v{i}" for i, c in enumerate(cols))
    whens: list[tuple[str, str]] = [("pre_reason IS NOT NULL", "pre_reason")]
    whens += [
        (f"contains(r{i}, chr(0))", lit(f"{NUL_BYTE}:{col.name}"))
        for i, col in enumerate(contract.columns)
        if cols[i].text and kinds[col.name] != ABSENT
    ]
    whens += [(cols[index[k]].null, lit(f"null_key:{k}")) for k in contract.null_key_columns]
    whens += [(cond, lit(reason)) for c in cols for cond, reason in c.problems]
    whens += [
        (cols[i].null, lit(f"null_value:{col.name}")) for i, col in enumerate(contract.columns) if not col.nullable
    ]
    out_of_range = lit("ts_out_of_range")
    whens += [
        (f"v{i} < {TS_FLOOR} OR v{i} > $now", out_of_range)
        for i, col in enumerate(contract.columns)
        if col.dtype == "TIMESTAMPTZ"
    ]
    if contract.ts_column is not None:
        v = f"v{index[contract.ts_column]}"
        whens.append((f"{v} < $start OR {v} >= $end", out_of_range))
    if contract.day_column is not None:
        v = f"v{index[contract.day_column]}"
        whens.append((f"{v} > $today" + (f" OR {v} <> $day" if daily else ""), out_of_range))
    for earlier, later in contract.ts_order:
        whens.append((f"v{index[earlier]} > v{index[later]}", out_of_range))
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {then}" for cond, then in whens) + " END"
    names = ", ".join(f"v{i} AS {ident(col.name)}" for i, col in enumerate(contract.columns))
    fields = ", ".join(f"{lit(col.name)}: r{i}" for i, col in enumerate(contract.columns))
    record = f"CASE WHEN reason IS NOT NULL THEN to_json({{{fields}}}) END" if with_record else "NULL::VARCHAR"
    # relation is the caller's own read_parquet(...) call or registered view name, never input text
    return (
        f"WITH c1 AS (SELECT *, {layer1} FROM {relation}), "  # noqa: S608
        f"c2 AS (SELECT *, {layer2} FROM c1), c3 AS (SELECT *, {reason} AS reason FROM c2) "
        f"SELECT {names}, source_row, reason, {record} AS record FROM c3"
    )
