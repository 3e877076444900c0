"""How each week went, read back from the Dagster instance: ok, blocked by a check (and which), or failed (and why).

`seg run` summarises the runs it just made and `seg status` the latest run of every week from the same records,
so both say the same thing. Dagster is imported lazily, so `seg --help` stays fast.
"""

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg
    from dagster_shared.error import SerializableErrorInfo

WEEKLY_JOB_NAME = "weekly_segmentation"
RUN_JOBS = (WEEKLY_JOB_NAME, "early_retrain")  # the jobs whose latest run says how a week went
_CHECK_FAILED = "DagsterAssetCheckFailedError"  # the step stopped because a blocking check failed: on purpose
_REASON_CHARS = 240  # a reason is one line in a table; the full text is in the run (`seg ui`)
_NAMED_ERRORS = frozenset({"ContractError"})  # errors whose own message names the file; their causes do not


@dataclass
class WeekRun:
    """One week's Dagster run as the CLI reports it: outcome, timing, failed and blocking checks."""

    week: str
    success: bool
    run_id: str
    seconds: float
    error: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    blocked: bool = False  # a blocking check stopped the week on purpose (e.g. mass migration): not a crash
    block_reasons: list[str] = field(default_factory=list)
    unfinished: str | None = None  # the run's status while it has not finished (queued, started, ...)
    warnings: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``ok``, ``blocked`` (a check stopped it on purpose), ``failed``, or the unfinished run's status."""
        if self.unfinished:
            return self.unfinished
        if self.blocked:
            return "blocked"
        return "ok" if self.success else "failed"

    @property
    def reason(self) -> str:
        """Why the week did not complete (empty when it did; failed non-blocking checks are named as warnings)."""
        if self.state == "blocked":
            return "; ".join(self.block_reasons) or "a blocking check failed"
        if self.state == "failed":
            return self.error or "the run failed"
        if self.failed_checks and self.state == "ok":
            return "completed; checks with warnings: " + ", ".join(self.failed_checks)
        return ""

    def to_dict(self) -> dict[str, Any]:
        """Return the week as ``seg status --json`` and ``seg run`` report it."""
        return {"week": self.week, "state": self.state, "reason": self.reason, "seconds": round(self.seconds, 1),
                "run_id": self.run_id, "failed_checks": self.failed_checks}


def summarise_run(instance: "dg.DagsterInstance", run_id: str, week: str, seconds: float) -> WeekRun:
    """Read one run's outcome from the instance: its failed checks, and whether a blocking check stopped it."""
    import dagster as dg

    run = instance.get_run_by_id(run_id)
    status = run.status if run is not None else dg.DagsterRunStatus.FAILURE
    if status not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return WeekRun(week, False, run_id, seconds, unfinished=status.value.lower())
    logs = instance.all_logs(run_id)
    events = [entry.dagster_event for entry in logs if entry.dagster_event is not None]
    evaluations = [e.asset_check_evaluation_data for e in events
                   if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failed = [ev for ev in evaluations if not ev.passed]
    base = WeekRun(
        week, True, run_id, seconds,
        failed_checks=[f"{ev.asset_key.to_user_string()}:{ev.check_name}" for ev in failed],
        # what the stages logged as warnings (e.g. missing day files); Dagster's own notices are not WARNING level
        warnings=[_first_line(e.user_message) for e in logs if e.dagster_event is None and e.level == logging.WARNING],
    )
    if status == dg.DagsterRunStatus.SUCCESS:
        return base
    step_errors = [e.step_failure_data.error for e in events if e.is_step_failure]
    if step_errors and all(_error_class(err) == _CHECK_FAILED for err in step_errors):
        base.blocked = True
        base.block_reasons = [_check_reason(ev) for ev in failed
                              if ev.blocking and ev.severity == dg.AssetCheckSeverity.ERROR]
        return base
    base.success = False
    if step_errors:
        base.error = _root_cause(next(e for e in step_errors if _error_class(e) != _CHECK_FAILED))
    elif status == dg.DagsterRunStatus.CANCELED:
        base.error = "the run was canceled before it finished"
    else:
        base.error = _run_failure_message(events)
    return base


def _check_reason(evaluation: Any) -> str:
    """``asset:check: description``; without a description, the check's scalar metadata says what it saw."""
    name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
    detail = evaluation.description or ", ".join(
        f"{k}={v.value}" for k, v in evaluation.metadata.items() if isinstance(v.value, int | float | str)
    )
    return f"{name} ({detail})" if detail else name


def _run_failure_message(events: list[Any]) -> str:
    """Return the run-level failure message (e.g. a resource that could not start), when no step failed."""
    for event in events:
        if event is not None and event.is_run_failure and event.message:
            return _first_line(event.message)
    return "the run failed before any step ran"


def _error_class(err: "SerializableErrorInfo | None") -> str:
    return (err.cls_name or "") if err is not None else ""


def _root_cause(err: "SerializableErrorInfo | None") -> str:
    """Return the innermost error message of a step failure (the user's actual problem, not Dagster's wrapper).

    A contract error is the user's problem already: it names the file, while its cause (pyarrow's) does not.
    """
    if err is None:
        return "the run failed"
    while err.cause is not None and err.cls_name not in _NAMED_ERRORS:
        err = err.cause
    message = err.message.strip()
    if err.cls_name:  # "package.module.ContractError: file: column missing" -> "file: column missing"
        message = re.sub(rf"^[\w.]*\b{re.escape(err.cls_name)}: ", "", message)
    line = _first_line(message)
    return next((f"{line} — fix: {fix}" for pattern, fix in _HINTS if pattern in line), line)


# failures a new user meets that the message alone does not explain: the fix to show next to it
_HINTS = (
    ("Conflicting lock is held", "another process has warehouse.duckdb open (the PID above); close it — notebooks "
     "and dashboards should read warehouse_snapshot.duckdb — then re-run the week"),
    ("No space left on device", "free disk space under SEG_HOME, then re-run the week"),
)


def _first_line(message: str) -> str:
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else "the run failed"
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1] + "…"


def latest_week_runs(instance: "dg.DagsterInstance") -> dict[str, WeekRun]:
    """Summarise the latest run of each week (weekly job or early retrain)."""
    import dagster as dg

    latest: dict[str, Any] = {}
    for job in RUN_JOBS:
        for record in instance.get_run_records(dg.RunsFilter(job_name=job)):
            week = record.dagster_run.tags.get("dagster/partition")
            if week and (week not in latest or record.create_timestamp > latest[week].create_timestamp):
                latest[week] = record
    out = {}
    for week, record in latest.items():
        start, end = record.start_time, record.end_time
        seconds = (end - start) if start is not None and end is not None else 0.0
        out[week] = summarise_run(instance, record.dagster_run.run_id, week, seconds)
    return out


def week_outcomes(instance: "dg.DagsterInstance", *, current_run_id: str | None = None) -> list[dict[str, str]]:
    """``week, state, reason`` of each week's latest run, for the dashboard: the same words `seg status` prints.

    Only runs that did not succeed have their logs read (a success is ``ok``), so a long history stays cheap.
    ``current_run_id`` is the run building the dashboard: it got that far, so its week is not shown as unfinished.
    """
    import dagster as dg

    latest: dict[str, Any] = {}
    for job in RUN_JOBS:
        for record in instance.get_run_records(dg.RunsFilter(job_name=job)):
            week = record.dagster_run.tags.get("dagster/partition")
            if week and (week not in latest or record.create_timestamp > latest[week].create_timestamp):
                latest[week] = record
    out = []
    for week, record in sorted(latest.items()):
        run = record.dagster_run
        if run.run_id == current_run_id or run.status == dg.DagsterRunStatus.SUCCESS:
            out.append({"week": week, "state": "ok", "reason": ""})
            continue
        summary = summarise_run(instance, run.run_id, week, 0.0)
        out.append({"week": week, "state": summary.state, "reason": summary.reason})
    return out


def week_table(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> str:
    """Format weeks as a plain-text table: week, state, seconds, any ``extra`` columns, reason."""
    head = f"{'week':<11} {'state':<9} {'seconds':>7}" + "".join(f" {c:>9}" for c in extra) + "  reason"
    lines = [head]
    for row in rows:
        secs = f"{row['seconds']:.1f}" if row.get("seconds") else "-"
        cells = "".join(f" {_cell(row.get(c)):>9}" for c in extra)
        lines.append(f"{row['week']:<11} {row['state']:<9} {secs:>7}{cells}  {row.get('reason') or ''}".rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)
