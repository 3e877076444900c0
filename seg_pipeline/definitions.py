"""Dagster entry point: every definition under ``defs/`` plus the project's resources, bound once."""

from pathlib import Path

import dagster as dg

from seg_pipeline.defs.resources import build_resources
from seg_pipeline.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Build the project's definitions for ``settings`` (the CLI passes its own; the code server reads the env)."""
    settings.ensure_home()
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=build_resources(settings)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Build the definitions from the environment (what the code server and `dagster dev` load)."""
    return build_definitions(Settings.from_env())
