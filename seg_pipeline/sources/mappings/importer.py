""":func:`import_exports`: every configured export → contract-shaped landing files, with a reconciling report."""

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from seg_pipeline.sources.contracts import Contract
from seg_pipeline.sources.mappings.crm_history import week_range
from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.exports import ExportRow, file_format, input_files, read_rows
from seg_pipeline.sources.mappings.history import import_crm_history
from seg_pipeline.sources.mappings.lookups import LookupTable, apply_joins, load_lookups
from seg_pipeline.sources.mappings.model import MappingConfig, SourceMapping
from seg_pipeline.sources.mappings.report import ImportReport, SourceReport
from seg_pipeline.sources.mappings.rows import MappedRow, RowMapper
from seg_pipeline.sources.mappings.targets import IMPORT_SOURCES, USAGE, contract_for
from seg_pipeline.sources.mappings.tickets import clip_to_span, expand_ticket, in_window
from seg_pipeline.sources.mappings.usage_merge import merge_usage
from seg_pipeline.sources.mappings.writer import (
    REJECTS_DIR,
    monday,
    write_crm,
    write_events,
    write_rejects,
    write_tickets,
    write_usage,
)
from seg_pipeline.weeks import parse_week

# Deliberately not imported (counted as skipped); every other reason a row is not written is a reject.
SKIP_REASONS = ("ignored_event", "unmapped_event_type", "outside_week", "before_activity", "after_activity")
CORE_SOURCES = ("product_events", USAGE)  # product activity: the weeks `seg run` can run


@dataclass(frozen=True)
class _Run:
    """What every source of one import shares."""

    import_dir: Path
    landing: Path
    week_start: date | None
    now: datetime
    lookups: dict[str, LookupTable]
    span: tuple[datetime, datetime] | None = None  # weeks with product activity, when this import has some

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """The UTC window of ``week_start``, or None when importing every week."""
        if self.week_start is None:
            return None
        start = datetime.combine(self.week_start, datetime.min.time(), UTC)
        return start, start + timedelta(days=7)


def import_exports(
    config: MappingConfig,
    import_dir: Path,
    landing_dir: Path,
    *,
    week_start: date | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Read every configured export under ``import_dir`` and write contract-shaped landing files.

    Events and daily usage land in one Parquet file per UTC day, tickets in one JSONL file per week of
    ``updated_at``, limited to the weeks with product activity when the import has some (a ticket still open
    when they start is carried into the first). A CRM snapshot export goes to the snapshot CSV of ``week_start``
    (without it: the latest activity week); a CRM ``history`` becomes one snapshot per activity week (without
    activity: per week of the history itself). With ``week_start``, rows outside that week are skipped and counted.
    A landing file this import writes is replaced whole; others are untouched.
    Unplaceable rows go to ``landing_dir/import_rejects/<source>.jsonl`` (rewritten on every import of that
    source), including rows whose placement time is before 2000 or after ``now`` (default: the current time).
    """
    if week_start is not None:
        week_start = parse_week(week_start)
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    import_dir, landing = Path(import_dir), Path(landing_dir).resolve()
    if not import_dir.is_dir():
        raise MappingError(f"import directory {import_dir} does not exist; pass the folder holding your exports")
    used = {join.lookup for mapping in config.sources.values() for join in mapping.joins}
    run = _Run(import_dir, landing, week_start, now, load_lookups(config.lookups, used, import_dir))
    reports: dict[str, SourceReport] = {}
    # the CRM last: its snapshot weeks follow the activity imported alongside it
    for source in sorted(config.sources, key=IMPORT_SOURCES.index):
        report = SourceReport(source=source)
        reports[source] = report
        # product activity (events, usage) decides the weeks; tickets and the CRM follow it
        core = set().union(*(r.weeks for name, r in reports.items() if name in CORE_SOURCES))
        activity = core or set().union(*(r.weeks for r in reports.values()))
        _import_source(config.sources[source], replace(run, span=_span(core)), activity, report)
    return ImportReport(sources=reports, landing_dir=landing)


def _span(core: set[date]) -> tuple[datetime, datetime] | None:
    if not core:
        return None
    start = datetime.combine(min(core), datetime.min.time(), UTC)
    return start, datetime.combine(max(core), datetime.min.time(), UTC) + timedelta(days=7)


def _import_source(mapping: SourceMapping, run: _Run, activity: set[date], report: SourceReport) -> None:
    contract = contract_for(mapping.source)
    if mapping.history is not None:
        weeks = [run.week_start] if run.week_start else week_range(min(activity), max(activity)) if activity else None
        rejects = import_crm_history(mapping, run.import_dir, run.landing, weeks, run.now, report)
    else:
        kept, rejects = _map_exports(mapping, run, report)
        if kept:
            _write_landing(kept, contract, run, activity, report)
    for name in {j.lookup for j in mapping.joins}:
        if run.lookups[name].unusable:
            report.warnings.append(f"lookup {name}: {run.lookups[name].unusable} row(s) without a readable key "
                                   "were left out; rows joining to them are rejected as unresolved_join")
    if rejects:
        report.rejects_file = write_rejects(rejects, mapping.source, run.landing)
    else:
        stale = run.landing / REJECTS_DIR / f"{mapping.source}.jsonl"
        stale.unlink(missing_ok=True)  # rewritten per import: an old rejects file would mislead
    report.warnings += _unmapped_warnings(report, contract)


def _map_exports(mapping: SourceMapping, run: _Run, report: SourceReport
                 ) -> tuple[list[MappedRow], list[dict[str, Any]]]:
    """Map every row of every matching export: (landing rows, rejects); every row is counted once per file."""
    files = input_files(mapping, run.import_dir)
    if not files:
        report.warnings.append(f"no export file matches {mapping.input!r} under {run.import_dir}")
    mapper = RowMapper(mapping, report, run.now, None if mapping.one_row_per_ticket else run.window)
    kept: list[MappedRow] = []
    rejects: list[dict[str, Any]] = []
    origins: list[str] = []  # export file of each mapped row, by MappedRow.origin
    for path in files:
        rel = path.relative_to(run.import_dir).as_posix()
        report.files_read.append(rel)
        report.per_file.setdefault(rel, Counter())
        for row in read_rows(path, rel, file_format(path, mapping.format)):
            rows, reason = _map_row(row, mapping, run, mapper, report)
            if rows:
                for r in rows:
                    r.origin = len(origins)
                kept += rows
                origins.append(rel)
            elif reason in SKIP_REASONS:
                report.count(rel, "skipped", reason)
            else:
                rejects.append({"file": rel, "row": row.row, "reason": reason,
                                "record": row.raw if row.record is None else row.record})
                report.count(rel, "rejected", reason)
    before: set[int] = set()
    if mapping.source == "support_tickets" and run.span is not None and run.week_start is None:
        before = {r.origin for r in kept if r.placed is not None and r.placed < run.span[0]}
        kept, carried = clip_to_span(kept, *run.span)
        if carried:
            report.coerced["carried_into_first_week"] += carried
    written = {r.origin for r in kept}
    for origin, rel in enumerate(origins):
        if origin in written:
            report.count(rel, "written")
        else:
            report.count(rel, "skipped", "before_activity" if origin in before else "after_activity")
    return kept, rejects


def _map_row(row: ExportRow, mapping: SourceMapping, run: _Run, mapper: RowMapper, report: SourceReport
             ) -> tuple[list[MappedRow], str]:
    """Return the landing rows of one export row (a per-ticket export gives two), else why there are none."""
    if row.record is None:
        return [], row.reason or "malformed_line"
    record: dict[str, Any] = row.record
    if mapping.joins:
        joined, unresolved = apply_joins(row.record, mapping.joins, run.lookups, mapping.source)
        if joined is None:
            return [], unresolved or "unresolved_join"
        record = joined
    mapped, why = mapper.map(record)
    if mapped is None:
        return [], why or "unmapped"
    if not mapping.one_row_per_ticket:
        return [mapped], ""
    rows, coerced = expand_ticket(mapped, run.now)
    report.coerced.update(coerced)
    return in_window(rows, run.window), "outside_week"


def _write_landing(kept: list[MappedRow], contract: Contract, run: _Run, activity: set[date],
                   report: SourceReport) -> None:
    if contract.source == "product_events":
        report.files_written = write_events(kept, contract, run.landing)
    elif contract.source == USAGE:
        kept, folded = merge_usage(kept, contract.key)
        if folded:
            report.coerced["summed_same_account_day_feature"] += folded
        report.files_written = write_usage(kept, contract, run.landing)
    elif contract.source == "support_tickets":
        report.files_written = write_tickets(kept, contract, run.landing)
    else:
        week = run.week_start or (max(activity) if activity else None)
        if week is None:
            raise MappingError("crm_accounts: cannot tell which week the snapshot belongs to; pass --week "
                               "(or import product events, usage or tickets in the same run)")
        report.files_written = write_crm(kept, contract, run.landing, week)
        report.weeks = {week}
    report.rows_out = len(kept)
    if contract.source != "crm_accounts":
        report.weeks = {monday(r.placed) for r in kept if r.placed is not None}


def _unmapped_warnings(report: SourceReport, contract: Contract) -> list[str]:
    """One warning per column with values that did not map, saying what the loader will do with them."""
    warnings = []
    for name, values in sorted(report.unmapped.items()):
        col = contract.column(name)
        top = ", ".join(f"{v!r} ×{n}" for v, n in values.most_common(5))
        if col.nullable and col.allowed is not None:
            warnings.append(f"{name}: {sum(values.values())} unmapped value(s) set to null: {top}")
        elif col.dtype != "VARCHAR":
            warnings.append(
                f"{name}: {sum(values.values())} value(s) do not parse as {col.dtype} ({top}); kept verbatim, the "
                f"loader will quarantine those rows as cast_error:{name} (set formats.{name} for odd dates)"
            )
        else:
            warnings.append(
                f"{name}: {sum(values.values())} value(s) kept verbatim because they do not map ({top}); the loader "
                f"will quarantine those rows — add them to the mapping's values/event_types"
            )
    return warnings
