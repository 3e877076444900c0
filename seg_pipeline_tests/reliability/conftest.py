"""The reliability battery's tools: a tiny landed company per test, `seg` as a real subprocess, planted runs.

Every runtime test gets its own SEG_HOME. Subprocesses always run under a timeout that kills them and fails the
test (a hang is a failure, never a wait forever); no test asserts on time.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 900  # one tiny week takes 10-120 s on a loaded laptop; a hang is killed here and fails
TINY = {"accounts": 150, "weeks": 2, "seed": 5}


def seg_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a `seg` subprocess: this checkout's package, its own SEG_HOME, no inherited crash point."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEG_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(REPO), SEG_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def seg_cmd(*args: str) -> list[str]:
    """`python -m seg_pipeline.cli ARGS` with this interpreter."""
    return [sys.executable, "-m", "seg_pipeline.cli", *args]


def run_seg(home: Path, *args: str, timeout: float = RUN_TIMEOUT_S, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `seg ARGS` to completion; a run that outlives ``timeout`` is killed and raises (the test fails)."""
    return subprocess.run(seg_cmd(*args), env=seg_env(home, **env), capture_output=True, text=True,  # noqa: S603
                          timeout=timeout, check=False)


@pytest.fixture(scope="session")
def landed_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Landing files of a tiny simulated company, simulated once; tests copy them into their own home."""
    from seg_pipeline.settings import Settings
    from seg_pipeline.sources.simulator import SimulationConfig, simulate

    home = tmp_path_factory.mktemp("landed_template")
    settings = Settings().with_home(home)
    settings.ensure_home()
    sim = simulate(SimulationConfig(**TINY), settings.landing_dir, settings.truth_dir)
    return {"home": home, "weeks": [str(w) for w in sim.weeks]}


@pytest.fixture
def landed_home(tmp_path: Path, landed_template: dict[str, Any]) -> tuple[Path, list[str]]:
    """Give a fresh SEG_HOME holding the tiny company's landing files, and its weeks."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(landed_template["home"] / "landing", home / "landing")
    return home, landed_template["weeks"]


def new_landed_home(root: Path, landed_template: dict[str, Any], name: str) -> Path:
    """Another fresh SEG_HOME with the same landing files (for a clean reference run)."""
    home = root / name
    home.mkdir()
    shutil.copytree(landed_template["home"] / "landing", home / "landing")
    return home
