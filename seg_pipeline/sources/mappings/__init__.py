"""Bring your own data: map common SaaS exports onto the landing contracts, configured in one YAML file.

Users rarely have files in our landing shape; they have a Segment/Amplitude/Mixpanel event export, a Salesforce or
HubSpot account export and a Zendesk or Intercom ticket export. :func:`import_exports` turns those into
contract-shaped landing files, so :func:`seg_pipeline.sources.landing.load_week` stays the only place that
validates and quarantines. The importer only translates: names, values, event types, time zones, epochs.

Nothing is lost silently. Every export row is exactly one of

- **written** to a landing file — values that did not map are kept verbatim, so the loader quarantines them with
  its own reason (``out_of_domain:event_type``) and the record shows what the export said;
- **rejected** — the row cannot be placed in any landing file (malformed line, no parseable timestamp); it goes
  to ``import_rejects/<source>.jsonl`` with a reason;
- **skipped** — deliberately not imported (``ignore_events``, ``unmapped_events: skip``, outside ``week_start``).

``SourceReport.reconciled`` checks ``in = written + rejected + skipped``.

Modules: :mod:`.schema` (the mapping file and presets as pydantic models), :mod:`.presets` (the shipped
presets, data files in ``seg_pipeline/sources/presets/``), :mod:`.config` (loading a mapping file),
:mod:`.exports` (reading export files), :mod:`.values` and :mod:`.rows` (export record → contract row),
:mod:`.writer` (landing files) and :mod:`.importer` (:func:`import_exports`).
"""

from seg_pipeline.sources.mappings.config import load_mapping, parse_mapping
from seg_pipeline.sources.mappings.errors import MappingError
from seg_pipeline.sources.mappings.importer import import_exports
from seg_pipeline.sources.mappings.model import MappingConfig, SourceMapping
from seg_pipeline.sources.mappings.presets import presets
from seg_pipeline.sources.mappings.report import ImportReport, SourceReport

__all__ = [
    "ImportReport",
    "MappingConfig",
    "MappingError",
    "SourceMapping",
    "SourceReport",
    "import_exports",
    "load_mapping",
    "parse_mapping",
    "presets",
]
