"""Named simulator scenarios: the demo's landing files, or exports shaped like real companies' (``docs/simulator.md``).

``default`` writes contract-shaped landing files (the demo). ``sparse`` and ``history`` write export shape B,
which ``seg import`` turns into landing files with a mapping from ``docs/mappings/``: ``sparse`` has accounts active
in only 30-50 % of weeks and a product without an invite feature; ``history`` has the default activity and starts
in 2023, so the calendar must come from the data.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from seg_pipeline.sources.simulator.config import SimulationConfig, SimulationResult
from seg_pipeline.sources.simulator.exports import ExportOptions
from seg_pipeline.sources.simulator.run import simulate, simulate_export


@dataclass(frozen=True)
class Scenario:
    """What a scenario simulates and writes; start and weeks are defaults the caller may override."""

    name: str
    summary: str
    start: date
    weeks: int
    active_share: tuple[float, float] | None = None
    export: ExportOptions | None = None  # None = landing files

    def config(self, accounts: int, seed: int, weeks: int | None = None, start: date | None = None
               ) -> SimulationConfig:
        """Build this scenario's simulation config with the caller's size, seed and calendar."""
        return SimulationConfig(accounts=accounts, weeks=weeks or self.weeks, seed=seed, start=start or self.start,
                                active_share=self.active_share)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("default", "landing files: daily product events, weekly CRM snapshots, weekly ticket updates",
             date(2026, 1, 5), 8),
    Scenario("sparse", "export files; accounts active in 30-50 % of weeks; no invite feature",
             date(2026, 1, 5), 12, active_share=(0.3, 0.5),
             export=ExportOptions("sparse", drop_event_types=frozenset({"invite"}))),
    Scenario("history", "export files; default activity; starts 2023-01-02", date(2023, 1, 2), 12,
             export=ExportOptions("history")),
)}


def run_scenario(scenario: Scenario, config: SimulationConfig, *, landing_dir: Path, export_dir: Path,
                 truth_dir: Path, progress: Callable[[str], None] | None = None) -> SimulationResult:
    """Simulate ``config`` (from :meth:`Scenario.config`) as landing files or as the scenario's export."""
    if scenario.export is None:
        return simulate(config, landing_dir, truth_dir, progress=progress)
    return simulate_export(config, export_dir, truth_dir, scenario.export, progress=progress)
