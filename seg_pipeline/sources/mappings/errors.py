"""The one error of ``seg import``: a mapping file, a preset or an export is unusable as configured."""


class MappingError(ValueError):
    """A mapping file or an export is unusable as configured; the message names the file and the key."""
