"""Reading a mapping file (``SEG_MAPPINGS``) into a :class:`MappingConfig`."""

from pathlib import Path

from seg_pipeline.sources.mappings.model import MappingConfig
from seg_pipeline.sources.mappings.presets import presets
from seg_pipeline.sources.mappings.schema import MappingFile, read_yaml, validate_document


def load_mapping(path: Path | str) -> MappingConfig:
    """Read and validate a mapping YAML file; errors name the file and the offending key."""
    path = Path(path)
    return parse_mapping(read_yaml(path), origin=str(path), path=path)


def parse_mapping(doc: object, *, origin: str = "<mapping>", path: Path | None = None) -> MappingConfig:
    """Validate an already-parsed mapping document (what :func:`load_mapping` does after YAML)."""
    catalog = presets()
    parsed = validate_document(MappingFile, doc, origin, context={"presets": catalog})
    sections = parsed.sections()
    order = [name for name in doc if name in sections] if isinstance(doc, dict) else list(sections)  # as written
    sources = {}
    for name in order:
        spec = sections[name]
        sources[name] = spec.resolve(None if spec.preset is None else catalog[spec.preset])
    return MappingConfig(sources=sources, path=path, lookups=parsed.lookup_tables())
