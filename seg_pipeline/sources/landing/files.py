"""Which landing files make one week of a source, and the guard that keeps them inside the landing directory."""

from datetime import date, timedelta
from pathlib import Path

from seg_pipeline.sources.contracts import ContractError, get_contract
from seg_pipeline.weeks import parse_week


def landing_root(landing_dir: Path) -> Path:
    """Resolve the landing directory, so every file path can be checked to stay inside it."""
    return Path(landing_dir).resolve()


def week_files(source: str, landing_dir: Path, week_start: date | str) -> list[Path]:
    """List the existing files of ``source`` that belong to the week (events: up to 7 day files; others: one).

    Paths are built only from the contract and a validated Monday, and every path must resolve inside the
    landing directory: a symlink pointing elsewhere, or a non-regular file, raises :class:`ContractError`.
    """
    contract = get_contract(source)
    week_start = parse_week(week_start)
    root = landing_root(landing_dir)
    days = [week_start + timedelta(days=i) for i in range(7)] if contract.cadence == "day" else [week_start]
    out: list[Path] = []
    for day in days:
        rel = contract.file_name(day)
        candidate = root / rel
        if not candidate.exists() and not candidate.is_symlink():
            continue
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise ContractError(f"{rel}: path resolves outside the landing directory ({resolved}); refusing it")
        if not resolved.is_file():
            raise ContractError(f"{rel}: not a regular file")
        out.append(candidate)
    return out
