"""Simulated B2B SaaS company: the embedded default data source of the demo and the benchmarks.

Accounts carry planted latent personas that drift week by week, so the pipeline has something real to
recover: landing files (product events, CRM snapshots, support tickets) follow ``docs/contracts.md`` and the
ground truth (persona per account-week, migrations, churn) goes to a separate directory the pipeline never
reads. Everything is vectorised with numpy per week/day and seeded, so the same config writes byte-identical
files and 100 k accounts x 8 weeks take about a minute.

Modules, by what they simulate: :mod:`.personas` (the planted personas and their behaviour), :mod:`.accounts`
(the customer base, signups, CRM changes), :mod:`.dynamics` (weekly migrations and churn), :mod:`.events`,
:mod:`.tickets` and :mod:`.crm` (the three landing sources), :mod:`.truth`, :mod:`.writer` (files) and
:mod:`.run` (:func:`simulate`, the weekly loop). :mod:`.activity` makes accounts active only in some weeks;
:mod:`.exports` (with :mod:`.export_usage` and :mod:`.export_crm`) writes the same company as a third-party export
(daily per-feature usage by subscription, static CRM plus events); :mod:`.scenarios` names the combinations
(``default``, ``sparse``, ``history``; see ``docs/simulator.md``). The vocabulary (columns, event types,
priorities, ...) is the contracts' (:mod:`seg_pipeline.sources.contracts`).
"""

from seg_pipeline.sources.simulator.config import SimulationConfig, SimulationResult
from seg_pipeline.sources.simulator.personas import PERSONAS
from seg_pipeline.sources.simulator.run import simulate
from seg_pipeline.sources.simulator.tickets import TICKET_WARMUP_WEEKS

__all__ = ["PERSONAS", "TICKET_WARMUP_WEEKS", "SimulationConfig", "SimulationResult", "simulate"]
