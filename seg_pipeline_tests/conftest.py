"""Shared fixtures: a tiny simulated company run end to end through a real Dagster instance, once per session."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from seg_pipeline.settings import Settings

TINY = {"accounts": 250, "weeks": 3, "seed": 11}


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """SEG_HOME after simulating TINY and materializing every week with `run_weeks` (the `seg demo` path)."""
    from seg_pipeline.orchestration import run_weeks
    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    home = tmp_path_factory.mktemp("seg_home")
    # tiny data is noisy; the gate itself is tested on its own
    settings = replace(Settings().with_home(home), mass_migration_threshold=0.9)
    settings.ensure_home()
    sim = simulate(SimulationConfig(**TINY), settings.landing_dir, settings.truth_dir)
    weeks = [str(w) for w in sim.weeks]
    runs = run_weeks(settings, weeks)
    return {"home": Path(home), "settings": settings, "weeks": weeks, "runs": runs, "sim": sim}
