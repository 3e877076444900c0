r"""Measure segmentation at scale: weekly training + assignment, the hybrid at 1M rows, and why not global DBSCAN.

Every measured stage runs in its own child process, so the peak RSS reported (``os.wait4`` rusage) is that
stage's alone; the input features are generated once per size into Parquet by a separate child. Figures are
printed (and optionally written as JSON), never asserted: the machine is shared, so the 1-minute load average
is printed next to every figure.

- ``train`` / ``assign``: :func:`train_week` (k selection included, default ``TrainConfig`` over the 19 registry
  features plus correlated extra columns up to ``--features``) and ``SegmentationModel.assign`` on
  ``--accounts`` rows, median of ``--repeat`` runs; ARI against the planted personas.
- ``hybrid``: ``HybridSegmenter.fit`` (train_week's parameters) on ``--hybrid-accounts`` rows and on every
  ``--global-accounts`` size; ``--train-1m`` also runs the whole ``train_week`` at ``--hybrid-accounts``.
- ``refuse``: ``DBSCANSegmenter(max_rows=None)`` at ``--hybrid-accounts``: its memory guard refuses with an
  estimate (message and bytes reported) instead of fitting.
- ``global``: plain ``sklearn.cluster.DBSCAN`` (eps at the k-distance knee, min_samples = 2 x features) on the
  ``--global-accounts`` sizes under ``RLIMIT_AS`` = ``--global-mem-gib`` and a ``--global-timeout``; an OOM or
  timeout is reported as such.

    .venv/bin/python benchmarks/bench_segmentation.py --accounts 100000 --features 25 --repeat 3 \
        --hybrid-accounts 1000000 --json /tmp/bench_segmentation.json
"""

import argparse
import contextlib
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WEEK = date(2026, 1, 5)
GIB = 1024**3
MIB = 1024**2
# pairs of registry features the extra columns are built from (log1p on counts), so they carry persona signal
EXTRA_SOURCES = (
    ("weekly_active_users", "active_days"),
    ("feature_breadth", "key_feature_adoption"),
    ("tickets_opened", "p1_tickets_4w"),
    ("seats", "mrr"),
    ("wau_trend", "tenure_weeks"),
    ("csat_avg", "median_resolution_hours"),
    ("exports", "invites"),
    ("seat_utilisation", "open_backlog"),
)


# ---------------------------------------------------------------------------------------------- child side
def make_features(n: int, n_features: int, seed: int) -> tuple[Any, Any, tuple[str, ...]]:
    """Synthetic account features with planted personas, widened to ``n_features`` numeric columns.

    The registry's default clustering set has 19 numeric columns; the rest are noisy linear mixes of two
    standardized registry features each (as real derived features are), so they neither add nor erase structure.
    """
    import numpy as np

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from seg_pipeline.segmentation.train import TrainConfig
    from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

    frame, persona = make_accounts(n, seed=seed)
    base = tuple(TrainConfig().features)
    if n_features < len(base):
        raise SystemExit(f"--features must be >= {len(base)} (the registry default), got {n_features}")
    rng = np.random.default_rng(seed + 1)
    extra = []
    for i in range(n_features - len(base)):
        a, b = EXTRA_SOURCES[i % len(EXTRA_SOURCES)]
        za, zb = (_z(np.log1p(frame[c].clip(lower=0).to_numpy(dtype=float))) for c in (a, b))
        w = rng.uniform(0.3, 1.0)
        name = f"extra_{i:02d}"
        frame[name] = w * za + (1 - w) * zb + rng.normal(0.0, 0.3, n)
        extra.append(name)
    return frame, persona, (*base, *extra)


def _z(x: Any) -> Any:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _config(features: tuple[str, ...], seed: int) -> Any:
    from seg_pipeline.segmentation.train import TrainConfig

    return TrainConfig(features=features, seed=seed)


def _load(data: Path) -> tuple[Any, Any, tuple[str, ...]]:
    import pandas as pd

    frame = pd.read_parquet(data / "features.parquet")
    meta = json.loads((data / "meta.json").read_text())
    persona = pd.read_parquet(data / "persona.parquet")["persona"]
    return frame, persona, tuple(meta["features"])


def _preprocess(frame: Any, config: Any) -> tuple[Any, Any]:
    """(X, X without the quantile cap), exactly as ``train_week`` builds them."""
    import numpy as np

    from seg_pipeline.segmentation.preprocess import build_preprocessor, transform_unclipped

    pre = build_preprocessor(list(config.features), heavy_tailed=config.heavy(), scaler=config.scaler,
                             clip_quantiles=config.clip_quantiles)
    X = np.asarray(pre.fit_transform(frame), dtype=float)
    return X, transform_unclipped(pre, frame)


def _mem() -> dict:
    """Record the current RSS and the peak so far just before the measured call, then reset the peak.

    Resetting the peak (Linux VmHWM) makes :func:`_call_peak` the call's own; ``run_child`` folds
    ``peak_before_mib`` back into the stage peak.
    """
    import psutil

    mem = {"rss_start_mib": psutil.Process().memory_info().rss / MIB,
           "peak_before_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    # not Linux / not permitted: the call peak then includes everything before it
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return mem


def _call_peak() -> dict:
    return {"call_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _checkpoint(p: dict, partial: dict) -> None:
    """Write figures known so far, so a stage killed by OOM or the timeout still reports them."""
    if p.get("_out"):
        Path(p["_out"]).write_text(json.dumps({"status": "running", **partial}))


def _ari(truth: Any, labels: Any) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth, labels))


def child_gen(p: dict) -> dict:
    """Generate the size's features and planted personas once into Parquet, shared by every stage at that size."""
    import pandas as pd

    frame, persona, features = make_features(p["n"], p["features"], p["seed"])
    out = Path(p["data"])
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "features.parquet", index=False)
    pd.DataFrame({"persona": persona.to_numpy()}).to_parquet(out / "persona.parquet", index=False)
    (out / "meta.json").write_text(json.dumps({"n": p["n"], "features": list(features), "seed": p["seed"]}))
    return {"n_features": len(features)}


def child_train(p: dict) -> dict:
    """One ``train_week`` (k selection included); the model is saved with skops for the assign stage."""
    import skops.io as sio

    from seg_pipeline.segmentation.train import train_week

    frame, persona, features = _load(Path(p["data"]))
    mem = _mem()
    config = _config(features, p["seed"])
    t0 = time.perf_counter()
    res = train_week(frame, config, champion=None, champion_assignments=None, week_start=WEEK)
    seconds = time.perf_counter() - t0
    call = _call_peak()
    if p.get("model"):
        sio.dump(res.model, p["model"])
    a = res.assignments
    combined = _combined_labels(a)
    return {
        "seconds": seconds,
        **mem,
        **call,
        "k": res.k_selection.k,
        "ari_segments": _ari(persona.to_numpy(), a["segment_id"].to_numpy()),
        "ari_full": _ari(persona.to_numpy(), combined),
        "noise_share": res.metrics["noise_share"],
        "micro_share": res.metrics["micro_share"],
        "n_micro": int(res.metrics["n_micro_communities"]),
        "silhouette": res.metrics["silhouette"],
        "gate_passed": res.gate.passed,
    }


def _combined_labels(a: Any) -> Any:
    """Segment id, replaced by a micro-community or 'outlier' label where set (comparable with the personas)."""
    import numpy as np

    lab = a["segment_id"].astype(str).to_numpy(dtype=object)
    micro = a["micro_community"]
    lab = np.where(micro.notna().to_numpy(), "m" + micro.astype(str).to_numpy(dtype=object), lab)
    return np.where(a["is_outlier"].to_numpy(), "outlier", lab)


def child_assign(p: dict) -> dict:
    """``SegmentationModel.assign`` on every account with the model the train stage saved."""
    import skops.io as sio

    frame, persona, _ = _load(Path(p["data"]))
    model = sio.load(p["model"], trusted=sio.get_untrusted_types(file=p["model"]))  # our own file, just written
    mem = _mem()
    t0 = time.perf_counter()
    a = model.assign(frame)
    seconds = time.perf_counter() - t0
    call = _call_peak()
    return {
        "seconds": seconds,
        **mem,
        **call,
        "rows_per_s": len(a) / seconds,
        "ari_segments": _ari(persona.to_numpy(), a["segment_id"].to_numpy()),
    }


def child_hybrid(p: dict) -> dict:
    """``HybridSegmenter.fit`` with the parameters ``train_week`` passes (K-means + DBSCAN per segment)."""
    from seg_pipeline.segmentation.estimators import HybridSegmenter

    frame, persona, features = _load(Path(p["data"]))
    config = _config(features, p["seed"])
    X, X_far = _preprocess(frame, config)
    del frame
    mem = _mem()
    t0 = time.perf_counter()
    hyb = HybridSegmenter(
        "auto",
        k_range=config.k_range,
        n_init=config.n_init,
        outlier_mad=config.outlier_mad,
        min_micro_size=max(30, math.ceil(config.min_micro_share * X.shape[0])),
        random_state=config.seed,
    ).fit(X, outlier_X=X_far)
    seconds = time.perf_counter() - t0
    call = _call_peak()
    return {
        "seconds": seconds,
        **mem,
        **call,
        "k": int(hyb.cluster_centers_.shape[0]),
        "ari_segments": _ari(persona.to_numpy(), hyb.labels_),
        "n_micro": int(hyb.n_micro_),
        "noise_share": float(hyb.is_outlier_.mean()),
    }


def child_refuse(p: dict) -> dict:
    """Global DBSCAN through the project's guard with subsampling disabled: it must refuse, not fit."""
    import numpy as np

    from seg_pipeline.segmentation.estimators import DBSCANSegmenter, estimate_dbscan_bytes, estimate_eps

    frame, _, features = _load(Path(p["data"]))
    X, _ = _preprocess(frame, _config(features, p["seed"]))
    del frame
    mem = _mem()
    t0 = time.perf_counter()
    guard = DBSCANSegmenter(max_rows=None, memory_limit_bytes=p["guard_limit_bytes"], random_state=p["seed"])
    try:
        guard.fit(X)
    except ValueError as exc:
        message, refused = str(exc), True
    else:
        message, refused = f"fitted: {guard.n_fit_rows_} rows, eps={guard.eps_:.4g}", False
    seconds = time.perf_counter() - t0
    call = _call_peak()
    # the guard's message rounds to 0.1 GiB; replay its steps with the same seed for the exact estimate
    rs = np.random.RandomState(p["seed"])
    min_samples = max(2 * X.shape[1], 2)
    eps = estimate_eps(X, min_samples, rs)
    est = estimate_dbscan_bytes(X, eps, rs)
    return {
        "seconds": seconds,
        **mem,
        **call,
        "refused": refused,
        "message": message,
        "estimated_bytes": est,
        "eps": eps,
        "min_samples": min_samples,
        "limit_bytes": guard.memory_limit_bytes,
    }


def child_global(p: dict) -> dict:
    """Plain sklearn DBSCAN on every row (eps at the k-distance knee); runs under RLIMIT_AS set by ``main``."""
    import numpy as np
    from sklearn.cluster import DBSCAN

    from seg_pipeline.segmentation.estimators import estimate_dbscan_bytes, estimate_eps

    frame, persona, features = _load(Path(p["data"]))
    X, _ = _preprocess(frame, _config(features, p["seed"]))
    del frame
    mem = _mem()
    rs = np.random.RandomState(p["seed"])
    min_samples = max(2 * X.shape[1], 2)
    t0 = time.perf_counter()
    eps = estimate_eps(X, min_samples, rs)
    t_eps = time.perf_counter() - t0
    est = estimate_dbscan_bytes(X, eps, rs)
    _checkpoint(p, {**mem, "eps_seconds": t_eps, "eps": eps, "min_samples": min_samples, "estimated_bytes": est})
    t1 = time.perf_counter()
    db = DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    t_fit = time.perf_counter() - t1
    call = _call_peak()
    labels = db.labels_
    found = labels[labels >= 0]
    return {
        "seconds": t_eps + t_fit,  # the hybrid's time also includes choosing its eps
        "eps_seconds": t_eps,
        "fit_seconds": t_fit,
        **mem,
        **call,
        "eps": eps,
        "min_samples": min_samples,
        "estimated_bytes": est,
        "n_clusters": len(np.unique(found)),
        "noise_share": float((labels == -1).mean()),
        "ari_segments": _ari(persona.to_numpy(), labels),
    }


CHILDREN = {"gen": child_gen, "train": child_train, "assign": child_assign, "hybrid": child_hybrid,
            "refuse": child_refuse, "global": child_global}


def child_main(stage: str, params_json: str, out: str) -> None:
    """Entry point of a child: optional address-space cap, run the stage, write its JSON result."""
    params = {**json.loads(params_json), "_out": out}
    if params.get("mem_limit_bytes"):
        limit = int(params["mem_limit_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = {"status": "ok", **CHILDREN[stage](params)}
    except MemoryError as exc:
        text = Path(out).read_text() if Path(out).exists() else ""
        result = {**(json.loads(text) if text.strip() else {}), "status": "oom", "error": f"MemoryError: {exc}"}
    Path(out).write_text(json.dumps(result))
    sys.exit(0 if result["status"] == "ok" else 3)


# --------------------------------------------------------------------------------------------- parent side
def run_child(stage: str, params: dict, *, timeout: float | None = None, workdir: Path) -> dict:
    """Run ``stage`` in a fresh interpreter; return its figures plus wall time, peak RSS and the load average.

    ``os.wait4`` gives the child's own rusage, so ``peak_rss_mib`` is that stage's peak and nothing else's.
    A child killed by a signal (e.g. SIGSEGV when allocation fails under RLIMIT_AS) or by the timeout is
    reported with ``status`` ``crashed`` / ``timeout`` instead of raising.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    fd, out = tempfile.mkstemp(prefix=f"{stage}-", suffix=".json", dir=workdir)
    os.close(fd)
    err_path = Path(out).with_suffix(".err")
    load1 = os.getloadavg()[0]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--params", json.dumps(params),
           "--out", out]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    with open(err_path, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)  # noqa: S603 - this script
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, _kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; keep Popen from waiting again
        if timer:
            timer.cancel()
    text = Path(out).read_text()
    result: dict = json.loads(text) if text.strip() else {}
    if timed_out.is_set():
        result = {**result, "status": "timeout", "error": f"killed after {timeout:g} s"}
    elif os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        result = {**result, "status": "crashed", "error": f"killed by {sig} (allocation failure under the cap?)"}
    elif not result or result.get("status") == "running":
        tail = err_path.read_text().strip().splitlines()[-3:]
        result = {"status": "failed", "error": f"exit {os.WEXITSTATUS(status)}: {' | '.join(tail)}"}
    peak = max(usage.ru_maxrss / 1024, result.get("peak_before_mib", 0.0))
    result.update(stage=stage, n=params.get("n"), wall_s=wall, peak_rss_mib=peak, load1=load1)
    return result


def _median(runs: list[dict]) -> dict:
    """Pick the median run by measured seconds, with every run's seconds and the median peak RSS."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[-1]
    mid = sorted(ok, key=lambda r: r["seconds"])[(len(ok) - 1) // 2]
    return {
        **mid,
        "seconds": statistics.median(r["seconds"] for r in ok),
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in ok),
        "all_seconds": [round(r["seconds"], 2) for r in ok],
        "runs": len(runs),
    }


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def print_table(rows: list[dict]) -> None:
    """Print one line per measured stage: status, seconds, peak RSS, load average and the stage's figures."""
    print(f"\n{'stage':8} {'n':>9} {'status':>8} {'seconds':>9} {'peak RSS MiB':>13} {'load1':>6}  details")
    for r in rows:
        secs = r.get("seconds") if r["status"] == "ok" else None
        print(f"{r['stage']:8} {r['n']:>9,} {r['status']:>8} {_fmt(secs, '9.2f'):>9} "
              f"{_fmt(r['peak_rss_mib'], '13.0f'):>13} {r['load1']:6.2f}  {_details(r)}")


def _details(r: dict) -> str:
    parts = [] if r["status"] == "ok" else [r.get("error", "")]
    if "all_seconds" in r:
        parts.append(f"runs {r['all_seconds']}")
    for key, fmt in (("k", "d"), ("n_clusters", "d"), ("ari_segments", ".3f"), ("ari_full", ".3f"),
                     ("n_micro", "d"), ("noise_share", ".2%"), ("micro_share", ".2%"), ("rows_per_s", ",.0f"),
                     ("eps", ".3g"), ("min_samples", "d"), ("eps_seconds", ".1f"), ("fit_seconds", ".1f")):
        if key in r:
            parts.append(f"{key} {format(r[key], fmt)}")
    if "estimated_bytes" in r:
        parts.append(f"guard estimate {r['estimated_bytes'] / GIB:.2f} GiB")
    if "rss_start_mib" in r:
        call = f"call peak {r['call_peak_mib']:.0f} MiB, " if "call_peak_mib" in r else ""
        parts.append(f"{call}RSS at call start {r['rss_start_mib']:.0f} MiB, peak before {r['peak_before_mib']:.0f}")
    return ", ".join(parts)


def print_ratios(results: dict[str, Any]) -> None:
    """Hybrid vs global DBSCAN where both ran at the same n, and the hybrid at scale vs the guard's estimate."""
    print("\nhybrid vs global DBSCAN (same rows, same preprocessing):")
    for n, glob in sorted(results["global"].items()):
        hyb = results["hybrid"].get(n)
        if not hyb or hyb["status"] != "ok":
            continue
        if glob["status"] != "ok":
            print(f"  n={n:>9,}: global {glob['status']} ({glob.get('error', '')}); hybrid {hyb['seconds']:.1f} s, "
                  f"{hyb['peak_rss_mib']:.0f} MiB")
            continue
        call = f"call peaks {glob['call_peak_mib']:.0f} vs {hyb['call_peak_mib']:.0f} MiB; "
        print(f"  n={n:>9,}: time global/hybrid {glob['seconds'] / hyb['seconds']:.2f}x "
              f"({glob['seconds']:.1f} s vs {hyb['seconds']:.1f} s); peak RSS global/hybrid "
              f"{glob['peak_rss_mib'] / hyb['peak_rss_mib']:.2f}x ({glob['peak_rss_mib']:.0f} vs "
              f"{hyb['peak_rss_mib']:.0f} MiB); {call}guard estimate {glob['estimated_bytes'] / MIB:.0f} MiB; "
              f"ARI global {glob['ari_segments']:.3f} vs hybrid {hyb['ari_segments']:.3f}")
    ok = [(n, g) for n, g in sorted(results["global"].items()) if g["status"] == "ok"]
    for n, g in ok:
        grown = g["call_peak_mib"] - g["rss_start_mib"]
        print(f"  global DBSCAN n={n:,}: RSS grew {grown:.0f} MiB during eps + fit vs the guard's estimate "
              f"{g['estimated_bytes'] / MIB:.0f} MiB -> measured/estimate {grown * MIB / g['estimated_bytes']:.2f}")
    if len(ok) >= 2:
        (n0, g0), (n1, g1) = ok[0], ok[-1]
        grow = math.log(n1 / n0)
        print(f"  global DBSCAN growth {n0:,} -> {n1:,} rows: time x{g1['seconds'] / g0['seconds']:.1f} "
              f"(~n^{math.log(g1['seconds'] / g0['seconds']) / grow:.2f}), peak RSS "
              f"x{g1['peak_rss_mib'] / g0['peak_rss_mib']:.1f}, guard estimate "
              f"x{g1['estimated_bytes'] / g0['estimated_bytes']:.1f} (~n^"
              f"{math.log(g1['estimated_bytes'] / g0['estimated_bytes']) / grow:.2f})")
    ref = results.get("refuse")
    big = results["hybrid"].get(ref["n"]) if ref else None
    if ref and ref["status"] == "ok":
        print(f"  at n={ref['n']:,}: global DBSCAN guard {'refused' if ref['refused'] else 'did NOT refuse'}, "
              f"estimated {ref['estimated_bytes']:,} bytes ({ref['estimated_bytes'] / GIB:.1f} GiB, eps "
              f"{ref['eps']:.3g}, min_samples {ref['min_samples']})")
        print(f"    message: {ref['message']}")
        if big and big["status"] == "ok":
            print(f"    hybrid at the same n: {big['seconds']:.1f} s, peak RSS {big['peak_rss_mib']:.0f} MiB (fit "
                  f"alone {big['call_peak_mib']:.0f} MiB) -> "
                  f"global would need ~{ref['estimated_bytes'] / MIB / big['peak_rss_mib']:.1f}x the hybrid's "
                  "peak memory (estimate, not run)")


def _progress(r: dict) -> dict:
    secs = f"{r['seconds']:.2f} s" if r["status"] == "ok" else r.get("error", "")
    print(f"  {r['stage']:7} n={r['n']:<9,} {r['status']:8} {secs}, peak RSS {r['peak_rss_mib']:.0f} MiB, "
          f"load {r['load1']:.2f}", flush=True)
    return r


def _data(n: int, args: argparse.Namespace, cache: dict[int, Path], work: Path) -> Path:
    if n not in cache:
        path = work / f"data_{n}"
        r = run_child("gen", {"n": n, "features": args.features, "seed": args.seed, "data": str(path)}, workdir=work)
        if r["status"] != "ok":
            raise SystemExit(f"generating {n} rows failed: {r.get('error')}")
        print(f"  generated {n:,} accounts x {r['n_features']} features in {r['wall_s']:.1f} s", flush=True)
        cache[n] = path
    return cache[n]


def main(argv: list[str] | None = None) -> dict:
    """Run every stage in its own child (or be that child with ``--child``) and return all figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=100_000, help="rows for train_week + assign")
    p.add_argument("--features", type=int, default=25, help="numeric feature columns (>= 19, the registry set)")
    p.add_argument("--repeat", type=int, default=3, help="train/assign repetitions (median reported)")
    p.add_argument("--hybrid-accounts", type=int, default=1_000_000, help="rows for the hybrid and the guard")
    p.add_argument("--train-1m", action="store_true", help="also run the whole train_week at --hybrid-accounts")
    p.add_argument("--global-accounts", type=int, nargs="*", default=[20_000, 50_000],
                   help="rows for plain global DBSCAN (and the hybrid at the same n)")
    p.add_argument("--guard-limit-gib", type=float, default=2.0,
                   help="memory_limit_bytes of the refusing DBSCANSegmenter (2 GiB = the production default)")
    p.add_argument("--global-mem-gib", type=float, default=6.0, help="RLIMIT_AS for each global DBSCAN child")
    p.add_argument("--global-timeout", type=float, default=600.0, help="seconds before a global child is killed")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default=None, help="where data and models go (default: a new temp dir)")
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(args.child, args.params, args.out)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seg-bench-segmentation-")).resolve()
    cache: dict[int, Path] = {}
    load0 = os.getloadavg()
    print(f"seg_pipeline segmentation benchmark: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}, workdir {work}")
    results: dict[str, Any] = {"args": vars(args), "load_start": load0, "hybrid": {}, "global": {}}
    rows: list[dict] = []
    base = {"features": args.features, "seed": args.seed}

    def stage(name: str, n: int, timeout: float | None = None, **extra: Any) -> dict:
        params = {**base, "n": n, "data": str(_data(n, args, cache, work)), **extra}
        return _progress(run_child(name, params, timeout=timeout, workdir=work))

    model = str(work / "model.skops")
    train = [stage("train", args.accounts, model=model) for _ in range(args.repeat)]
    results["train"] = _median(train)
    ok = train[-1]["status"] == "ok"
    assign = [stage("assign", args.accounts, model=model) for _ in range(args.repeat)] if ok else []
    results["assign"] = _median(assign) if assign else None
    rows += [r for r in (results["train"], results["assign"]) if r]

    for n in dict.fromkeys([*args.global_accounts, args.hybrid_accounts]):
        reps = 1 if n == args.hybrid_accounts else args.repeat  # the 1M run is measured once
        results["hybrid"][n] = _median([stage("hybrid", n) for _ in range(reps)])
        rows.append(results["hybrid"][n])
    if args.train_1m:
        results["train_large"] = stage("train", args.hybrid_accounts)
        rows.append(results["train_large"])
    results["refuse"] = stage("refuse", args.hybrid_accounts, guard_limit_bytes=int(args.guard_limit_gib * GIB))
    rows.append(results["refuse"])
    mem = int(args.global_mem_gib * GIB)
    for n in args.global_accounts:
        runs: list[dict] = []
        while len(runs) < args.repeat and (not runs or runs[-1]["status"] == "ok"):  # one OOM/timeout is enough
            runs.append(stage("global", n, timeout=args.global_timeout, mem_limit_bytes=mem))
        results["global"][n] = _median(runs)
        rows.append(results["global"][n])

    print_table(rows)
    tr, asg = results["train"], results["assign"]
    if tr["status"] == "ok" and asg and asg["status"] == "ok":
        print(f"\ntrain_week + assign at {args.accounts:,} x {args.features}: {tr['seconds'] + asg['seconds']:.1f} s "
              f"(median of {args.repeat}; train {tr['seconds']:.1f} s incl. k selection, assign {asg['seconds']:.2f} s)"
              f"; k={tr['k']}, ARI vs planted personas {tr['ari_segments']:.3f} (segments) / {tr['ari_full']:.3f} "
              "(with micro-communities and outliers)")
    print_ratios(results)
    results["load_end"] = os.getloadavg()
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in results['load_end'])} "
          "(2 CPUs shared with other work: treat times as upper bounds)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
