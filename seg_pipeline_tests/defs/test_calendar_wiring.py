"""The partition set holds exactly the registered weeks, in calendar order; the Monday schedule runs landed weeks."""

import functools
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from seg_pipeline.definitions import build_definitions
from seg_pipeline.defs.jobs import dashboard_schedule, weekly_schedule
from seg_pipeline.defs.resources import LandingZoneResource
from seg_pipeline.defs.weekly import WEEKS_PARTITION_SET, register_weeks, registered_weeks
from seg_pipeline.settings import Settings
from seg_pipeline_tests.helpers.partitions import weekly_instance

KEY = dg.AssetKey(["raw", "product_events"])


def test_weeks_registered_out_of_order_are_kept_in_calendar_order_with_their_history():
    with weekly_instance("2024-01-08", "2024-01-15") as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=KEY, partition="2024-01-15"))
        assert register_weeks(instance, ["2023-01-02", "2024-01-15", "2024-01-22"]) == ["2023-01-02", "2024-01-22"]
        # Dagster lists dynamic partitions in insertion order: the UI must show them as a calendar
        assert instance.get_dynamic_partitions(WEEKS_PARTITION_SET) == [
            "2023-01-02", "2024-01-08", "2024-01-15", "2024-01-22"]
        assert register_weeks(instance, ["2024-01-08"]) == []
        status = instance.get_latest_materialization_event(KEY)
        assert status is not None
        assert status.asset_materialization.partition == "2024-01-15"  # re-registering kept the history
        with pytest.raises(ValueError, match="Tuesday"):
            register_weeks(instance, ["2024-01-09"])
        assert registered_weeks(instance)[-1] == "2024-01-22"


@pytest.fixture
def home(tmp_path) -> Settings:
    settings = Settings().with_home(tmp_path / "home")
    settings.ensure_home()
    return settings


def _tick(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, settings: Settings, when: datetime,
          first_week: str | None = None):
    # the context opens its own instance from the ref: `with` closes it (else it outlives the tmp dir)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when,
        resources={"landing": LandingZoneResource(path=str(settings.landing_dir), first_week=first_week)},
        repository_def=_repository(settings.home),
    ) as ctx:
        return schedule.evaluate_tick(ctx)


@functools.cache
def _repository(home: Path) -> dg.RepositoryDefinition:
    return build_definitions(Settings().with_home(home)).get_repository_def()


def test_the_monday_schedule_registers_and_runs_the_week_that_closed_once_it_landed(home):
    monday = datetime(2023, 1, 9, 6, 0, tzinfo=UTC)
    with weekly_instance() as instance:
        skipped = _tick(weekly_schedule, instance, home, monday)
        assert not skipped.run_requests
        assert "week 2023-01-02 has no landing files" in (skipped.skip_message or "")
        assert registered_weeks(instance) == []
        (home.landing_dir / "crm_accounts").mkdir()
        (home.landing_dir / "crm_accounts" / "accounts_2023-01-02.csv").write_text("account_id\n")
        ran = _tick(weekly_schedule, instance, home, monday)
        assert [(r.partition_key, r.run_key) for r in ran.run_requests] == [("2023-01-02", "2023-01-02")]
        assert registered_weeks(instance) == ["2023-01-02"]  # the partition ends at the last landed week
        # the dashboard refresh an hour later targets the same week
        dash = _tick(dashboard_schedule, instance, home, monday.replace(hour=7))
        assert [r.partition_key for r in dash.run_requests] == ["2023-01-02"]
        later = _tick(weekly_schedule, instance, home, monday, first_week="2023-01-09")
        assert "before SEG_FIRST_WEEK=2023-01-09" in (later.skip_message or "")


def test_schedules_fire_on_monday_mornings_utc():
    assert weekly_schedule.cron_schedule == "0 6 * * 1"
    assert dashboard_schedule.cron_schedule == "0 7 * * 1"
    assert weekly_schedule.execution_timezone == "UTC"
