"""What a stage's ``run_week`` returns, in plain Python: the wiring turns it into Dagster events.

Stages stay Dagster-free (unit-testable without an instance) yet say everything the UI shows: metadata with a
hint of how to render it, and the outcome of each data-quality check. A failed check may carry an
:class:`EngineerAlert`; the sinks stage sends it (the stage that found the problem only describes it).
"""

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


class Markdown(str):
    """Metadata text to render as Markdown (tables, lists)."""


@dataclass(frozen=True)
class Json:
    """Metadata value to render as JSON."""

    value: Any


@dataclass(frozen=True)
class Columns:
    """A table's columns as ``(name, type)`` pairs (the UI's column schema)."""

    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EngineerAlert:
    """One message to the data engineers about a week that a blocking check stopped."""

    week_start: date
    reason: str  # stable word, part of the message id: at most one alert per week and reason
    subject: str
    body: str


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one data-quality check on the week's output."""

    name: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    error: bool = True  # severity ERROR (Dagster's default); False = WARN
    alert: EngineerAlert | None = None  # sent by the sinks stage when the check failed


@dataclass
class StageResult:
    """A stage's week: metadata for the materialization and its checks' outcomes."""

    metadata: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)

    def check(self, name: str) -> CheckOutcome:
        """Return the outcome of check ``name`` (KeyError when the stage did not evaluate it)."""
        for outcome in self.checks:
            if outcome.name == name:
                return outcome
        raise KeyError(name)


MetadataValue = str | int | float | bool | None | Markdown | Json | Columns | Path
