"""A killed run must not stop the next one: dead owners found, their runs failed, pool slots freed.

Live owners are never touched (break 1 of the reliability battery).
"""

import os
from pathlib import Path

import pytest

from seg_pipeline.run_guard import owner_alive, owner_tags, recover_dead_runs
from seg_pipeline.settings import Settings
from seg_pipeline_tests.reliability.planted import dead_owner_tags, plant_run, run_status, slot_holders

pytestmark = pytest.mark.reliability


def test_owner_tags_tell_live_from_dead_processes() -> None:
    assert owner_alive(owner_tags()) is True
    assert owner_alive(dead_owner_tags()) is False
    recycled = {**owner_tags(), "seg/proc_started": "1.000"}  # same PID, another process start: not the owner
    assert owner_alive(recycled) is False
    assert owner_alive({"seg/pid": str(os.getpid()), "seg/host": "another-host"}) is None
    assert owner_alive({}) is None


def test_dead_run_is_failed_and_its_pool_slot_freed_live_run_kept(tmp_path: Path) -> None:
    import dagster as dg

    home = Settings().with_home(tmp_path).ensure_home()
    dead = plant_run(home, dead_owner_tags())
    live = plant_run(home, owner_tags(), week="2026-01-12", claim=False)
    assert dead in slot_holders(home)
    notes: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        recovered = recover_dead_runs(instance, notes.append)
    assert [r.run_id for r in recovered] == [dead]
    assert run_status(home, dead) == "FAILURE"
    assert dead not in slot_holders(home)
    assert run_status(home, live) == "STARTED"
    assert any("is gone" in n and dead[:8] in n for n in notes)
