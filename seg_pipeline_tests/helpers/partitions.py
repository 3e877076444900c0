"""A test Dagster instance whose partition set already holds the given weeks (what `seg run` registers first)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from seg_pipeline.defs.weekly import register_weeks


@contextmanager
def weekly_instance(*weeks: str) -> Iterator[dg.DagsterInstance]:
    """Yield an ephemeral-storage test instance with ``weeks`` registered, so partitioned runs of them resolve."""
    with dg.instance_for_test() as instance:
        register_weeks(instance, weeks)
        yield instance
