"""`seg doctor` finds what a killed run left, repairs it with --repair, and leaves live work alone.

Leftovers: a stuck Dagster run holding the pool, a RUNNING MLflow run, an orphan model version (breaks 1 and 7).
"""

from pathlib import Path

import pytest

from seg_pipeline.run_guard import MLFLOW_PREFIX, owner_tags
from seg_pipeline.settings import Settings
from seg_pipeline_tests.reliability.planted import dead_owner_tags, plant_run, run_status, slot_holders

pytestmark = pytest.mark.reliability


def _doctor(home: Path, *args: str) -> tuple[int, str]:
    """Run `seg --home HOME doctor ARGS` in this process (the planted owners are real processes either way)."""
    from click.testing import CliRunner

    from seg_pipeline.cli import main

    out = CliRunner().invoke(main, ["--home", str(home), "doctor", *args])
    return out.exit_code, out.output


def _plant_mlflow(settings: Settings, tmp_path: Path) -> tuple[str, str, str]:
    """Plant a RUNNING MLflow run of a dead process with a registered version, and a RUNNING run of a live one."""
    from seg_pipeline.segmentation.tracking import tracker_for

    tracker = tracker_for(settings.tracking_uri, str(settings.mlflow_artifact_root))
    client = tracker.client
    stale = client.create_run(tracker.experiment_id, run_name="week-2026-01-05",
                              tags=dead_owner_tags(MLFLOW_PREFIX)).info.run_id
    live = client.create_run(tracker.experiment_id, run_name="week-2026-01-12",
                             tags=owner_tags(MLFLOW_PREFIX)).info.run_id
    client.create_registered_model(tracker.model_name)
    version = client.create_model_version(tracker.model_name, source=str(tmp_path / "gone"), run_id=stale).version
    return stale, live, str(version)


def test_doctor_lists_then_repairs_planted_leftovers(tmp_path: Path) -> None:
    settings = Settings().with_home(tmp_path / "home")
    home = settings.ensure_home()
    stuck = plant_run(home, dead_owner_tags())
    stale, live, version = _plant_mlflow(settings, tmp_path)

    code, listed = _doctor(home)
    assert code == 5, listed
    for expected in (stuck, stale, f"v{version}", "stuck Dagster run", "stale MLflow run", "orphan model version"):
        assert expected in listed
    assert live not in listed
    assert run_status(home, stuck) == "STARTED"  # listing changes nothing

    code, repaired = _doctor(home, "--repair")
    assert code == 0, repaired
    assert run_status(home, stuck) == "FAILURE"
    assert stuck not in slot_holders(home)
    from seg_pipeline.segmentation.tracking import tracker_for

    client = tracker_for(settings.tracking_uri, str(settings.mlflow_artifact_root)).client
    assert client.get_run(stale).info.status == "KILLED"
    assert client.get_run(live).info.status == "RUNNING"
    assert [mv.version for mv in client.search_model_versions("name='seg_pipeline_segmentation'")] == []

    code, again = _doctor(home)
    assert code == 0, again
    assert "nothing to repair" in again
