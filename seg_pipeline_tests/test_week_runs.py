"""A week's outcome read back from the Dagster instance: ok, blocked by a check (which, why) or failed (why)."""

import dagster as dg

from seg_pipeline.defs.weekly import WEEKLY
from seg_pipeline.week_runs import latest_week_runs, summarise_run, week_table
from seg_pipeline_tests.helpers.partitions import weekly_instance

OK, BLOCKED, FAILED = "2024-01-01", "2024-01-08", "2024-01-15"
GATE = dg.AssetCheckSpec("volume_gate", asset=dg.AssetKey(["raw", "events"]), blocking=True, partitions_def=WEEKLY)


class LandingFileError(Exception):
    """Stands in for a stage's own error (its class name must not reach the user)."""


@dg.asset(key=["raw", "events"], partitions_def=WEEKLY, check_specs=[GATE])
def events(context: dg.AssetExecutionContext):
    if context.partition_key == FAILED:
        raise LandingFileError("events_2024-01-15.parquet: required column 'event_ts' is missing")
    context.log.warning("2 day file(s) missing")
    yield dg.MaterializeResult()
    passed = context.partition_key != BLOCKED
    yield dg.AssetCheckResult(check_name="volume_gate", passed=passed, description=None if passed else "drop 90%")


@dg.asset(key=["model", "fit"], partitions_def=WEEKLY, deps=[events])
def fit() -> None:
    """Downstream of the gate: skipped when the gate blocks."""


JOB = dg.define_asset_job("weekly_segmentation", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor)
DEFS = dg.Definitions(assets=[events, fit], jobs=[JOB])


def test_ok_blocked_and_failed_weeks_are_told_apart_with_their_reasons():
    job = DEFS.resolve_job_def("weekly_segmentation")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with weekly_instance(OK, BLOCKED, FAILED) as instance:
        runs = {}
        for week in (OK, BLOCKED, FAILED):
            res = job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False, run_config=quiet)
            runs[week] = summarise_run(instance, res.run_id, week, 1.0)
        assert runs[OK].state == "ok"
        assert runs[OK].reason == ""
        assert runs[OK].warnings == ["2 day file(s) missing"]
        assert runs[BLOCKED].state == "blocked"
        assert runs[BLOCKED].success  # blocked on purpose is not a crash
        assert runs[BLOCKED].reason == "raw/events:volume_gate (drop 90%)"
        assert runs[FAILED].state == "failed"
        # the stage's message, without Dagster's wrapper or the exception's class name
        assert runs[FAILED].reason == "events_2024-01-15.parquet: required column 'event_ts' is missing"
        # `seg status` reads the same from the run records
        assert {w: r.state for w, r in latest_week_runs(instance).items()} == {
            OK: "ok", BLOCKED: "blocked", FAILED: "failed"}


def test_the_week_table_has_one_line_per_week():
    rows = [{"week": OK, "state": "ok", "seconds": 12.34, "reason": "", "accounts": 1200},
            {"week": BLOCKED, "state": "not run", "seconds": None, "reason": "run it", "accounts": None}]
    lines = week_table(rows, extra=("accounts",)).splitlines()
    assert lines[0].split() == ["week", "state", "seconds", "accounts", "reason"]
    assert lines[1].split() == [OK, "ok", "12.3", "1,200"]
    assert lines[2].split() == [BLOCKED, "not", "run", "-", "-", "run", "it"]


def test_a_warehouse_locked_by_another_process_names_the_fix():
    from dagster_shared.error import SerializableErrorInfo

    from seg_pipeline.week_runs import _root_cause

    cause = SerializableErrorInfo(
        "_duckdb.IOException: IO Error: Could not set lock on file \"/h/warehouse.duckdb\": Conflicting lock is held "
        "in /usr/bin/python3 (PID 4242)\n", [], "IOException")
    wrapper = SerializableErrorInfo("Error occurred while executing op", [], "DagsterExecutionStepExecutionError",
                                    cause=cause)
    reason = _root_cause(wrapper)
    assert reason.startswith("IO Error: Could not set lock")
    assert "PID 4242" in reason
    assert "warehouse_snapshot.duckdb" in reason


def test_a_contract_error_caused_by_a_library_error_keeps_the_file_name():
    from dagster_shared.error import SerializableErrorInfo

    from seg_pipeline.week_runs import _root_cause

    arrow = SerializableErrorInfo("pyarrow.lib.ArrowInvalid: Parquet magic bytes not found in footer\n", [],
                                  "ArrowInvalid")
    contract = SerializableErrorInfo(
        "seg_pipeline.sources.contracts.ContractError: product_events/events_2026-01-07.parquet: column 'event_ts' "
        "has Parquet type int64, expected TIMESTAMPTZ\n", [], "ContractError", cause=arrow)
    wrapper = SerializableErrorInfo("Error occurred while executing op", [], "DagsterExecutionStepExecutionError",
                                    cause=contract)
    assert _root_cause(wrapper).startswith("product_events/events_2026-01-07.parquet: column 'event_ts'")
