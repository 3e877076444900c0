"""The shipped presets: data files in ``seg_pipeline/sources/presets/``, validated like a user's mapping file.

``<name>.yaml`` is the preset ``<name>``; ``_common_event_types.yaml`` holds the event names most tracking plans
share, merged into the presets that set ``common_event_types: true``. Adding a tool is adding a file.
"""

from functools import cache
from pathlib import Path

from seg_pipeline.sources.mappings.schema import CommonEventTypes, Preset, read_yaml, validate_document

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
COMMON_EVENT_TYPES = "_common_event_types.yaml"


def preset_files() -> list[Path]:
    """Every shipped preset file, by name."""
    return sorted(p for p in PRESET_DIR.glob("*.yaml") if not p.name.startswith("_"))


def load_preset(path: Path) -> Preset:
    """One preset file, validated (a :class:`MappingError` names the file and the key), common events merged."""
    preset = validate_document(Preset, read_yaml(path), str(path))
    if not preset.common_event_types:
        return preset
    common = validate_document(CommonEventTypes, read_yaml(PRESET_DIR / COMMON_EVENT_TYPES),
                               str(PRESET_DIR / COMMON_EVENT_TYPES))
    return preset.model_copy(update={"event_types": {**common.event_types, **preset.event_types}})


@cache
def presets() -> dict[str, Preset]:
    """Every shipped preset by name, read once per process."""
    return {path.stem: load_preset(path) for path in preset_files()}
