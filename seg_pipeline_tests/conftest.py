"""Shared fixtures: a tiny simulated company run end to end through a real Dagster instance, once per session."""

import os
from pathlib import Path

import pytest

from seg_pipeline.settings import Settings

TINY = {"accounts": 250, "weeks": 3, "seed": 11}


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """SEG_HOME after simulating TINY and materializing every week with `run_weeks` (the `seg demo` path)."""
    from seg_pipeline.orchestration import run_weeks
    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    home = tmp_path_factory.mktemp("seg_home")
    saved = {k: os.environ.get(k) for k in ("SEG_HOME", "SEG_MASS_MIGRATION_THRESHOLD")}
    # tiny data is noisy; the gate itself is tested on its own
    os.environ["SEG_MASS_MIGRATION_THRESHOLD"] = "0.9"
    settings = Settings.from_env().with_home(home)
    settings.ensure_home()
    sim = simulate(SimulationConfig(**TINY), settings.landing_dir, settings.truth_dir)
    weeks = [str(w) for w in sim.weeks]
    runs = run_weeks(settings, weeks)
    yield {"home": Path(home), "settings": settings, "weeks": weeks, "runs": runs, "sim": sim}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
