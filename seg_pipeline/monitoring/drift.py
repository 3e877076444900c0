"""Feature and segment-share drift with Evidently, saved as an offline HTML report plus JSON per comparison.

Drift tells data scientists *why* segments may be shifting (inputs changed vs last week or vs the champion's
training window) and drives the retrain decision. Evidently 0.7's HTML inlines its JS bundle and icon font, so
the files open offline. Inputs are sampled deterministically because the preset's cost grows with rows.
"""

import hashlib
import json
import re
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date
from html import escape
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from seg_pipeline.atomic import atomic_write_text

SKIP_ALL_NULL = "skipped: all values null"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DASHBOARD_ID = re.compile(r"metric_[0-9a-f]{32}")
_LIB_MARKER = "<script>var global = globalThis</script>"


@dataclass
class DriftResult:
    """Summary of one current-vs-reference comparison; ``per_column`` holds method, threshold, score, drifted."""

    n_features: int
    n_drifted: int
    share_drifted: float
    drifted_features: list[str]
    html_path: Path
    json_path: Path
    per_column: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (paths as strings) for metadata and the warehouse."""
        out = asdict(self)
        out["html_path"], out["json_path"] = str(self.html_path), str(self.json_path)
        return out


def _sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Fixed-seed sample; rows sorted by account id first so the sample does not depend on input order."""
    if "account_id" in df.columns:
        df = df.sort_values(["account_id", *(["week_start"] if "week_start" in df.columns else [])],
                            kind="mergesort")
    df = df.reset_index(drop=True)
    return df.sample(n=n, random_state=seed).sort_index() if len(df) > n else df


def _column_frame(df: pd.DataFrame, columns: list[str], numeric: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in columns:
        if c in numeric:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
        else:
            out[c] = df[c].astype("string").astype(object).mask(df[c].isna(), None)
    return out


def _stable_html(html: str, name: str) -> str:
    """Replace Evidently's random/time-based widget and dashboard ids with ones derived from ``name``.

    Same inputs then give a byte-identical report. Only the data block before the inlined JS bundle is
    rewritten, so constants inside the library are untouched.
    """
    head, marker, tail = html.partition(_LIB_MARKER)
    ids: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        if m.group(0) not in ids:
            ids[m.group(0)] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"seg-drift/{name}/{len(ids)}"))
        return ids[m.group(0)]

    head = _UUID.sub(repl, head)
    stable_id = "metric_" + hashlib.sha256(name.encode()).hexdigest()[:32]
    return _DASHBOARD_ID.sub(stable_id, head + marker + tail)


def _write_empty(html_path: Path, json_path: Path, name: str, reason: str,
                 per_column: dict[str, dict[str, Any]]) -> None:
    atomic_write_text(
        html_path,
        f"<!DOCTYPE html><html lang='en'><head><meta charset='UTF-8'><title>{escape(name)}</title></head>"
        f"<body><h1>Drift report {escape(name)}</h1><p>No drift computed: {escape(reason)}.</p></body></html>")
    atomic_write_text(json_path, json.dumps({"name": name, "skipped": reason, "per_column": per_column}, indent=2))


def _usable_columns(cur: pd.DataFrame, ref: pd.DataFrame, columns: list[str],
                    per_column: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(usable columns, the numerical ones among them); records each skipped column's reason in ``per_column``."""
    numeric = [c for c in columns if c in cur.columns and c in ref.columns
               and (pd.api.types.is_numeric_dtype(cur[c]) or pd.api.types.is_bool_dtype(cur[c]))]
    usable: list[str] = []
    for c in columns:
        if c not in cur.columns or c not in ref.columns:
            per_column[c] = {"drifted": False, "status": "skipped: column missing"}
        elif cur[c].isna().all() or ref[c].isna().all():
            per_column[c] = {"drifted": False, "status": SKIP_ALL_NULL}
        else:
            usable.append(c)
    return usable, [c for c in numeric if c in usable]


def _run_preset(cur: pd.DataFrame, ref: pd.DataFrame, usable: list[str], numeric: list[str]) -> Any:
    """Evidently's DataDriftPreset (with its tests) on the usable columns; returns the snapshot."""
    # imported here: evidently takes seconds to import and Dagster loads this module at definitions time
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    categorical = [c for c in usable if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    cur_ds = Dataset.from_pandas(_column_frame(cur, usable, numeric), data_definition=definition)
    ref_ds = Dataset.from_pandas(_column_frame(ref, usable, numeric), data_definition=definition)
    with warnings.catch_warnings():
        # constant columns divide by a zero std inside numpy/scipy; the result (no drift / drift) is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report([DataDriftPreset(columns=usable)], include_tests=True).run(
            current_data=cur_ds, reference_data=ref_ds)


def _read_columns(result: dict[str, Any], per_column: dict[str, dict[str, Any]]) -> None:
    """Fill ``per_column`` from the snapshot: each ValueDrift metric's method/threshold/score, its test's verdict."""
    by_metric: dict[str, str] = {}
    for m in result["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            col = cfg["column"]
            by_metric[m["id"]] = col
            per_column[col] = {"method": cfg.get("method"), "threshold": cfg.get("threshold"),
                               "score": float(m["value"]), "drifted": False, "status": "ok"}
    for t in result["tests"]:
        col = by_metric.get(t.get("metric_config", {}).get("metric_id", ""))
        if col is not None:
            per_column[col]["drifted"] = str(getattr(t["status"], "value", t["status"])) == "FAIL"


def drift_report(current: pd.DataFrame, reference: pd.DataFrame, *, columns: list[str], out_dir: Path, name: str,
                 sample: int = 10_000, seed: int = 0) -> DriftResult:
    """Run Evidently's DataDriftPreset on ``columns`` and save ``name.html`` / ``name.json`` in ``out_dir``.

    Columns missing from either frame or all-null in either frame are reported as skipped instead of crashing
    Evidently; constant columns are compared normally (a constant that changes value is drift). Numeric and
    boolean columns are numerical, anything else categorical. ``sample`` rows per side at most, fixed seed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    per_column: dict[str, dict[str, Any]] = {}
    cur, ref = _sample(current, sample, seed), _sample(reference, sample, seed)
    usable, numeric = _usable_columns(cur, ref, columns, per_column)
    if not usable or cur.empty or ref.empty:
        reason = "no rows" if cur.empty or ref.empty else "no usable columns"
        _write_empty(html_path, json_path, name, reason, per_column)
        return DriftResult(0, 0, 0.0, [], html_path, json_path, per_column)

    snapshot = _run_preset(cur, ref, usable, numeric)
    _read_columns(snapshot.dict(), per_column)
    drifted = [c for c in usable if per_column[c]["drifted"]]
    share = len(drifted) / len(usable)
    atomic_write_text(html_path, _stable_html(snapshot.get_html_str(as_iframe=False), name))
    atomic_write_text(json_path, json.dumps({
        "name": name, "n_features": len(usable), "n_drifted": len(drifted), "share_drifted": share,
        "drifted_features": drifted, "per_column": per_column, "rows_current": len(cur),
        "rows_reference": len(ref), "evidently": json.loads(snapshot.json()),
    }, indent=2, default=str))
    return DriftResult(len(usable), len(drifted), share, drifted, html_path, json_path, per_column)


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
        "tvd": tvd, "chi2": chi2, "p_value": p_value, "n_current": int(n_cur), "n_reference": int(n_ref),
    }


def _row(week: date, reference: str, res: DriftResult) -> dict[str, Any]:
    return {"week_start": week, "reference": reference, "n_features": res.n_features,
            "n_drifted": res.n_drifted, "share_drifted": res.share_drifted,
            "drifted_features": ",".join(res.drifted_features), "html_path": str(res.html_path),
            "json_path": str(res.json_path)}


def weekly_drift(features_cur: pd.DataFrame, features_prev: pd.DataFrame | None, features_train: pd.DataFrame | None,
                 assignments_cur: pd.DataFrame, assignments_prev: pd.DataFrame | None, *, columns: list[str],
                 out_dir: Path, week_start: date, largest_segments: int = 3, sample: int = 10_000,
                 seed: int = 0) -> dict[str, Any]:
    """Write the week's drift reports: vs last week, vs the champion's training window, and per large segment.

    Per-segment reports compare this week's members of a segment with last week's members of the same
    (stable) segment id, i.e. whether the segment's profile is changing. Missing references (first week, no
    champion yet) are skipped. Returns ``rows`` shaped like ``monitoring.drift_summary`` plus segment shares.
    """
    tag = week_start.isoformat()
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"week_start": tag, "vs_previous": None, "vs_training": None, "segments": {},
                               "segment_shares": None}
    if features_prev is not None and len(features_prev):
        res = drift_report(features_cur, features_prev, columns=columns, out_dir=out_dir,
                           name=f"drift_{tag}_vs_previous", sample=sample, seed=seed)
        summary["vs_previous"] = res.summary()
        rows.append(_row(week_start, "previous_week", res))
    if features_train is not None and len(features_train):
        res = drift_report(features_cur, features_train, columns=columns, out_dir=out_dir,
                           name=f"drift_{tag}_vs_training", sample=sample, seed=seed)
        summary["vs_training"] = res.summary()
        rows.append(_row(week_start, "training", res))
    if assignments_prev is not None and len(assignments_prev) and features_prev is not None and len(features_prev):
        summary["segment_shares"] = segment_share_drift(assignments_cur["segment_id"],
                                                        assignments_prev["segment_id"])
        sizes = assignments_cur["segment_id"].dropna().value_counts()
        sizes = sizes[sizes.index.map(lambda s: int(s) >= 0)]
        top = sorted(sizes.items(), key=lambda kv: (-kv[1], int(cast(int, kv[0]))))[:largest_segments]
        for seg, _ in top:
            seg_i = int(cast(int, seg))
            cur_ids = assignments_cur.loc[assignments_cur["segment_id"] == seg, "account_id"]
            prev_ids = assignments_prev.loc[assignments_prev["segment_id"] == seg, "account_id"]
            cur_f = features_cur.loc[features_cur["account_id"].isin(cur_ids)]
            prev_f = features_prev.loc[features_prev["account_id"].isin(prev_ids)]
            if cur_f.empty or prev_f.empty:
                continue
            res = drift_report(cur_f, prev_f, columns=columns, out_dir=out_dir,
                               name=f"drift_{tag}_segment_{seg_i}", sample=sample, seed=seed)
            summary["segments"][str(seg_i)] = res.summary()
            rows.append(_row(week_start, f"segment:{seg_i}", res))
    shares = [r["share_drifted"] for r in rows if r["reference"] in ("previous_week", "training")]
    summary["max_share_drifted"] = max(shares) if shares else 0.0
    summary["rows"] = rows
    return summary
