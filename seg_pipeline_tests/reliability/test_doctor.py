"""`seg doctor` finds what a killed run left, repairs it with --repair, and leaves live work alone.

Leftovers: a stuck Dagster run holding the pool, a RUNNING MLflow run, an orphan model version (breaks 1 and 7).
"""

from pathlib import Path

import pytest

from seg_pipeline.run_guard import MLFLOW_PREFIX, owner_tags
from seg_pipeline.settings import Settings
from seg_pipeline_tests.reliability.conftest import run_seg
from seg_pipeline_tests.reliability.planted import dead_owner_tags, plant_run, run_status, slot_holders

pytestmark = pytest.mark.reliability
DOCTOR_TIMEOUT_S = 300


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

    listed = run_seg(home, "doctor", timeout=DOCTOR_TIMEOUT_S)
    assert listed.returncode == 5, listed.stderr
    for expected in (stuck, stale, f"v{version}", "stuck Dagster run", "stale MLflow run", "orphan model version"):
        assert expected in listed.stdout
    assert live not in listed.stdout
    assert run_status(home, stuck) == "STARTED"  # listing changes nothing

    repaired = run_seg(home, "doctor", "--repair", timeout=DOCTOR_TIMEOUT_S)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert run_status(home, stuck) == "FAILURE"
    assert stuck not in slot_holders(home)
    from seg_pipeline.segmentation.tracking import tracker_for

    client = tracker_for(settings.tracking_uri, str(settings.mlflow_artifact_root)).client
    assert client.get_run(stale).info.status == "KILLED"
    assert client.get_run(live).info.status == "RUNNING"
    assert [mv.version for mv in client.search_model_versions("name='seg_pipeline_segmentation'")] == []

    again = run_seg(home, "doctor", timeout=DOCTOR_TIMEOUT_S)
    assert again.returncode == 0
    assert "nothing to repair" in again.stdout
