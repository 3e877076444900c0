"""Export shape B: the files a third-party SaaS export delivers, written from the same simulated company.

Where the default scenario writes contract-shaped landing files, :class:`ExportWriter` writes what real companies
hand over (see ``docs/simulator.md``): static CSV tables for accounts, subscriptions, their events, churn events
and support tickets (each ticket once, as of the export), and daily per-product-feature usage counts keyed by
subscription in one CSV per calendar month. It also plants the faults real exports have — a few usage rows for
subscriptions and tickets for accounts that exist nowhere — and lists them in ``planted_faults.json`` in the truth
directory, so tests can check the pipeline reports them. Pure file writing: no Dagster, no warehouse.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from seg_pipeline.atomic import atomic_write
from seg_pipeline.sources.contracts import TICKET_CATEGORIES, TICKET_PRIORITIES
from seg_pipeline.sources.simulator.accounts import Accounts
from seg_pipeline.sources.simulator.arrays import fixed_ids
from seg_pipeline.sources.simulator.config import US_PER_DAY, SimulationConfig, day_date, days, rng
from seg_pipeline.sources.simulator.export_crm import (
    CrmHistory,
    crm_tables,
    subscription_ids,
    subscription_numbers,
)
from seg_pipeline.sources.simulator.export_usage import EVENT_TYPE_FEATURES, VOCABULARY, DayUsage, day_usage
from seg_pipeline.sources.simulator.tickets import TicketLog

PRIORITY_LABELS = dict(zip(TICKET_PRIORITIES, ("Urgent", "High", "Medium", "Low"), strict=True))
CATEGORY_LABELS = dict(zip(TICKET_CATEGORIES, ("Bug", "Question", "Billing", "Integration", "Performance",
                                                "Feature Request"), strict=True))
GHOST_FIRST = 990_001  # orphan ids use account numbers from here on; real accounts must stay below
GHOSTS = 3
USAGE_COLUMNS = ["usage_date", "subscription_id", "feature_name", "usage_count", "usage_duration_secs"]
TICKET_COLUMNS = ["ticket_id", "account_id", "created_at", "resolved_at", "priority", "category",
                  "satisfaction_score"]
# registry feature that is all zero when the product lacks the event type
CONSTANT_FEATURES = {"invite": ("invites",), "export": ("exports",), "api_call": ("api_calls", "api_share"),
                     "login": ("logins",)}
_VOCABULARY_ARRAY = pa.array(VOCABULARY, type=pa.string())
_NAME_RANK = np.argsort(np.argsort(np.asarray(VOCABULARY)))  # rows sort by feature name within a day and subscription
MANIFEST = ".seg_simulator_export.json"  # files of the last export written here, so a rerun replaces them


@dataclass(frozen=True)
class ExportOptions:
    """How the export differs from the simulated behaviour: event types the product lacks, orphan share."""

    scenario: str
    drop_event_types: frozenset[str] = frozenset()
    orphan_share: float = 0.005


@dataclass
class _Faults:
    """Planted orphan rows: ids used and rows per week."""

    ids: list[str] = field(default_factory=list)
    per_week: dict[str, int] = field(default_factory=dict)

    def add(self, day_numbers: np.ndarray) -> None:
        weeks = day_numbers - (day_numbers + 3) % 7  # epoch day 0 was a Thursday
        for wk, n in zip(*np.unique(weeks, return_counts=True), strict=True):
            key = day_date(int(wk)).isoformat()
            self.per_week[key] = self.per_week.get(key, 0) + int(n)

    def report(self) -> dict[str, object]:
        return {"rows": sum(self.per_week.values()), "ids": sorted(set(self.ids)),
                "per_week": dict(sorted(self.per_week.items()))}


class ExportWriter:
    """Receives the simulation's days and weeks like the landing writer, writes export shape B under ``root``."""

    weekly_tickets = False  # tickets are exported once, as of the end

    def __init__(self, root: Path, config: SimulationConfig, options: ExportOptions) -> None:
        """Write into ``root`` (created); files of an earlier simulator export there are replaced, others kept."""
        if config.accounts * (1 + 0.05 * config.weeks) >= GHOST_FIRST:  # signups add ~1.2 % a week
            raise ValueError(f"too many accounts for the export's id scheme: keep accounts x (1 + weeks / 20) "
                             f"below {GHOST_FIRST}")
        self.root, self.config, self.options = root, config, options
        self.files: dict[str, list[Path]] = {}
        self.counts: dict[str, int] = {}
        self.crm_history = CrmHistory(config.seed)
        self._month: list[DayUsage] = []
        self._orphan_usage, self._orphan_tickets = _Faults(), _Faults()
        _clear_previous_export(root)

    def events(self, day: date, table: pa.Table) -> None:
        """Aggregate one day of events; a month's usage file is written once the month is complete."""
        if self._month and day_date(self._month[0].day).month != day.month:
            self._flush_month()
        gen = rng(self.config.seed, 10, days(day))
        self._month.append(day_usage(gen, day, table, self.options.drop_event_types))

    def tickets(self, week: date, rows: str) -> None:
        """Ignore weekly ticket rows: :meth:`finish` exports each ticket once, as of the end."""

    def crm(self, week: date, frame: pd.DataFrame) -> None:
        """Follow the CRM through the weekly snapshot (subscriptions, their changes, churns)."""
        self.crm_history.observe((days(week) - days(self.config.start)) // 7, week, frame)

    def close(self) -> None:
        """Write the last (partial) month of usage."""
        if self._month:
            self._flush_month()

    def finish(self, acc: Accounts, log: TicketLog, weeks: list[date]) -> dict[str, object]:
        """Write the static tables and the manifest; return the planted faults (for ``planted_faults.json``)."""
        self.close()
        if acc.n and int(acc.num.max()) >= GHOST_FIRST:
            raise ValueError(f"at most {GHOST_FIRST - 1} accounts fit the export's id scheme")
        tables = crm_tables(self.crm_history, acc)
        tables["support_tickets"], before = self._tickets(acc, log, weeks)
        for name, frame in tables.items():
            self._write_csv(name, self.root / f"{name}.csv", frame)
        written = [p.relative_to(self.root).as_posix() for ps in self.files.values() for p in ps]
        atomic_write(self.root / MANIFEST, lambda p: p.write_text(json.dumps(sorted(written)), encoding="utf-8"))
        absent = sorted(EVENT_TYPE_FEATURES[t][0] for t in self.options.drop_event_types)
        return {
            "scenario": self.options.scenario, "first_week": weeks[0].isoformat(), "last_week": weeks[-1].isoformat(),
            "orphan_usage": self._orphan_usage.report(), "orphan_tickets": self._orphan_tickets.report(),
            "absent_product_features": absent,
            "constant_features": sorted(f for t in self.options.drop_event_types for f in CONSTANT_FEATURES[t]),
            "tickets_created_before_first_week": before,
            "product_features": len(VOCABULARY) - len(absent),
        }

    def _write_csv(self, name: str, path: Path, frame: pd.DataFrame) -> None:
        atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.2f", lineterminator="\n"))
        self.files.setdefault(name, []).append(path)
        self.counts[name] = self.counts.get(name, 0) + len(frame)

    def _flush_month(self) -> None:
        """Write ``feature_usage/usage_YYYY-MM.csv`` for the buffered days, plus that month's orphan rows."""
        parts, self._month = self._month, []
        first = day_date(parts[0].day)
        day = np.concatenate([np.full(p.account.size, p.day) for p in parts])
        sub = subscription_numbers(np.concatenate([p.account for p in parts]))
        feat, count, secs = (np.concatenate([getattr(p, c) for p in parts]) for c in ("feature", "count", "duration"))
        gen = rng(self.config.seed, 11, first.year * 12 + first.month)
        k = max(1, round(self.options.orphan_share * day.size)) if day.size else 0
        pick = np.sort(gen.choice(day.size, k, replace=False))
        ghost = GHOST_FIRST + gen.integers(0, GHOSTS, k)
        self._orphan_usage.add(day[pick])
        self._orphan_usage.ids += subscription_ids(ghost)
        day, feat, count, secs = (np.concatenate([a, a[pick]]) for a in (day, feat, count, secs))
        sub = np.concatenate([sub, subscription_numbers(ghost)])
        order = np.lexsort((_NAME_RANK[feat], sub, day))
        table = pa.table({
            "usage_date": pa.array(day[order].astype(np.int32)).cast(pa.date32()),
            "subscription_id": fixed_ids("sub_", sub[order], 6),
            "feature_name": _VOCABULARY_ARRAY.take(pa.array(feat[order])),
            "usage_count": pa.array(count[order]), "usage_duration_secs": pa.array(secs[order]),
        })
        path = self.root / "feature_usage" / f"usage_{first:%Y-%m}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, partial(_write_plain_csv, table))
        self.files.setdefault("feature_usage", []).append(path)
        self.counts["feature_usage"] = self.counts.get("feature_usage", 0) + table.num_rows

    def _tickets(self, acc: Accounts, log: TicketLog, weeks: list[date]) -> tuple[pd.DataFrame, int]:
        """Every ticket the period touched or that was open at its start, as of the export; plus planted orphans."""
        t = log.arrays()
        start_us, end_us = days(weeks[0]) * US_PER_DAY, (days(weeks[-1]) + 7) * US_PER_DAY
        churn_week = acc.churn_week[t["account"] - 1]
        # a churned account's tickets stop changing when it leaves (as in the weekly ticket files)
        cutoff = np.where(churn_week >= 0, (days(weeks[0]) + 7 * (churn_week + 1)) * US_PER_DAY, end_us)
        last = np.minimum(cutoff, end_us)
        resolved = np.where((t["resolved"] >= 0) & (t["resolved"] < last), t["resolved"], -1)
        closed = np.where((t["closed"] >= 0) & (t["closed"] < last), t["closed"], -1)
        # the period's tickets, those still open at its start, and those it closed (as the weekly files show them)
        keep = (t["created"] < end_us) & ((t["created"] >= start_us) | (resolved < 0) | (resolved >= start_us)
                                          | (closed >= start_us))
        idx = np.flatnonzero(keep)
        idx = idx[np.lexsort((t["num"][idx], t["created"][idx]))]
        before = int((t["created"][idx] < start_us).sum())
        in_period = idx[t["created"][idx] >= start_us]
        gen = rng(self.config.seed, 13)
        k = max(1, round(self.options.orphan_share * idx.size)) if in_period.size else 0
        pick = np.sort(gen.choice(in_period, k, replace=False)) if k else in_period[:0]
        ghost = GHOST_FIRST + gen.integers(0, GHOSTS, k)
        frame = pd.concat([
            _ticket_frame(t, idx, t["num"][idx], acc.num[t["account"][idx] - 1], resolved),
            _ticket_frame(t, pick, log.next_number + np.arange(k), ghost, resolved),
        ], ignore_index=True)
        self._orphan_tickets.add(t["created"][pick] // US_PER_DAY)
        self._orphan_tickets.ids += [f"acc_{g:06d}" for g in ghost.tolist()]
        return frame.sort_values(["created_at", "ticket_id"], kind="stable"), before


def _ticket_frame(t: dict[str, np.ndarray], idx: np.ndarray, numbers: np.ndarray, account_numbers: np.ndarray,
                  resolved: np.ndarray) -> pd.DataFrame:
    """Ticket rows in export shape: ISO-8601 ``Z`` timestamps, label priorities and categories, 1-5 or empty."""
    res = resolved[idx]
    csat = pd.array(t["csat"][idx], dtype="Int64")
    csat[(res < 0) | (t["csat"][idx] <= 0)] = pd.NA
    return pd.DataFrame({
        "ticket_id": [f"tkt_{n:07d}" for n in numbers.tolist()],
        "account_id": [f"acc_{n:06d}" for n in account_numbers.tolist()],
        "created_at": _iso_z(t["created"][idx]),
        "resolved_at": np.where(res >= 0, _iso_z(np.maximum(res, 0)), ""),
        "priority": [PRIORITY_LABELS[TICKET_PRIORITIES[p]] for p in t["priority"][idx].tolist()],
        "category": [CATEGORY_LABELS[TICKET_CATEGORIES[c]] for c in t["category"][idx].tolist()],
        "satisfaction_score": csat,
    })[TICKET_COLUMNS]


def _write_plain_csv(table: pa.Table, path: Path) -> None:
    """CSV without quotes (Arrow refuses values that would need them), header included: fast for millions of rows."""
    with path.open("wb") as out:
        out.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))


def _iso_z(us: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="s"), "Z").astype(object)


def _clear_previous_export(root: Path) -> None:
    """Remove the files a previous simulator export listed in its manifest (a shorter rerun leaves no stale month)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / MANIFEST
    if not manifest.exists():
        return
    for rel in json.loads(manifest.read_text(encoding="utf-8")):
        path = (root / rel).resolve()
        if path.is_relative_to(root.resolve()):
            path.unlink(missing_ok=True)
    manifest.unlink()


def write_faults(truth_dir: Path, faults: dict[str, object]) -> Path:
    """``planted_faults.json`` in the truth directory (evaluation only, never read by the pipeline)."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(faults, indent=2, sort_keys=True) + "\n"
    return atomic_write(truth_dir / "planted_faults.json", lambda p: p.write_text(text, encoding="utf-8"))

