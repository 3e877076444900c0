"""Feature and segment-share drift at a bounded cost: one small, self-contained report per comparison.

Drift tells data scientists *why* segments may be shifting (inputs changed vs last week or vs the champion's
training window) and drives the retrain decision. Each comparison runs on a seeded sample stratified by segment
(``SAMPLE_ROWS`` accounts per side, ``SEGMENT_ROWS`` per side inside each compared segment), so its cost does not
grow with the number of accounts. The per-column verdicts are Evidently's: the stat test and threshold its
``DataDriftPreset`` picks by default for the column (Wasserstein distance / Jensen-Shannon above 1 000 reference
rows, K-S / chi-square / z-test below), called through its stat-test registry. Evidently's own HTML is not
written: it inlines a 3.5 MB JS bundle and renders plotly figures for every column (≈ 2.5 s and 5 MB per report);
the report here is a plain HTML page with inline SVG histograms (tens of kB) that opens offline. See
``docs/drift.md``, "Sampling".
"""

import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from seg_pipeline.atomic import atomic_write_text

SKIP_ALL_NULL = "skipped: all values null"
SAMPLE_ROWS = 5_000  # accounts per side of a population comparison (> 1 000: Evidently picks the full-data test)
SEGMENT_ROWS = 2_000  # accounts per side inside one compared segment
STRATUM = "segment_id"  # the column a frame is stratified by, when it has one
_NO_STRATUM = -(2**31)  # accounts without a segment (e.g. no assignment) form one stratum of their own
_BINS = 24


@dataclass
class DriftResult:
    """Summary of one comparison; ``per_column`` holds method, threshold, score, drifted for each column."""

    n_features: int
    n_drifted: int
    share_drifted: float
    drifted_features: list[str]
    html_path: Path
    json_path: Path
    per_column: dict[str, dict[str, Any]] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)  # segment id -> the same summary inside it

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (paths as strings) for metadata and the warehouse."""
        out = asdict(self)
        out["html_path"], out["json_path"] = str(self.html_path), str(self.json_path)
        return out


# --- sampling ---------------------------------------------------------------------------------------------------


def sample_keys(account_ids: pd.Series, seed: int) -> np.ndarray:
    """Give each account a uniform 64-bit key fixed by (seed, account id); the sample takes the smallest keys.

    Keyed by account rather than by row position, the sample does not depend on input order, and an account
    drawn this week is drawn next week too (when it stays in its segment), so week-over-week comparisons see
    mostly the same accounts and the sample adds less noise than two independent draws would.
    """
    key = hashlib.sha256(f"seg-drift-sample/{seed}".encode()).hexdigest()[:16]
    keys: np.ndarray = pd.util.hash_array(account_ids.astype(str).to_numpy(dtype=object), hash_key=key)
    return keys


def allocate(sizes: pd.Series, n: int) -> pd.Series:
    """Proportional allocation of ``n`` rows over strata (largest remainder; ties by stratum label)."""
    total = int(sizes.sum())
    if total <= n:
        return sizes.astype(int)
    quota = sizes.astype(float) * n / total
    base = np.floor(quota).astype(int)
    rest = n - int(base.sum())
    order = sorted(sizes.index, key=lambda s: (-(quota[s] - base[s]), s))
    for s in order[:rest]:
        base[s] += 1
    return base  # type: ignore[return-value]


def _strata(df: pd.DataFrame) -> pd.Series:
    if STRATUM not in df.columns:
        return pd.Series(_NO_STRATUM, index=df.index, dtype="int64")
    return pd.to_numeric(df[STRATUM], errors="coerce").fillna(_NO_STRATUM).astype("int64")


def stratified_sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, each segment (``segment_id``) keeping its share; rows sorted by account id.

    Within a segment the rows with the smallest :func:`sample_keys` are taken. Without an ``account_id``
    column the row position is the key (still deterministic for the same frame).
    """
    ids = df["account_id"] if "account_id" in df.columns else pd.Series(np.arange(len(df)), index=df.index)
    work = pd.DataFrame({"stratum": _strata(df).to_numpy(), "key": sample_keys(ids, seed), "id": ids.astype(str)},
                        index=df.index)
    if len(df) > n:
        quota = allocate(work["stratum"].value_counts().sort_index(), n)
        work = work.sort_values(["stratum", "key", "id"], kind="mergesort")
        rank = work.groupby("stratum", sort=False).cumcount()
        work = work.loc[rank.to_numpy() < work["stratum"].map(quota).to_numpy()]
    order = work.sort_values(["id", "key"], kind="mergesort").index
    return df.loc[order].reset_index(drop=True)


# --- the per-column verdicts --------------------------------------------------------------------------------------


def _usable_columns(cur: pd.DataFrame, ref: pd.DataFrame, columns: list[str],
                    per_column: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(usable columns, the numerical ones among them); records each skipped column's reason in ``per_column``."""
    numeric = [c for c in columns if c in cur.columns and c in ref.columns
               and (pd.api.types.is_numeric_dtype(cur[c]) or pd.api.types.is_bool_dtype(cur[c]))]
    usable: list[str] = []
    for c in columns:
        if c not in cur.columns or c not in ref.columns:
            per_column[c] = {"drifted": False, "status": "skipped: column missing"}
        elif _clean(cur[c], c in numeric).empty or _clean(ref[c], c in numeric).empty:
            per_column[c] = {"drifted": False, "status": SKIP_ALL_NULL}
        else:
            usable.append(c)
    return usable, [c for c in numeric if c in usable]


def _clean(values: pd.Series, numeric: bool) -> pd.Series:
    """Evidently's own cleaning: numbers as floats with ±inf dropped like NULLs; anything else as strings."""
    if numeric:
        num = pd.to_numeric(values, errors="coerce").astype(float)
        return num[np.isfinite(num)].reset_index(drop=True)
    return values.dropna().astype(str).reset_index(drop=True)


def column_drift(current: pd.Series, reference: pd.Series, *, numeric: bool) -> dict[str, Any]:
    """Evidently's default stat test for the column (as ``DataDriftPreset`` picks it) and its verdict."""
    # imported here: evidently takes seconds to import and Dagster loads this module at definitions time
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    cur, ref = _clean(current, numeric), _clean(reference, numeric)
    test = get_stattest(ref, cur, kind, None)
    with warnings.catch_warnings():
        # constant columns divide by a zero std inside numpy/scipy; the verdict (drift / no drift) is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test(ref, cur, kind, None)
    return {"method": test.display_name, "threshold": float(res.actual_threshold), "score": float(res.drift_score),
            "drifted": bool(res.drifted), "status": "ok"}


def compare(cur: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Per-column verdicts of ``cur`` vs ``ref`` plus the counts (columns skipped when missing or all-null)."""
    per_column: dict[str, dict[str, Any]] = {}
    usable, numeric = _usable_columns(cur, ref, columns, per_column) if len(cur) and len(ref) else ([], [])
    for c in usable:
        per_column[c] = column_drift(cur[c], ref[c], numeric=c in numeric)
    drifted = [c for c in usable if per_column[c]["drifted"]]
    return {"n_features": len(usable), "n_drifted": len(drifted),
            "share_drifted": len(drifted) / len(usable) if usable else 0.0, "drifted_features": drifted,
            "per_column": {c: per_column[c] for c in columns if c in per_column}, "rows_current": len(cur),
            "rows_reference": len(ref)}


# --- the report -----------------------------------------------------------------------------------------------


def _evidently_version() -> str:
    try:
        return metadata.version("evidently")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "unknown"


def _hist_svg(cur: pd.Series, ref: pd.Series, numeric: bool) -> str:
    """Draw a 160x36 inline SVG: the reference's distribution as grey bars, the current one as a blue line."""
    if numeric:
        c, r = _clean(cur, True).to_numpy(), _clean(ref, True).to_numpy()
        pooled = np.concatenate([c, r])
        if not len(c) or not len(r):
            return ""
        lo, hi = np.quantile(pooled, [0.01, 0.99])
        if not hi > lo:
            lo, hi = float(pooled.min()) - 0.5, float(pooled.max()) + 0.5
        edges = np.linspace(lo, hi, _BINS + 1)
        hc = np.histogram(np.clip(c, lo, hi), edges)[0] / len(c)
        hr = np.histogram(np.clip(r, lo, hi), edges)[0] / len(r)
    else:
        c, r = _clean(cur, False), _clean(ref, False)  # type: ignore[assignment]
        top = pd.concat([c, r]).value_counts().sort_index(kind="mergesort").sort_values(  # type: ignore[var-annotated,list-item]
            ascending=False, kind="mergesort").index[:_BINS]
        hc = c.value_counts(normalize=True).reindex(top, fill_value=0).to_numpy()
        hr = r.value_counts(normalize=True).reindex(top, fill_value=0).to_numpy()
    peak = max(float(hc.max(initial=0)), float(hr.max(initial=0))) or 1.0
    w, h, bw = 160.0, 36.0, 160.0 / len(hr)
    bars = "".join(f'<rect x="{i * bw:.1f}" y="{h - v / peak * h:.1f}" width="{bw:.1f}" height="{v / peak * h:.1f}"/>'
                   for i, v in enumerate(hr) if v > 0)
    line = " ".join(f"{(i + 0.5) * bw:.1f},{h - v / peak * h:.1f}" for i, v in enumerate(hc))
    return (f'<svg width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}"><g fill="#c8c8c8">{bars}</g>'
            f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{line}"/></svg>')


_CSS = ("body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
        "td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:middle}"
        ".d{color:#b42318;font-weight:600}.num{text-align:right}small{color:#666}")


def _column_rows(result: dict[str, Any], cur: pd.DataFrame | None, ref: pd.DataFrame | None,
                 numeric: set[str]) -> str:
    rows = []
    per_column = result["per_column"]
    order = sorted(per_column, key=lambda c: (not per_column[c]["drifted"], -float(per_column[c].get("score", 0))))
    for c in order:
        p = per_column[c]
        svg = "" if cur is None or ref is None or p["status"] != "ok" else _hist_svg(cur[c], ref[c], c in numeric)
        verdict = "<span class='d'>drift</span>" if p["drifted"] else ("no drift" if p["status"] == "ok"
                                                                          else escape(p["status"]))
        score = f"{p['score']:.4g}" if "score" in p else ""
        threshold = f"{p['threshold']:.3g}" if "threshold" in p else ""
        rows.append(f"<tr><td>{escape(c)}</td><td>{verdict}</td><td>{escape(str(p.get('method', '')))}</td>"
                    f"<td class='num'>{score}</td><td class='num'>{threshold}</td><td>{svg}</td></tr>")
    return ("<table><tr><th>feature</th><th>verdict</th><th>test</th><th>score</th><th>threshold</th>"
            "<th>distribution <small>(grey: reference, blue: current)</small></th></tr>" + "".join(rows) + "</table>")


def _render_html(payload: dict[str, Any], cur: pd.DataFrame | None, ref: pd.DataFrame | None,
                 numeric: set[str]) -> str:
    name, s = payload["name"], payload["sample"]
    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='UTF-8'><title>{escape(name)}</title>"
            f"<style>{_CSS}</style></head><body><h1>Drift report {escape(name)}</h1>")
    if payload.get("skipped"):
        return head + f"<p>No drift computed: {escape(payload['skipped'])}.</p></body></html>"
    summary = (f"<p><b>{payload['n_drifted']} of {payload['n_features']} features drifted "
               f"({payload['share_drifted']:.0%})</b>: {escape(', '.join(payload['drifted_features']) or 'none')}."
               f"</p><p><small>Rows compared: current {s['rows_current']:,} of {s['population_current']:,}, "
               f"reference {s['rows_reference']:,} of {s['population_reference']:,} (sample stratified by segment, "
               f"at most {s['rows']:,} per side, seed {s['seed']}). Verdicts: Evidently {escape(payload['engine'])} "
               f"default stat test per column.</small></p>")
    body = head + summary + "<h2>Features</h2>" + _column_rows(payload, cur, ref, numeric)
    if payload["segments"]:
        body += ("<h2>Inside the largest segments</h2><p><small>This week's members of each segment vs the "
                 "reference's members of the same segment id, at most "
                 f"{s['segment_rows']:,} per side.</small></p><table><tr><th>segment</th><th>rows (current / "
                 "reference)</th><th>drifted</th><th>features</th></tr>")
        for seg, r in payload["segments"].items():
            body += (f"<tr><td><a href='#segment-{escape(seg)}'>{escape(seg)}</a></td><td>{r['rows_current']:,} / "
                     f"{r['rows_reference']:,}</td><td>{r['n_drifted']} of {r['n_features']}</td>"
                     f"<td>{escape(', '.join(r['drifted_features']) or 'none')}</td></tr>")
        body += "</table>"
        for seg, r in payload["segments"].items():
            body += f"<h3 id='segment-{escape(seg)}'>Segment {escape(seg)}</h3>" + _column_rows(r, None, None, numeric)
    return body + "</body></html>"


def drift_report(current: pd.DataFrame, reference: pd.DataFrame, *, columns: list[str], out_dir: Path, name: str,
                 sample: int = SAMPLE_ROWS, seed: int = 0, segments: Sequence[int] = (),
                 segment_sample: int = SEGMENT_ROWS) -> DriftResult:
    """Compare ``current`` with ``reference`` on ``columns`` and save ``name.html`` / ``name.json`` in ``out_dir``.

    Each side is reduced to a :func:`stratified_sample` of ``sample`` rows (by its ``segment_id`` column, when
    it has one). For every id in ``segments`` the members of that segment on each side (up to
    ``segment_sample`` rows, same keys) are compared too, in the same report. Columns missing from either frame
    or all-null in either frame are reported as skipped; constant columns are compared normally (a constant
    that changes value is drift). Numeric and boolean columns are numerical, anything else categorical.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    cur, ref = stratified_sample(current, sample, seed), stratified_sample(reference, sample, seed)
    result = compare(cur, ref, columns)
    payload: dict[str, Any] = {
        "name": name, **result, "engine": _evidently_version(), "segments": {},
        "sample": {"rows": sample, "segment_rows": segment_sample, "seed": seed, "stratified_by": STRATUM,
                   "population_current": len(current), "population_reference": len(reference),
                   "rows_current": len(cur), "rows_reference": len(ref)},
    }
    if not result["n_features"]:
        payload["skipped"] = "no rows" if cur.empty or ref.empty else "no usable columns"
    else:
        cur_seg, ref_seg = _strata(current), _strata(reference)
        for seg in segments:
            inside = compare(stratified_sample(current.loc[cur_seg == seg], segment_sample, seed),
                             stratified_sample(reference.loc[ref_seg == seg], segment_sample, seed), columns)
            if inside["rows_current"] and inside["rows_reference"]:
                payload["segments"][str(int(seg))] = inside
    numeric = {c for c in columns if c in cur.columns and pd.api.types.is_numeric_dtype(cur[c])}
    atomic_write_text(html_path, _render_html(payload, cur, ref, numeric))
    atomic_write_text(json_path, json.dumps(payload, indent=1, sort_keys=True, default=str))
    return DriftResult(result["n_features"], result["n_drifted"], result["share_drifted"],
                       result["drifted_features"], html_path, json_path, result["per_column"], payload["segments"])


def segment_share_drift(current: pd.Series, reference: pd.Series) -> dict[str, Any]:
    """Segment shares now vs the reference, total variation distance and a chi-square homogeneity p-value.

    Shares moving while features do not usually means the model moved, not the customers.
    """
    cur_counts = current.dropna().value_counts()
    ref_counts = reference.dropna().value_counts()
    labels = sorted(set(cur_counts.index) | set(ref_counts.index), key=str)
    cur_c = cur_counts.reindex(labels, fill_value=0).astype(float)
    ref_c = ref_counts.reindex(labels, fill_value=0).astype(float)
    n_cur, n_ref = float(cur_c.sum()), float(ref_c.sum())
    cur_s = cur_c / n_cur if n_cur else cur_c
    ref_s = ref_c / n_ref if n_ref else ref_c
    tvd = float(0.5 * (cur_s - ref_s).abs().sum()) if n_cur and n_ref else 0.0
    chi2, p_value = 0.0, 1.0
    if len(labels) >= 2 and n_cur and n_ref:
        res = stats.chi2_contingency(np.vstack([cur_c.to_numpy(), ref_c.to_numpy()]))
        chi2, p_value = float(res.statistic), float(res.pvalue)
    return {
        "shares_current": {str(k): float(v) for k, v in cur_s.items()},
        "shares_reference": {str(k): float(v) for k, v in ref_s.items()},
        "tvd": tvd, "chi2": chi2, "p_value": p_value if math.isfinite(p_value) else 1.0,
        "n_current": int(n_cur), "n_reference": int(n_ref),
    }


def _row(week: date, reference: str, res: DriftResult | dict[str, Any], html: Path, js: Path) -> dict[str, Any]:
    r = res.summary() if isinstance(res, DriftResult) else res
    return {"week_start": week, "reference": reference, "n_features": r["n_features"],
            "n_drifted": r["n_drifted"], "share_drifted": r["share_drifted"],
            "drifted_features": ",".join(r["drifted_features"]), "html_path": str(html), "json_path": str(js)}


def _with_segments(features: pd.DataFrame, assignments: pd.DataFrame | None) -> pd.DataFrame:
    """``features`` with each account's ``segment_id`` (the stratum) from ``assignments``, when given."""
    if assignments is None or not len(assignments) or "segment_id" not in assignments.columns:
        return features
    seg = assignments.drop_duplicates("account_id", keep="last")[["account_id", "segment_id"]]
    return features.drop(columns=[STRATUM], errors="ignore").merge(seg, on="account_id", how="left")


def top_segments(assignments: pd.DataFrame, n: int) -> list[int]:
    """Return the ``n`` largest real segments (id >= 0) of the week, largest first (ties by id)."""
    sizes = assignments["segment_id"].dropna().value_counts()
    sizes = sizes[sizes.index.map(lambda s: int(s) >= 0)]
    return [int(cast(int, s)) for s, _ in sorted(sizes.items(), key=lambda kv: (-kv[1], int(cast(int, kv[0]))))[:n]]


def weekly_drift(features_cur: pd.DataFrame, features_prev: pd.DataFrame | None, features_train: pd.DataFrame | None,
                 assignments_cur: pd.DataFrame, assignments_prev: pd.DataFrame | None, *, columns: list[str],
                 out_dir: Path, week_start: date, largest_segments: int = 3, sample: int = SAMPLE_ROWS,
                 segment_sample: int = SEGMENT_ROWS, seed: int = 0,
                 assignments_train: pd.DataFrame | None = None) -> dict[str, Any]:
    """Write the week's drift reports: one vs last week (with its largest segments inside), one vs training.

    The per-segment comparisons (this week's members of a segment vs last week's members of the same stable
    segment id: is the segment's profile changing?) are sections of the vs-last-week report and get their own
    ``segment:<id>`` rows pointing at it. Missing references (first week, no champion yet) are skipped.
    Returns ``rows`` shaped like ``monitoring.drift_summary`` plus segment shares.
    """
    tag = week_start.isoformat()
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"week_start": tag, "vs_previous": None, "vs_training": None, "segments": {},
                               "segment_shares": None}
    cur = _with_segments(features_cur, assignments_cur)
    if features_prev is not None and len(features_prev):
        have_prev = assignments_prev is not None and len(assignments_prev) > 0
        segs = top_segments(assignments_cur, largest_segments) if have_prev else []
        res = drift_report(cur, _with_segments(features_prev, assignments_prev), columns=columns, out_dir=out_dir,
                           name=f"drift_{tag}_vs_previous", sample=sample, seed=seed, segments=segs,
                           segment_sample=segment_sample)
        summary["vs_previous"] = res.summary()
        rows.append(_row(week_start, "previous_week", res, res.html_path, res.json_path))
        if assignments_prev is not None and have_prev:
            summary["segment_shares"] = segment_share_drift(assignments_cur["segment_id"],
                                                            assignments_prev["segment_id"])
        summary["segments"] = res.segments
        rows.extend(_row(week_start, f"segment:{seg}", r, res.html_path, res.json_path)
                    for seg, r in res.segments.items())
    if features_train is not None and len(features_train):
        res = drift_report(cur, _with_segments(features_train, assignments_train), columns=columns,
                           out_dir=out_dir, name=f"drift_{tag}_vs_training", sample=sample, seed=seed)
        summary["vs_training"] = res.summary()
        rows.insert(1, _row(week_start, "training", res, res.html_path, res.json_path))
    shares = [r["share_drifted"] for r in rows if r["reference"] in ("previous_week", "training")]
    summary["max_share_drifted"] = max(shares) if shares else 0.0
    summary["rows"] = rows
    return summary
