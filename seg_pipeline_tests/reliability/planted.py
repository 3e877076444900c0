"""Plant the leftovers a killed process leaves, without killing anything.

A STARTED run holding the pool, a RUNNING MLflow run, an orphan version: so `seg doctor` and the run guard can be
tested in seconds.
"""

import subprocess
import sys
import uuid
from pathlib import Path

import psutil

from seg_pipeline.run_guard import DAGSTER_PREFIX, owner_tags


def dead_owner_tags(prefix: str = DAGSTER_PREFIX) -> dict[str, str]:
    """Owner tags of a real process that has already exited (its PID and start time, as `seg run` tags them)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = psutil.Process(proc.pid).create_time()
    proc.kill()
    proc.wait()
    tags = owner_tags(prefix)
    tags[f"{prefix}pid"] = str(proc.pid)
    tags[f"{prefix}proc_started"] = f"{started:.3f}"
    return tags


def plant_run(home: Path, tags: dict[str, str], week: str = "2026-01-05", *, claim: bool = True) -> str:
    """Add a STARTED weekly run with ``tags`` to the instance; with ``claim``, it holds the warehouse slot."""
    import dagster as dg

    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_run(dg.DagsterRun(job_name="weekly_segmentation", run_id=run_id,
                                       status=dg.DagsterRunStatus.STARTED,
                                       tags={**tags, "dagster/partition": week}))
        if claim:
            storage = instance.event_log_storage
            storage.set_concurrency_slots("warehouse", 1)
            status = storage.claim_concurrency_slot("warehouse", run_id, "raw__product_events", 0)
            assert status.is_claimed
    return run_id


def run_status(home: Path, run_id: str) -> str:
    """Return the run's status name in the instance (``SUCCESS``, ``FAILURE``, ``STARTED``...)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        return run.status.value


def slot_holders(home: Path) -> set[str]:
    """Return the runs that hold or wait for a warehouse pool slot."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return set(instance.event_log_storage.get_concurrency_run_ids())
