"""Dagster entry point: load every definition under ``defs/`` and bind the project-wide resource once."""

from pathlib import Path

import dagster as dg

from seg_pipeline.defs.resources import SegResource


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources={"seg": SegResource()}),
    )
