""":func:`import_exports`: every configured export → contract-shaped landing files, with a reconciling report."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from seg_pipeline.sources.contracts import Contract, get_contract
from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.exports import file_format, input_files, read_rows
from seg_pipeline.sources.mappings.model import MappingConfig, SourceMapping
from seg_pipeline.sources.mappings.report import ImportReport, SourceReport
from seg_pipeline.sources.mappings.rows import MappedRow, RowMapper
from seg_pipeline.sources.mappings.writer import (
    REJECTS_DIR,
    monday,
    write_crm,
    write_events,
    write_rejects,
    write_tickets,
)
from seg_pipeline.weeks import parse_week

# Deliberately not imported (counted as skipped); every other reason a row is not written is a reject.
SKIP_REASONS = ("ignored_event", "unmapped_event_type", "outside_week")


def import_exports(
    config: MappingConfig,
    import_dir: Path,
    landing_dir: Path,
    *,
    week_start: date | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Read every configured export under ``import_dir`` and write contract-shaped landing files.

    Events land in one Parquet file per UTC day, tickets in one JSONL file per week of ``updated_at``, the CRM
    export in the snapshot CSV of ``week_start`` (without it: the latest week this import wrote events or tickets
    for). With ``week_start``, events and tickets outside that week are skipped and counted. A landing file this
    import writes is replaced whole; others are untouched. Unplaceable rows go to
    ``landing_dir/import_rejects/<source>.jsonl`` (rewritten on every import of that source), including rows
    whose placement timestamp is before 2000 or after ``now`` (default: the current UTC time).
    """
    if week_start is not None:
        week_start = parse_week(week_start)
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    import_dir, landing = Path(import_dir), Path(landing_dir).resolve()
    if not import_dir.is_dir():
        raise MappingError(f"import directory {import_dir} does not exist")
    reports: dict[str, SourceReport] = {}
    # CRM last: without week_start its snapshot week comes from the activity imported alongside it
    for source in sorted(config.sources, key=lambda s: s == "crm_accounts"):
        report = SourceReport(source=source)
        reports[source] = report
        snapshot_week = week_start
        if source == "crm_accounts" and snapshot_week is None:
            activity = set().union(*(r.weeks for r in reports.values()))
            if not activity:
                raise MappingError("crm_accounts: cannot tell which week the snapshot belongs to; pass week_start "
                                   "(or import product_events / support_tickets in the same run)")
            snapshot_week = max(activity)
        _import_source(config.sources[source], import_dir, landing, week_start, snapshot_week, now, report)
    return ImportReport(sources=reports, landing_dir=landing)


def _import_source(mapping: SourceMapping, import_dir: Path, landing: Path, week_start: date | None,
                   snapshot_week: date | None, now: datetime, report: SourceReport) -> None:
    contract = get_contract(mapping.source)
    window = (None if week_start is None else
              (datetime.combine(week_start, datetime.min.time(), UTC),
               datetime.combine(week_start + timedelta(days=7), datetime.min.time(), UTC)))
    kept, rejects = _map_exports(mapping, import_dir, RowMapper(mapping, report, now, window), report)
    if kept:
        _write_landing(kept, contract, landing, snapshot_week, report)
    if rejects:
        report.rejects_file = write_rejects(rejects, mapping.source, landing)
    else:
        stale = landing / REJECTS_DIR / f"{mapping.source}.jsonl"
        stale.unlink(missing_ok=True)  # rewritten per import: an old rejects file would mislead
    report.warnings += _unmapped_warnings(report, contract)


def _map_exports(mapping: SourceMapping, import_dir: Path, mapper: RowMapper, report: SourceReport
                 ) -> tuple[list[MappedRow], list[dict[str, Any]]]:
    """Map every row of every matching export: (rows to write, rejects); skips and rejects are counted."""
    files = input_files(mapping, import_dir)
    if not files:
        report.warnings.append(f"no export file matches {mapping.input!r} under {import_dir}")
    kept: list[MappedRow] = []
    rejects: list[dict[str, Any]] = []
    for path in files:
        rel = path.relative_to(import_dir).as_posix()
        report.files_read.append(rel)
        for row in read_rows(path, rel, file_format(path, mapping.format)):
            report.rows_in += 1
            if row.record is None:
                bad = row.reason or "malformed_line"
                rejects.append({"file": rel, "row": row.row, "reason": bad, "record": row.raw})
                report.rejected += 1
                report.reasons[bad] += 1
                continue
            mapped, reason = mapper.map(row.record)
            if mapped is not None:
                kept.append(mapped)
                continue
            why = reason or "unmapped"
            report.reasons[why] += 1
            if why in SKIP_REASONS:
                report.skipped += 1
            else:
                rejects.append({"file": rel, "row": row.row, "reason": why, "record": row.record})
                report.rejected += 1
    return kept, rejects


def _write_landing(kept: list[MappedRow], contract: Contract, landing: Path, snapshot_week: date | None,
                   report: SourceReport) -> None:
    if contract.source == "product_events":
        report.files_written = write_events(kept, contract, landing)
    elif contract.source == "support_tickets":
        report.files_written = write_tickets(kept, contract, landing)
    else:
        if snapshot_week is None:
            raise ValueError("a CRM import needs its snapshot week")
        report.files_written = write_crm(kept, contract, landing, snapshot_week)
    report.written = len(kept)
    report.weeks = {monday(r.placed) for r in kept if r.placed is not None}
    if snapshot_week is not None and contract.source == "crm_accounts":
        report.weeks = {snapshot_week}


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
