"""Time complete weekly Dagster runs at several company sizes: per-stage wall time, peak RSS, rows/s, growth.

For each ``--accounts`` size the simulator runs once (``seg simulate`` in a child; the landing files are cached
under ``--cache`` and reused by later invocations), then every week runs as ``seg run <week>`` in its own child
process, exactly as an engineer would start it: the real weekly job on a fresh SEG_HOME's Dagster instance. The
first ``--warmup`` weeks (no champion yet, no drift reference) are run but not reported; the next ``--weeks`` are,
as medians.

How each figure is measured:
- stage wall seconds: STEP_START -> STEP_SUCCESS/FAILURE in the run's Dagster event log;
- peak RSS: a sampler thread in this process reads the run process's ``VmHWM`` every ``--sample-interval``
  seconds and resets it (``/proc/<pid>/clear_refs``), so each sample is the exact peak of its interval; child
  processes (psutil, the whole tree) are sampled the same way. A stage's peak is the largest sample whose
  interval overlaps the stage;
- rows: the stage's ``rows_in`` (raw: rows read), ``dagster/row_count`` or ``accounts`` metadata; stages that
  report none are given the week's account count (their input), marked ``*``;
- growth exponent: log-log slope of a stage's seconds against the week's landed rows between consecutive sizes
  (1 = linear);
- orchestration overhead: the run's wall time (RUN_START -> RUN_SUCCESS/FAILURE) minus the sum of its steps;
  "outside the run" is the rest of the ``seg run`` process (imports, definitions, instance, summary).

Measures, never asserts. The machine may be shared: the load average during the runs is printed with the figures.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_weekly.py --accounts 100000 300000 --weeks 2 \
        --cache /tmp/seg-bench-weekly --json /tmp/bench_weekly.json
"""

import argparse
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "seg-bench-weekly"
ROW_KEYS = ("rows_in", "dagster/row_count", "accounts", "n_accounts")  # first one present = the stage's rows
ACCOUNTS_STEP = "features__account_features"  # its row count = the week's accounts, input of row-less stages
MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """Peak RSS of the run process and of its descendants during (previous sample, ``t``]; 1-min load then."""

    t: float
    root_bytes: int
    children_bytes: int
    load1: float


@dataclass
class Step:
    """One step of a run, from the event log."""

    key: str
    start: float
    end: float
    ok: bool
    rows: int | None = None
    rows_from_input: bool = False


@dataclass
class RunLog:
    """What a run's event log says about timing: its span and its steps in start order."""

    run_id: str
    state: str
    start: float
    end: float
    steps: list[Step] = field(default_factory=list)

    @property
    def landed_rows(self) -> int:
        """Rows read from the landing zone this week (every raw source's ``rows_in``)."""
        return sum(s.rows or 0 for s in self.steps if s.key.startswith("raw__") and not s.rows_from_input)


# ---------------------------------------------------------------- pure logic (unit-tested without Dagster)


def parse_events(events: Iterable[tuple[float, str, str | None, dict[str, Any]]]) -> tuple[float, float, list[Step]]:
    """Run span and steps from ``(timestamp, event type, step key, numeric metadata)`` tuples of one run."""
    start = end = math.nan
    steps: dict[str, Step] = {}
    for ts, kind, key, meta in events:
        if kind in ("RUN_START", "PIPELINE_START"):
            start = ts
        elif kind in ("RUN_SUCCESS", "PIPELINE_SUCCESS", "RUN_FAILURE", "PIPELINE_FAILURE", "RUN_CANCELED"):
            end = ts
        elif key is None:
            continue
        elif kind == "STEP_START":
            steps[key] = Step(key, ts, math.nan, False)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and key in steps:
            steps[key].end, steps[key].ok = ts, kind == "STEP_SUCCESS"
        elif kind == "ASSET_MATERIALIZATION" and key in steps and steps[key].rows is None:
            steps[key].rows = next((int(meta[k]) for k in ROW_KEYS if k in meta), None)
    done = [s for s in steps.values() if not math.isnan(s.end)]
    accounts = next((s.rows for s in done if s.key == ACCOUNTS_STEP), None)
    for s in done:
        if s.rows is None and accounts is not None:
            s.rows, s.rows_from_input = accounts, True
    return start, end, sorted(done, key=lambda s: s.start)


def peak_in(samples: Sequence[Sample], start: float, end: float) -> tuple[int, int]:
    """Largest run-process and children peaks among the samples whose interval overlaps ``[start, end]``."""
    root = kids = 0
    prev = -math.inf
    for s in samples:
        if s.t >= start and prev <= end:
            root, kids = max(root, s.root_bytes), max(kids, s.children_bytes)
        prev = s.t
    return root, kids


def run_figures(log: RunLog, samples: Sequence[Sample], process_seconds: float) -> dict[str, Any]:
    """Per-stage and whole-run figures of one week's run."""
    stages = []
    for s in log.steps:
        root, kids = peak_in(samples, s.start, s.end)
        stages.append(
            {
                "stage": s.key,
                "seconds": s.end - s.start,
                "ok": s.ok,
                "rows": s.rows,
                "rows_from_input": s.rows_from_input,
                "rss_mb": root / MB,
                "child_rss_mb": kids / MB,
            }
        )
    step_sum = sum(st["seconds"] for st in stages)
    run_wall = log.end - log.start
    loads = [s.load1 for s in samples] or [os.getloadavg()[0]]
    return {
        "run_id": log.run_id,
        "state": log.state,
        "landed_rows": log.landed_rows,
        "process_seconds": process_seconds,
        "run_seconds": run_wall,
        "steps_seconds": step_sum,
        "overhead_seconds": run_wall - step_sum,
        "outside_run_seconds": process_seconds - run_wall,
        "peak_rss_mb": max((s.root_bytes for s in samples), default=0) / MB,
        "peak_child_rss_mb": max((s.children_bytes for s in samples), default=0) / MB,
        "load_min": min(loads),
        "load_median": statistics.median(loads),
        "load_max": max(loads),
        "stages": stages,
    }


def median_stages(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage (first run's order), the median of every figure over the runs in which the stage ran."""
    order: list[str] = []
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for st in run["stages"]:
            if st["stage"] not in by_stage:
                order.append(st["stage"])
            by_stage.setdefault(st["stage"], []).append(st)
    out = []
    for name in order:
        got = by_stage[name]
        rows = [g["rows"] for g in got if g["rows"] is not None]
        secs = statistics.median(g["seconds"] for g in got)
        row = int(statistics.median(rows)) if rows else None
        out.append(
            {
                "stage": name,
                "runs": len(got),
                "seconds": secs,
                "rss_mb": statistics.median(g["rss_mb"] for g in got),
                "child_rss_mb": statistics.median(g["child_rss_mb"] for g in got),
                "rows": row,
                "rows_from_input": got[0]["rows_from_input"],
                "rows_per_s": row / secs if row is not None and secs > 0 else None,
            }
        )
    return out


def growth_exponents(sizes: Sequence[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Per stage (plus ``run`` and ``process``): log-log slope of seconds vs landed rows between consecutive sizes."""
    ordered = sorted(sizes, key=lambda s: s["landed_rows"])
    names = ["run", "process"] + [st["stage"] for st in ordered[0]["stages"]] if ordered else []
    out: dict[str, list[float | None]] = {}
    for name in names:
        slopes: list[float | None] = []
        for a, b in itertools.pairwise(ordered):
            ta, tb = _seconds(a, name), _seconds(b, name)
            ok = ta and tb and a["landed_rows"] > 0 and b["landed_rows"] > a["landed_rows"]
            slopes.append(math.log(tb / ta) / math.log(b["landed_rows"] / a["landed_rows"]) if ok else None)
        out[name] = slopes
    return out


def _seconds(size: dict[str, Any], name: str) -> float | None:
    if name in ("run", "process"):
        return size[f"{name}_seconds"]
    return next((st["seconds"] for st in size["stages"] if st["stage"] == name), None)


def summarise_size(accounts: int, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One size's medians over its timed runs."""

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "accounts": accounts,
        "weeks_timed": len(runs),
        "states": [r["state"] for r in runs],
        "landed_rows": int(med("landed_rows")),
        "run_seconds": med("run_seconds"),
        "steps_seconds": med("steps_seconds"),
        "overhead_seconds": med("overhead_seconds"),
        "process_seconds": med("process_seconds"),
        "outside_run_seconds": med("outside_run_seconds"),
        "peak_rss_mb": med("peak_rss_mb"),
        "peak_child_rss_mb": med("peak_child_rss_mb"),
        "load_min": min(r["load_min"] for r in runs),
        "load_median": med("load_median"),
        "load_max": max(r["load_max"] for r in runs),
        "stages": median_stages(runs),
        "runs": list(runs),
    }


def stage_table(
    size: dict[str, Any], exponents: dict[str, list[float | None]] | None = None, index: int | None = None
) -> str:
    """Format one size's per-stage table (Markdown), with the growth exponent from the previous size if given."""
    head = "| stage | wall s | run RSS MB | child RSS MB | rows | rows/s | growth |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for st in size["stages"]:
        slope = None
        if exponents is not None and index:
            slope = exponents.get(st["stage"], [None] * index)[index - 1]
        rows = "n/a" if st["rows"] is None else f"{st['rows']:,}{'*' if st['rows_from_input'] else ''}"
        rate = "n/a" if st["rows_per_s"] is None else f"{st['rows_per_s']:,.0f}"
        lines.append(
            f"| {st['stage']} | {st['seconds']:.2f} | {st['rss_mb']:,.0f} | {st['child_rss_mb']:,.0f} "
            f"| {rows} | {rate} | {'' if slope is None else f'{slope:.2f}'} |"
        )
    share = size["overhead_seconds"] / size["run_seconds"] if size["run_seconds"] else math.nan
    lines.append(
        f"\nrun {size['run_seconds']:.1f} s = steps {size['steps_seconds']:.1f} s + orchestration overhead "
        f"{size['overhead_seconds']:.1f} s ({share:.0%}); `seg run` process {size['process_seconds']:.1f} s "
        f"({size['outside_run_seconds']:.1f} s outside the run); peak RSS {size['peak_rss_mb']:,.0f} MB "
        f"(children {size['peak_child_rss_mb']:,.0f} MB); {size['landed_rows']:,} landed rows; weeks "
        f"{', '.join(size['states'])}; load average {size['load_min']:.1f}-{size['load_max']:.1f} "
        f"(median {size['load_median']:.1f})"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- measuring (child processes, sampler)


class TreeSampler(threading.Thread):
    """Sample the peak RSS of a process and its descendants until stopped (see the module docstring)."""

    def __init__(self, pid: int, interval: float) -> None:  # noqa: D107 - the class docstring says it
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop` or until the process is gone."""
        import psutil

        while not self._stop_event.is_set():
            try:
                root = psutil.Process(self.pid)
                kids = root.children(recursive=True)
            except psutil.Error:
                break
            self.samples.append(
                Sample(
                    time.time(), _interval_peak(self.pid), sum(_interval_peak(k.pid) for k in kids), os.getloadavg()[0]
                )
            )
            self._stop_event.wait(self.interval)

    def stop(self) -> list[Sample]:
        """Stop sampling and return the samples."""
        self._stop_event.set()
        self.join()
        return self.samples


def _interval_peak(pid: int) -> int:
    """``VmHWM`` of ``pid`` in bytes, then reset it to the current RSS, so the next read covers only what follows."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        peak = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except (OSError, StopIteration):  # the process just exited, or the kernel hides it: nothing to add
        return 0
    return peak


def _seg(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "seg_pipeline.cli", "--home", str(home), *args]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SEG_HOME": str(home)}


def simulate_cached(cache: Path, accounts: int, weeks: int, seed: int, *, skip: bool) -> dict[str, Any]:
    """Simulate into ``cache/<accounts>x<weeks>-s<seed>`` with ``seg simulate`` unless done before; its figures."""
    home = cache / f"{accounts}x{weeks}-s{seed}"
    done = home / "simulated.json"
    if done.exists():
        return {**json.loads(done.read_text()), "home": str(home), "cached": True}
    if skip:
        raise SystemExit(f"--skip-simulate: no simulated landing files in {home}; run once without it")
    if home.exists():
        shutil.rmtree(home)  # an interrupted simulation: start over
    home.mkdir(parents=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with (home / "simulate.log").open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 - this venv's own CLI with fixed arguments
            _seg(home, "simulate", "--accounts", str(accounts), "--weeks", str(weeks), "--seed", str(seed)),
            env=_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"seg simulate failed for {accounts} accounts (status {status}); see {home}/simulate.log")
    figures = {
        "accounts": accounts,
        "weeks": weeks,
        "seed": seed,
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "load_at_start": load,
    }
    done.write_text(json.dumps(figures, indent=2))
    return {**figures, "home": str(home), "cached": False}


def link_landing(source: Path, home: Path) -> None:
    """Give a fresh run home the cached landing files (hard links; copies across file systems)."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = home / "landing" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def run_week(home: Path, week: str, interval: float) -> dict[str, Any]:
    """``seg run <week>`` in a child process under the sampler; its figures read back from the event log."""
    t0 = time.perf_counter()
    with (home / f"run_{week}.log").open("w") as log:
        cmd = _seg(home, "run", week)
        proc = subprocess.Popen(cmd, env=_env(home), stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our CLI
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        proc.wait()
        samples = sampler.stop()
    seconds = time.perf_counter() - t0
    return run_figures(read_run(home, week, seconds), samples, seconds)


def read_run(home: Path, week: str, seconds: float) -> RunLog:
    """Read the weekly job's latest run of ``week`` from ``home``'s Dagster instance."""
    import dagster as dg

    from seg_pipeline.run_guard import open_instance
    from seg_pipeline.week_runs import WEEKLY_JOB_NAME, summarise_run

    with open_instance(home) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name=WEEKLY_JOB_NAME, tags={"dagster/partition": week}), limit=1)
        if not runs:
            raise SystemExit(f"week {week}: `seg run` made no {WEEKLY_JOB_NAME} run; see {home}/run_{week}.log")
        run_id = runs[0].run_id
        events = []
        for entry in instance.all_logs(run_id):
            ev = entry.dagster_event
            if ev is None:
                continue
            meta: dict[str, Any] = {}
            if ev.is_step_materialization:
                meta = {
                    k: v.value
                    for k, v in ev.step_materialization_data.materialization.metadata.items()
                    if isinstance(v.value, int | float) and not isinstance(v.value, bool)
                }
            events.append((entry.timestamp, ev.event_type_value, ev.step_key, meta))
        state = summarise_run(instance, run_id, week, seconds).state
    start, end, steps = parse_events(events)
    return RunLog(run_id, state, start, end, steps)


def measure_size(accounts: int, args: argparse.Namespace) -> dict[str, Any]:
    """Simulate (or reuse) one size, run its warm-up and timed weeks in a fresh home, return its medians."""
    from seg_pipeline.week_calendar import landed_weeks

    sim = simulate_cached(args.cache, accounts, args.warmup + args.weeks, args.seed, skip=args.skip_simulate)
    print(
        f"{accounts:,} accounts: simulation {'reused from' if sim['cached'] else 'written to'} {sim['home']} "
        f"({sim['seconds']:.0f} s, peak {sim['peak_rss_mb']:,.0f} MB, load {sim['load_at_start']:.1f} at start)",
        flush=True,
    )
    home = args.cache / "runs" / f"{accounts}-{time.strftime('%Y%m%dT%H%M%S')}"
    home.mkdir(parents=True)
    link_landing(Path(sim["home"]) / "landing", home)
    weeks = landed_weeks(home / "landing").keys[: args.warmup + args.weeks]
    timed = []
    try:
        for i, week in enumerate(weeks):
            fig = run_week(home, week, args.sample_interval)
            kind = "warm-up" if i < args.warmup else "timed"
            print(
                f"  week {week} ({kind}): {fig['state']}, process {fig['process_seconds']:.1f} s, run "
                f"{fig['run_seconds']:.1f} s, peak {fig['peak_rss_mb']:,.0f} MB, load "
                f"{fig['load_min']:.1f}-{fig['load_max']:.1f}",
                flush=True,
            )
            if i >= args.warmup:
                timed.append({**fig, "week": week})
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    if not timed:
        raise SystemExit(f"{accounts:,} accounts: no timed week (the simulation has {len(weeks)} weeks)")
    return {**summarise_size(accounts, timed), "simulation": sim, "home": str(home) if args.keep else None}


def report(sizes: list[dict[str, Any]]) -> str:
    """Every size's stage table, then the growth exponents between sizes."""
    exps = growth_exponents(sizes)
    ordered = sorted(sizes, key=lambda s: s["landed_rows"])
    parts = []
    for i, size in enumerate(ordered):
        parts.append(
            f"\n### {size['accounts']:,} accounts ({size['landed_rows']:,} landed rows a week, median "
            f"of {size['weeks_timed']} week(s))\n"
        )
        parts.append(stage_table(size, exps, i))
    if len(ordered) > 1:
        pairs = [f"{a['accounts']:,}->{b['accounts']:,}" for a, b in itertools.pairwise(ordered)]
        parts.append("\n### growth exponents (log-log slope of seconds vs the week's landed rows; 1 = linear)\n")
        parts.append("| stage | " + " | ".join(pairs) + " |")
        parts.append("|---|" + "---|" * len(pairs))
        for name, slopes in exps.items():
            parts.append(f"| {name} | " + " | ".join("n/a" if s is None else f"{s:.2f}" for s in slopes) + " |")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Measure every size, print the tables (and write ``--json``); returns the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--accounts",
        type=int,
        nargs="*",
        default=list(DEFAULT_SIZES),
        help="company sizes to measure (none with --merge: only print the merged files)",
    )
    p.add_argument("--weeks", type=int, default=3, help="weekly runs timed after the warm-up (medians)")
    p.add_argument("--warmup", type=int, default=1, help="weeks run first and not reported")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="simulated landing files, reused; run homes")
    p.add_argument("--skip-simulate", action="store_true", help="fail instead of simulating a size not in --cache")
    p.add_argument("--sample-interval", type=float, default=0.1, help="seconds between RSS samples")
    p.add_argument("--keep", action="store_true", help="keep the run homes under --cache/runs")
    p.add_argument("--json", type=Path, help="write every figure (each run's too) here, after each size")
    p.add_argument(
        "--merge",
        type=Path,
        nargs="*",
        default=[],
        help="--json files of earlier invocations: their sizes join the tables and growth exponents",
    )
    args = p.parse_args(argv)
    if args.weeks < 1 or args.warmup < 0:
        p.error("--weeks must be >= 1 and --warmup >= 0")
    args.cache = args.cache.resolve()
    print(
        f"seg_pipeline weekly-run benchmark: sizes {', '.join(f'{n:,}' for n in args.accounts)}; {args.warmup} "
        f"warm-up + {args.weeks} timed week(s) each; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; cache {args.cache}",
        flush=True,
    )
    sizes = [size for path in args.merge for size in json.loads(path.read_text())["sizes"]]
    for n in args.accounts:
        sizes = [s for s in sizes if s["accounts"] != n] + [measure_size(n, args)]
        if args.json:  # after each size, so a later size that runs out of time or memory loses nothing
            args.json.write_text(
                json.dumps(
                    {
                        "sizes": sizes,
                        "growth_exponents": growth_exponents(sizes),
                        "argv": list(argv if argv is not None else sys.argv[1:]),
                    },
                    indent=2,
                    default=str,
                )
            )
    print(report(sizes))
    return sizes


if __name__ == "__main__":
    main()
