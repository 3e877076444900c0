"""Keep a killed run from blocking the next one: owner tags, dead-run recovery, and a watch on the pool wait.

`seg run` executes weeks in its own process (``execute_in_process``), so no run worker or daemon notices when
that process is killed: the run stays STARTED and its ``warehouse`` pool slot stays claimed, and every later run
waits on it forever (Dagster's wait loop defers Ctrl-C and SIGTERM until the wait ends). Each run is therefore
tagged with the process that owns it; before a week runs, and while it waits on the pool, runs whose owner is
gone are reported failed and their slots freed. A run waiting on the pool says who holds it, and an interrupt
during the wait cancels the run cleanly. Dagster is imported lazily so `seg --help` stays fast.
"""

import fcntl
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import dagster as dg

DAGSTER_PREFIX = "seg/"  # Dagster run tags: seg/pid, seg/host, seg/proc_started
MLFLOW_PREFIX = "seg.owner_"  # the same on MLflow runs: seg.owner_pid, ...
POOLS = ("warehouse",)  # seg_pipeline.defs.weekly.WAREHOUSE_POOL (not imported: that module imports Dagster)
EXIT_INTERRUPTED = 130
Progress = Callable[[str], None]


def owner_tags(prefix: str = DAGSTER_PREFIX) -> dict[str, str]:
    """Tags naming this process as the run's owner: PID, host and start time (a recycled PID is not the owner)."""
    return {
        f"{prefix}pid": str(os.getpid()),
        f"{prefix}host": socket.gethostname(),
        f"{prefix}proc_started": f"{psutil.Process().create_time():.3f}",
    }


def owner_alive(tags: Mapping[str, str], prefix: str = DAGSTER_PREFIX) -> bool | None:
    """Tell whether the tagged owner process still runs; None when unknown (untagged, or another host)."""
    if f"{prefix}pid" not in tags or tags.get(f"{prefix}host") != socket.gethostname():
        return None
    try:
        proc = psutil.Process(int(tags[f"{prefix}pid"]))
        started = float(tags.get(f"{prefix}proc_started", "nan"))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(proc.create_time() - started) < 1.0)
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True


def describe_owner(tags: Mapping[str, str], prefix: str = DAGSTER_PREFIX) -> str:
    """``pid 123`` or ``pid 123 on host-b``, or ``an unknown process`` for untagged runs."""
    if f"{prefix}pid" not in tags:
        return "an unknown process"
    host = tags.get(f"{prefix}host", "")
    return f"pid {tags[f'{prefix}pid']}" + ("" if host == socket.gethostname() else f" on {host or 'another host'}")


@dataclass(frozen=True)
class DeadRun:
    """A run whose owner process is gone (or a slot held by a finished run) that recovery cleaned up."""

    run_id: str
    week: str
    job: str
    owner: str
    status: str


def _week(tags: Mapping[str, str]) -> str:
    return tags.get("dagster/partition", "-")


def unfinished_statuses() -> "list[dg.DagsterRunStatus]":
    """Statuses of a run that has not ended (QUEUED is left to the daemon's queue)."""
    import dagster as dg

    return [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
            dg.DagsterRunStatus.CANCELING]


def find_dead_runs(instance: "dg.DagsterInstance") -> list[DeadRun]:
    """Unfinished runs whose owner process is gone, plus finished or deleted runs still holding pool slots."""
    import dagster as dg

    dead: dict[str, DeadRun] = {}
    for record in instance.get_run_records(dg.RunsFilter(statuses=unfinished_statuses())):
        run = record.dagster_run
        if owner_alive(run.tags) is False:
            dead[run.run_id] = DeadRun(run.run_id, _week(run.tags), run.job_name, describe_owner(run.tags),
                                       run.status.value)
    for run_id in _slot_run_ids(instance) - set(dead):
        held_by = instance.get_run_by_id(run_id)
        if held_by is None or held_by.is_finished:
            tags = held_by.tags if held_by is not None else {}
            dead[run_id] = DeadRun(run_id, _week(tags), held_by.job_name if held_by else "-",
                                   describe_owner(tags), held_by.status.value if held_by else "DELETED")
    return list(dead.values())


def _slot_run_ids(instance: "dg.DagsterInstance") -> set[str]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return set()
    return set(storage.get_concurrency_run_ids())


def repair_dead_runs(instance: "dg.DagsterInstance", dead: list[DeadRun]) -> None:
    """Report each dead run failed (with why, in its event log) and free every pool slot it claimed or waited on."""
    for item in dead:
        run = instance.get_run_by_id(item.run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(
                run, f"seg: the process that ran this run ({item.owner}) is gone (killed or crashed); "
                "marked failed and its pool slots freed so later runs can proceed",
            )
        instance.event_log_storage.free_concurrency_slots_for_run(item.run_id)


def recover_dead_runs(instance: "dg.DagsterInstance", progress: Progress | None = None) -> list[DeadRun]:
    """Find and repair dead runs; say so on the console (a crash must not stop the next run)."""
    dead = find_dead_runs(instance)
    repair_dead_runs(instance, dead)
    for item in dead:
        if progress:
            progress(f"recovered run {item.run_id[:8]} (week {item.week}, {item.status.lower()}): its process "
                     f"({item.owner}) is gone; marked failed and its warehouse pool slot freed")
    return dead


@contextmanager
def open_instance(home: Path) -> "Iterator[dg.DagsterInstance]":
    """Open SEG_HOME's Dagster instance; creating its SQLite storage is serialized across processes.

    Two `seg run`s starting at once on a fresh home both create the schedule database and its migration table;
    measured: ``alembic_version`` ends with two heads and the instance no longer opens. An exclusive lock on
    ``SEG_HOME/.instance.lock`` while the instance is constructed prevents that; using it is not locked.
    """
    import dagster as dg

    home.mkdir(parents=True, exist_ok=True)
    with (home / ".instance.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.from_config(str(home))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


def new_run_id() -> str:
    """Choose the run id before the run starts, so the pool watch knows which run is ours."""
    return str(uuid.uuid4())


@contextmanager
def watch_pool_wait(home: Path, run_id: str, week: str, progress: Progress | None,
                    *, poll_s: float = 0.5, notice_after_s: float = 2.0, repeat_s: float = 30.0) -> Iterator[None]:
    """While run ``run_id`` waits on a pool: name the holder, recover a dead holder, and honour Ctrl-C/SIGTERM."""
    stop = threading.Event()
    watch = _PoolWatch(home, run_id, week, progress, poll_s, notice_after_s, repeat_s, stop)
    thread = threading.Thread(target=watch.loop, name="seg-pool-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class _PoolWatch:
    home: Path
    run_id: str
    week: str
    progress: Progress | None
    poll_s: float
    notice_after_s: float
    repeat_s: float
    stop: threading.Event

    def loop(self) -> None:

        waiting_since: float | None = None
        last_notice = 0.0
        with open_instance(self.home) as instance:
            while not self.stop.wait(self.poll_s):
                holders = self._waiting_on(instance)
                if holders is None:
                    waiting_since = None
                    continue
                now = time.monotonic()
                waiting_since = waiting_since or now
                if self._interrupted():
                    self._cancel(instance)
                if recover_dead_runs(instance, self.progress):
                    continue
                if now - waiting_since >= self.notice_after_s and now - last_notice >= self.repeat_s:
                    last_notice = now
                    self._say(self._holder_text(instance, holders))

    def _waiting_on(self, instance: "dg.DagsterInstance") -> set[str] | None:
        """Return the runs holding the pool our run waits for, or None when our run is not waiting."""
        for pool in POOLS:
            info = instance.event_log_storage.get_concurrency_info(pool)
            if any(p.run_id == self.run_id and p.assigned_timestamp is None for p in info.pending_steps):
                return {s.run_id for s in info.claimed_slots if s.run_id != self.run_id}
        return None

    def _holder_text(self, instance: "dg.DagsterInstance", holders: set[str]) -> str:
        names = []
        for run_id in sorted(holders):
            run = instance.get_run_by_id(run_id)
            tags = run.tags if run is not None else {}
            names.append(f"run {run_id[:8]} (week {_week(tags)}, {describe_owner(tags)})")
        held = ", ".join(names) or "another run"
        return (f"week {self.week}: waiting for the warehouse pool, held by {held}; it continues when that run "
                "ends (Ctrl-C stops waiting; `seg doctor` lists stuck runs)")

    @staticmethod
    def _interrupted() -> bool:
        from dagster._utils.interrupts import check_captured_interrupt  # Dagster defers the signal in its wait

        return check_captured_interrupt()

    def _cancel(self, instance: "dg.DagsterInstance") -> None:
        """Ctrl-C/SIGTERM while only waiting: nothing is half-written, so cancel the run, free its place, exit."""
        run = instance.get_run_by_id(self.run_id)
        if run is not None and not run.is_finished:
            instance.report_run_canceled(run, "seg: interrupted while waiting for the warehouse pool")
        instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)
        self._say(f"week {self.week}: interrupted while waiting for the warehouse pool; run {self.run_id[:8]} "
                  "canceled, nothing was written for this step")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    def _say(self, message: str) -> None:
        if self.progress:
            self.progress(message)
