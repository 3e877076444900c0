"""What an import did, per source: counts that reconcile (in = written + rejected + skipped), reasons, files."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


@dataclass
class SourceReport:
    """One source's import: counts that reconcile, reasons, and what was written where."""

    source: str
    files_read: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    rows_in: int = 0
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # rejected + skipped rows by reason
    coerced: Counter[str] = field(default_factory=Counter)  # written rows changed on purpose (nulling, defaults)
    unmapped: dict[str, Counter[str]] = field(default_factory=dict)  # column -> verbatim value -> rows
    weeks: set[date] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    # export file -> {"in", "written", "rejected", "skipped"}: globs over several files are reported per file
    per_file: dict[str, Counter[str]] = field(default_factory=dict)
    # rows in the landing files; differs from `written` when a row expands (a ticket's open + solved rows) or
    # repeats (a CRM account in every weekly snapshot it belongs to)
    rows_out: int = 0
    feature_kinds: dict[str, set[str]] = field(default_factory=dict)  # product_usage: event_type -> names

    @property
    def reconciled(self) -> bool:
        """``in = written + rejected + skipped``, in total and per file: the import's no-silent-loss invariant."""
        files_ok = all(c["in"] == c["written"] + c["rejected"] + c["skipped"] for c in self.per_file.values())
        return files_ok and self.rows_in == self.written + self.rejected + self.skipped

    def count(self, file: str, outcome: str, reason: str | None = None, n: int = 1) -> None:
        """Count ``n`` rows of ``file`` as ``in`` and ``outcome`` (written, rejected, skipped), with the reason."""
        tally = self.per_file.setdefault(file, Counter())
        tally["in"] += n
        tally[outcome] += n
        self.rows_in += n
        if outcome == "written":
            self.written += n
        elif outcome == "rejected":
            self.rejected += n
        else:
            self.skipped += n
        if reason is not None:
            self.reasons[reason] += n


@dataclass
class ImportReport:
    """Everything :func:`import_exports` did, for the CLI and for asset metadata."""

    sources: dict[str, SourceReport]
    landing_dir: Path

    @property
    def reconciled(self) -> bool:
        """Tell whether every source's import accounts for all of its rows (no silent loss)."""
        return all(r.reconciled for r in self.sources.values())

    @property
    def weeks(self) -> list[date]:
        """Weeks that received landing files: the partitions to (re)materialize."""
        return sorted(set().union(*(r.weeks for r in self.sources.values())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``seg import --json`` and asset metadata."""
        return {
            "landing_dir": str(self.landing_dir),
            "reconciled": self.reconciled,
            "weeks": [w.isoformat() for w in self.weeks],
            "sources": {
                name: {
                    "files_read": r.files_read, "files_written": r.files_written, "rejects_file": r.rejects_file,
                    "rows_in": r.rows_in, "written": r.written, "rejected": r.rejected, "skipped": r.skipped,
                    "reasons": dict(sorted(r.reasons.items())), "coerced": dict(sorted(r.coerced.items())),
                    "warnings": r.warnings, "rows_out": r.rows_out,
                    "per_file": {f: dict(c) for f, c in r.per_file.items()},
                    "feature_kinds": {k: sorted(v) for k, v in sorted(r.feature_kinds.items())},
                }
                for name, r in self.sources.items()
            },
        }

    def summary(self) -> str:
        """Human-readable lines for ``seg import``."""
        lines = []
        for r in self.sources.values():
            lines.append(f"{r.source}: {r.rows_in} in = {r.written} written + {r.rejected} rejected + "
                         f"{r.skipped} skipped ({len(r.files_read)} file(s) read, {len(r.files_written)} written)")
            if r.rows_out != r.written:
                lines.append(f"  {r.rows_out} landing row(s) written from them")
            if len(r.per_file) > 1:
                lines += [f"  {f}: {c['in']} in = {c['written']} + {c['rejected']} + {c['skipped']}"
                          for f, c in r.per_file.items()]
            lines += [f"  {reason}: {n}" for reason, n in sorted(r.reasons.items())]
            if r.feature_kinds:
                lines.append("  feature names per event_type: " + ", ".join(
                    f"{kind} {len(names)}" for kind, names in sorted(r.feature_kinds.items())))
            lines += [f"  coerced {what}: {n}" for what, n in sorted(r.coerced.items())]
            lines += [f"  warning: {w}" for w in r.warnings]
            if r.rejects_file:
                lines.append(f"  rejected rows and their reasons: {self.landing_dir / r.rejects_file}")
        weeks = self.weeks
        if len(weeks) > 6:
            lines.append(f"weeks: {len(weeks)} from {weeks[0]} to {weeks[-1]}")
        elif weeks:
            lines.append("weeks: " + ", ".join(w.isoformat() for w in weeks))
        return "\n".join(lines)
