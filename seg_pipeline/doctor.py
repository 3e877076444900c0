"""`seg doctor`: find (and with ``repair``, fix) what a killed process leaves behind.

Three kinds of leftovers, each with its own owner check so a live run is never touched:
- Dagster runs still STARTED whose process is gone, and pool slots held by finished or deleted runs (they make
  every later run wait on the ``warehouse`` pool) → the run is reported failed and its slots freed;
- MLflow runs still RUNNING whose process is gone (or whose Dagster run has ended) → terminated as KILLED;
- registered model versions whose MLflow run failed or was killed, or whose artifacts are missing → deleted,
  except the ``@champion`` (reported: promote another version first).
Dagster is imported lazily so `seg --help` stays fast.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seg_pipeline.run_guard import (
    MLFLOW_PREFIX,
    describe_owner,
    find_dead_runs,
    open_instance,
    owner_alive,
    repair_dead_runs,
)
from seg_pipeline.settings import Settings

if TYPE_CHECKING:
    from seg_pipeline.segmentation.tracking import MlflowTracker

_DEAD_MLFLOW = ("FAILED", "KILLED")
_FINISHED = ("SUCCESS", "FAILURE", "CANCELED", "DELETED")


@dataclass
class Finding:
    """One leftover: what it is, which object, why it is a problem, and whether it was (or can be) repaired."""

    kind: str
    ident: str
    detail: str
    repairable: bool = True
    repaired: bool = False

    def line(self) -> str:
        """One row of the report."""
        state = "repaired" if self.repaired else ("repairable" if self.repairable else "needs you")
        return f"{self.kind:<22} {self.ident:<36} {state:<10}  {self.detail}"


def diagnose(settings: Settings, *, repair: bool = False, force_runs: Iterable[str] = ()) -> list[Finding]:
    """Check the Dagster instance and the MLflow store under SEG_HOME; repair what is safe when asked."""
    findings = _dagster_findings(settings, repair, set(force_runs))
    tracker = _tracker(settings)
    if tracker is not None:
        stale = _stale_mlflow_runs(tracker, settings, repair)
        findings += stale
        findings += _orphan_versions(tracker, {f.ident for f in stale}, repair)
    return findings


def _dagster_findings(settings: Settings, repair: bool, force_runs: set[str]) -> list[Finding]:
    import dagster as dg

    from seg_pipeline.run_guard import DeadRun, unfinished_statuses

    with open_instance(settings.home) as instance:
        dead = find_dead_runs(instance)
        unknown = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(statuses=unfinished_statuses()))
                   if owner_alive(r.dagster_run.tags) is None]
        forced = [DeadRun(r.run_id, r.tags.get("dagster/partition", "-"), r.job_name, describe_owner(r.tags),
                          r.status.value) for r in unknown if r.run_id in force_runs]
        if repair:
            repair_dead_runs(instance, dead + forced)
    findings = [Finding("stuck Dagster run" if d.status not in _FINISHED else "orphan pool slot", d.run_id,
                        f"week {d.week}, {d.job}, {d.status.lower()}; its process ({d.owner}) is gone",
                        repaired=repair) for d in dead]
    forced_ids = {d.run_id for d in forced}
    findings += [
        Finding("unfinished Dagster run", r.run_id,
                f"week {r.tags.get('dagster/partition', '-')}, {r.status.value.lower()}, started by "
                f"{describe_owner(r.tags)} (not `seg run`): if no process runs it, "
                f"`seg doctor --repair --run {r.run_id}`",
                repairable=r.run_id in forced_ids, repaired=repair and r.run_id in forced_ids)
        for r in unknown
    ]
    return findings



def _tracker(settings: Settings) -> "MlflowTracker | None":
    """Return the project's MLflow tracker, or None when the local store was never created (nothing to check)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    from seg_pipeline.segmentation.tracking import tracker_for

    return tracker_for(uri, str(settings.mlflow_artifact_root))


def _stale_mlflow_runs(tracker: "MlflowTracker", settings: Settings, repair: bool) -> list[Finding]:
    """Find RUNNING MLflow runs whose owner process is gone (or, untagged, whose Dagster run has ended)."""
    runs = tracker.client.search_runs([tracker.experiment_id], filter_string="attributes.status = 'RUNNING'",
                                      max_results=1000)
    ended = _ended_dagster_runs(settings, [r.data.tags.get("dagster.run_id", "") for r in runs])
    findings = []
    for run in runs:
        tags = run.data.tags
        alive = owner_alive(tags, MLFLOW_PREFIX)
        if alive is False or (alive is None and tags.get("dagster.run_id") in ended):
            why = (f"its process ({describe_owner(tags, MLFLOW_PREFIX)}) is gone" if alive is False
                   else "its Dagster run has ended")
            if repair:
                tracker.client.set_terminated(run.info.run_id, status="KILLED")
            findings.append(Finding("stale MLflow run", run.info.run_id,
                                    f"{run.info.run_name or '-'} still RUNNING but {why}; → KILLED", repaired=repair))
    return findings


def _ended_dagster_runs(settings: Settings, run_ids: list[str]) -> set[str]:

    with open_instance(settings.home) as instance:
        out = set()
        for run_id in filter(None, run_ids):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                out.add(run_id)
    return out


def _orphan_versions(tracker: "MlflowTracker", stale_runs: set[str], repair: bool) -> list[Finding]:
    """Find registered versions whose run failed or was killed, or whose model files are gone."""
    findings = []
    for mv in tracker.client.search_model_versions(f"name='{tracker.model_name}'"):
        why = _version_problem(tracker, mv, stale_runs)
        if why is None:
            continue
        champion = "champion" in (mv.aliases or [])
        finding = Finding("orphan model version", f"{tracker.model_name} v{mv.version}",
                          why + ("; it is @champion: promote a good version first" if champion else ""),
                          repairable=not champion)
        if repair and not champion:
            tracker.client.delete_model_version(tracker.model_name, mv.version)
            finding.repaired = True
        findings.append(finding)
    return findings


def _version_problem(tracker: "MlflowTracker", mv: Any, stale_runs: set[str]) -> str | None:
    """Why a version is an orphan, or None when it is sound (or its run is still live)."""
    import mlflow

    if mv.run_id:
        try:
            status = tracker.client.get_run(mv.run_id).info.status
        except mlflow.exceptions.MlflowException:
            return f"its MLflow run {mv.run_id} no longer exists"
        if status in _DEAD_MLFLOW or mv.run_id in stale_runs:
            return f"its MLflow run {mv.run_id} was killed or failed before it finished"
        if status == "RUNNING":
            return None  # still being logged by a live process
    with tracker.active():
        try:
            listed = mlflow.artifacts.list_artifacts(artifact_uri=f"models:/{tracker.model_name}/{mv.version}")
        except (mlflow.exceptions.MlflowException, OSError):
            listed = []
    if not any(a.path.endswith("MLmodel") for a in listed):
        return "its model files are missing from the artifact store"
    return None


def report(findings: list[Finding], *, repair: bool) -> str:
    """Plain-text report: one row per finding, then what to do next."""
    if not findings:
        return "nothing to repair: no stuck runs, no stale MLflow runs, no orphan model versions"
    rows = [f"{'kind':<22} {'id':<36} {'state':<10}  detail", *(f.line() for f in findings)]
    left = [f for f in findings if not f.repaired]
    if not repair and any(f.repairable for f in left):
        rows.append("\nrun `seg doctor --repair` to fix the repairable ones")
    return "\n".join(rows)

