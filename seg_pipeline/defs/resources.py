"""The one resource every asset uses: where SEG_HOME is and how the pipeline is configured."""

import dagster as dg

from seg_pipeline.settings import Settings


class SegResource(dg.ConfigurableResource):
    """Settings from ``SEG_*`` variables at run time; ``home`` overrides SEG_HOME (tests use a tmp dir)."""

    home: str | None = None

    def settings(self) -> Settings:
        settings = Settings.from_env()
        if self.home:
            from pathlib import Path

            settings = settings.with_home(Path(self.home))
        settings.ensure_home()
        return settings
