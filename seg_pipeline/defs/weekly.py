"""Shared wiring: the one way a stage declares a weekly asset or check, and turns its result into Dagster events.

Key prefix = Dagster group = DuckDB schema = stage; weekly partitions (Mondays, UTC, registered from the landed
data); the single-writer pool.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from seg_pipeline.defs.columns import COLUMN_SCHEMA, table_metadata
from seg_pipeline.outcomes import CheckOutcome, Columns, EngineerAlert, Json, Markdown, StageResult
from seg_pipeline.weeks import parse_week

WAREHOUSE_POOL = "warehouse"
WEEKS_PARTITION_SET = "weeks"
# The calendar comes from the data: a week becomes a partition when it is registered on the instance (by
# `seg run`, or by the Monday schedule once its files landed), so history from any year works and the UI never
# lists future weeks as missing. Keys are Mondays (`YYYY-MM-DD`), kept in calendar order by `register_weeks`.
WEEKLY = dg.DynamicPartitionsDefinition(name=WEEKS_PARTITION_SET)

Event = dg.MaterializeResult[None] | dg.AssetCheckResult


def weekly_asset(
    stage: str,
    name: str,
    *,
    description: str,
    kinds: Iterable[str],
    owners: Iterable[str],
    deps: Iterable[dg.AssetKey] = (),
    check_specs: Iterable[dg.AssetCheckSpec] = (),
    metadata: Mapping[str, Any] | None = None,
    code_version: str | None = None,
) -> Callable[..., dg.AssetsDefinition]:
    """``@dg.asset`` with the project's conventions filled in.

    An asset whose key names a documented warehouse table (``stage.name``) declares its columns, their
    descriptions and their lineage on the definition, so the UI shows them before any run.
    """
    metadata = {**table_metadata(stage, name), **(metadata or {})}
    return dg.asset(
        key=[stage, name],
        group_name=stage,
        partitions_def=WEEKLY,
        pool=WAREHOUSE_POOL,
        deps=list(deps),
        kinds=set(kinds),
        owners=list(owners),
        description=description,
        check_specs=list(check_specs) or None,
        metadata=metadata or None,
        code_version=code_version,
        tags={"stage": stage},
    )


def weekly_check(name: str, *, asset: dg.AssetKey, **kwargs: Any) -> dg.AssetCheckSpec:
    """Declare a check spec evaluated per week, so the UI shows each week's result against its partition."""
    return dg.AssetCheckSpec(name, asset=asset, partitions_def=WEEKLY, **kwargs)


def register_weeks(instance: dg.DagsterInstance, weeks: Iterable[str]) -> list[str]:
    """Add weeks to the partition set, keeping it in calendar order; return the weeks that were new.

    Dagster lists dynamic partitions in the order they were added, so a week older than some registered ones
    (a backfill of earlier history) is inserted by re-adding the registered weeks that sort after it. Only the
    partition list changes: runs, materializations and check results are keyed by the week and stay.
    """
    wanted = {parse_week(w).isoformat() for w in weeks}
    existing = list(instance.get_dynamic_partitions(WEEKS_PARTITION_SET))
    new = sorted(wanted - set(existing))
    if not new:
        return []
    target = sorted(set(existing) | wanted)
    keep = next((i for i, (a, b) in enumerate(zip(existing, target, strict=False)) if a != b), len(existing))
    for key in existing[keep:]:
        instance.delete_dynamic_partition(WEEKS_PARTITION_SET, key)
    instance.add_dynamic_partitions(WEEKS_PARTITION_SET, target[keep:])
    return new


def registered_weeks(instance: dg.DagsterInstance) -> list[str]:
    """Return the weeks the partition set holds, in calendar order."""
    return sorted(instance.get_dynamic_partitions(WEEKS_PARTITION_SET))


def partition_week(context: dg.AssetExecutionContext) -> date:
    """Return the run's week, validated before it reaches any SQL or path."""
    return parse_week(context.partition_key)


@contextmanager
def fail_run_on(*errors: type[Exception], prefix: str = "") -> Iterator[None]:
    """Turn a stage's expected stop (no champion, a sink giving up) into a run failure that states the reason."""
    try:
        yield
    except errors as exc:
        raise dg.Failure(description=f"{prefix}{exc}") from exc


def metadata_value(value: Any) -> Any:
    """Convert a stage's plain metadata value to the Dagster metadata the UI renders best."""
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(str(value))
    if isinstance(value, Json):
        return dg.MetadataValue.json(value.value)
    if isinstance(value, Columns):
        return dg.TableSchema(columns=[dg.TableColumn(name=n, type=t) for n, t in value.columns])
    if isinstance(value, Path):
        return dg.MetadataValue.path(str(value))
    return value


def _metadata(values: Mapping[str, Any], table: tuple[str, str] | None = None) -> dict[str, Any]:
    metadata = {k: metadata_value(v) for k, v in values.items()}
    written = values.get(COLUMN_SCHEMA)
    if table is not None and isinstance(written, Columns):  # the written columns, with their docs and lineage
        metadata.update(table_metadata(*table, written.columns))
    return metadata


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """One check outcome as a Dagster check result."""
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.error else dg.AssetCheckSeverity.WARN,
        metadata=_metadata(outcome.metadata),
        description=outcome.description,
    )


def emit(
    result: StageResult,
    *,
    notify: Callable[[EngineerAlert], None] | None = None,
    table: tuple[str, str] | None = None,
) -> Iterator[Event]:
    """Yield the materialization, then each check; a failed check's engineer alert goes to ``notify`` first.

    ``table`` names the warehouse table the stage wrote: its column schema then carries the documented
    descriptions and lineage over the types actually written.
    """
    for outcome in result.checks:
        if not outcome.passed and outcome.alert is not None and notify is not None:
            notify(outcome.alert)
    yield dg.MaterializeResult(metadata=_metadata(result.metadata, table))
    for outcome in result.checks:
        yield check_result(outcome)
