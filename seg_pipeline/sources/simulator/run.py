""":func:`simulate`: the weekly loop that ties accounts, persona dynamics, events, tickets and CRM together."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from seg_pipeline.sources.simulator.accounts import Accounts, crm_changes, initial_accounts, sign_up
from seg_pipeline.sources.simulator.activity import ActivityPlan
from seg_pipeline.sources.simulator.config import SimulationConfig, SimulationResult, days, rng
from seg_pipeline.sources.simulator.crm import snapshot
from seg_pipeline.sources.simulator.dynamics import (
    advance_truth,
    churn,
    settle_transitions,
    start_transitions,
    week_profile,
)
from seg_pipeline.sources.simulator.events import week_events
from seg_pipeline.sources.simulator.exports import ExportOptions, ExportWriter, write_faults
from seg_pipeline.sources.simulator.tickets import TicketLog, raise_tickets, warm_up, week_jsonl
from seg_pipeline.sources.simulator.truth import TruthLog
from seg_pipeline.sources.simulator.writer import OPTIONAL_TRUTH, LandingWriter, Sink, write_truth


def simulate(config: SimulationConfig, landing_dir: Path, truth_dir: Path,
             progress: Callable[[str], None] | None = None) -> SimulationResult:
    """Write ``config.weeks`` weeks of landing files plus ground truth; rerunning overwrites the same files.

    Landing: ``product_events/events_<day>.parquet`` (one per UTC day), ``crm_accounts/accounts_<week>.csv``
    and ``support_tickets/tickets_<week>.jsonl``. Truth (evaluation only): ``personas``, ``migrations`` and
    ``churn`` Parquet files in ``truth_dir`` (plus ``activity`` when sparse), which must not be inside the
    landing zone.
    """
    landing_dir, truth_dir = _separate(landing_dir, truth_dir)
    writer = LandingWriter(landing_dir)
    company, weeks = _run(config, writer, progress)
    truth_files = write_truth(truth_dir, company.truth.tables(company.acc, weeks))
    return SimulationResult(weeks=weeks, files=writer.files, counts=writer.counts, truth_files=truth_files)


def simulate_export(config: SimulationConfig, export_dir: Path, truth_dir: Path, options: ExportOptions,
                    progress: Callable[[str], None] | None = None) -> SimulationResult:
    """Write the same company as a third-party export (shape B of the spec, ``docs/simulator.md``) plus truth.

    Truth as :func:`simulate`, plus ``planted_faults.json`` (orphan ids, absent product features).
    """
    export_dir, truth_dir = _separate(export_dir, truth_dir)
    writer = ExportWriter(export_dir, config, options)
    company, weeks = _run(config, writer, progress)
    faults = writer.finish(company.acc, company.tickets, weeks)
    truth_files = write_truth(truth_dir, company.truth.tables(company.acc, weeks))
    truth_files["planted_faults"] = write_faults(truth_dir, faults)
    return SimulationResult(weeks=weeks, files=writer.files, counts=writer.counts, truth_files=truth_files)


def _separate(data_dir: Path, truth_dir: Path) -> tuple[Path, Path]:
    """Resolve both directories; refuse a truth directory inside the data; drop truth files of other scenarios."""
    data_dir, truth_dir = Path(data_dir).resolve(), Path(truth_dir).resolve()
    if truth_dir == data_dir or truth_dir.is_relative_to(data_dir):
        raise ValueError("truth_dir must not be inside the landing/export directory (the pipeline must never "
                         "read the truth)")
    for name in OPTIONAL_TRUTH:
        (truth_dir / name).unlink(missing_ok=True)
    return data_dir, truth_dir


def _run(config: SimulationConfig, writer: Sink, progress: Callable[[str], None] | None
         ) -> tuple["_Company", list[date]]:
    """Simulate every week into ``writer`` (closed at the end, also on error)."""
    weeks = [config.start + timedelta(weeks=w) for w in range(config.weeks)]
    company = _Company(config, initial_accounts(config))
    warm_up(company.tickets, company.acc, config)
    report = progress or (lambda _msg: None)
    try:
        for w, week in enumerate(weeks):
            alive = company.simulate_week(w, week, writer)
            volume = (f", {writer.counts['product_events']} events so far" if "product_events" in writer.counts
                      else "")
            report(f"week {week}: {int(alive.sum())} accounts{volume}")
    finally:
        writer.close()
    return company, weeks


@dataclass
class _Company:
    """The simulated company's state, moved on one week at a time."""

    config: SimulationConfig
    acc: Accounts
    tickets: TicketLog = field(default_factory=TicketLog)
    truth: TruthLog = field(default_factory=TruthLog)
    activity: ActivityPlan = field(init=False)

    def __post_init__(self) -> None:
        """Sparse configs draw a weekly activity mask; dense ones use the alive mask as it is."""
        self.activity = ActivityPlan(self.config)

    def simulate_week(self, w: int, week: date, writer: Sink) -> np.ndarray:
        """Move the company through week ``w`` and write its landing files; returns who was alive."""
        seed, day0 = self.config.seed, days(week)
        sign_up(self.acc, self.config, w, day0)
        acc = self.acc
        alive = acc.alive(w, day0)
        start_transitions(rng(seed, 6, w), acc, alive, day0)
        weight, migration = advance_truth(acc, w, alive)
        if migration is not None:
            self.truth.migrations.append(migration)
        churn(rng(seed, 2, w), acc, w, alive)
        crm_changes(acc, seed, w, alive)
        prof = week_profile(acc, weight, alive)
        active = self.activity.week_mask(w, alive)
        if self.config.active_share is not None:
            self.truth.activity.append((acc.num[alive], w, active[alive]))
        # an inactive week has no product events; persona, tickets and CRM go on as for any alive account
        for day, table in week_events(acc, self.config, w, day0, active, prof):
            writer.events(day, table)
        raise_tickets(self.tickets, acc, rng(seed, 5, w), w, day0, alive, prof)
        if writer.weekly_tickets:
            writer.tickets(week, week_jsonl(self.tickets, acc, days(self.config.start), day0))
        writer.crm(week, snapshot(acc, w, day0, alive))
        self.truth.personas.append((acc.num[alive], w, acc.truth[alive]))
        settle_transitions(acc, alive)
        return alive
