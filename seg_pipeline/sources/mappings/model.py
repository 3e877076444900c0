"""A validated mapping: what the importer needs per source, with the preset already merged in."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SourceMapping:
    """How one export becomes one landing source; the preset is already merged in."""

    source: str
    input: str
    preset: str | None = None
    format: str | None = None  # csv | json | jsonl; None = from the file extension
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    time_zone: str = "UTC"
    ignore_events: frozenset[str] = frozenset()
    unmapped_events: str = "keep"


@dataclass(frozen=True)
class MappingConfig:
    """A validated mapping file: one :class:`SourceMapping` per configured source."""

    sources: Mapping[str, SourceMapping]
    path: Path | None = None
