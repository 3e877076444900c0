"""`seg segment`: cluster any CSV/Parquet table and write a summary, assignments and an offline report.

Ad-hoc inputs are arbitrary exports, so every failure mode (unreadable file, missing or non-numeric column,
too few rows) ends as an :class:`InputError` whose one-sentence message the CLI prints instead of a traceback.
The clustering itself reuses the pipeline's estimators, so the ad-hoc tool and the weekly model agree.
"""

import json
import warnings
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from seg_pipeline.segmentation.preprocess import SCALERS, make_scaler

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


class InputError(ValueError):
    """A user-supplied table or option is unusable; the message is one sentence meant for the user."""


def read_table(path: Path, *, string_cols: Iterable[str] = (), sep: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file; ``string_cols`` stay text so ids such as ``0001`` keep their zeros.

    ``sep`` overrides the separator (default: tab for ``.tsv``, else comma); ``whitespace`` splits on runs of
    blanks, as in fixed-width exports such as CDNOW's.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            df = pd.read_parquet(path)
        else:
            sep = _separator(sep) if sep else "\t" if suffix == ".tsv" else ","
            dtypes: dict[Hashable, type[str]] = dict.fromkeys(string_cols, str)
            # utf-8-sig accepts a BOM; the python engine is not needed, CRLF is handled by the C parser.
            df = pd.read_csv(path, sep=sep, dtype=dtypes or None, encoding="utf-8-sig", low_memory=False)
    except InputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        kind = "Parquet" if suffix in PARQUET_SUFFIXES else "CSV"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {path.name} as {kind}: {first}") from exc
    except Exception as exc:  # pyarrow raises its own error types for corrupt Parquet
        raise InputError(f"cannot read {path.name}: {type(exc).__name__}: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _separator(sep: str) -> str:
    r"""``whitespace`` and the escapes ``\t`` / ``tab`` as the shell passes them; any other text is the separator."""
    named = {"whitespace": r"\s+", "tab": "\t", "\\t": "\t"}
    if sep in named:
        return named[sep]
    if len(sep) != 1:
        raise InputError(f"separator {sep!r} is not one character; use e.g. ';', '|', tab or whitespace")
    return sep


def require_columns(df: pd.DataFrame, columns: Iterable[str], *, source: str) -> None:
    """Raise naming every missing column and listing the available ones."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        available = ", ".join(repr(c) for c in df.columns)
        names = ", ".join(repr(c) for c in missing)
        plural = "s" if len(missing) > 1 else ""
        raise InputError(f"column{plural} {names} not found in {source}; available columns: {available}")


def to_numeric_column(series: pd.Series, *, source: str) -> pd.Series:
    """Coerce a column to float; blanks become NaN, any other non-numeric text is an error naming a value."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    text = series.astype("string").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.mask(blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        example = text[bad].iloc[0]
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise InputError(
            f"column {series.name!r} in {source} is not numeric ({int(bad.sum())} non-numeric values, "
            f"e.g. {example!r} in data row {row})"
        )
    return values.astype(float)


ALGORITHMS = ("hybrid", "kmeans", "dbscan", "hdbscan")
DENSITY_ALGORITHMS = frozenset({"dbscan", "hdbscan"})
DEFAULT_K_RANGE = (2, 10)
SILHOUETTE_SAMPLE = 10_000
NAME_THRESHOLD_Z = 0.5  # |z| of a segment mean (in overall std units) needed to call a feature high/low
NAME_MAX_TERMS = 3
MIN_ROWS = 3

Progress = Callable[[str], None]


def cluster_metrics(X: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict[str, float | None]:
    """Quality metrics over the non-noise points; ``None`` where a metric is undefined (fewer than 2 clusters).

    ``silhouette_noise_as_cluster`` treats noise as one more label, the convention of the published
    Mall-customers DBSCAN reference. Silhouette uses a fixed-seed sample above 10 k rows (it is O(n²)).
    """
    labels = np.asarray(labels)
    mask = labels != -1
    Xc, lc = X[mask], labels[mask]
    n_clusters = len(np.unique(lc))
    out: dict[str, float | None] = {
        "silhouette": None,
        "davies_bouldin": None,
        "calinski_harabasz": None,
        "inertia": None,
        "silhouette_noise_as_cluster": None,
    }
    if n_clusters >= 1:
        inertia = sum(float(((Xc[lc == c] - Xc[lc == c].mean(axis=0)) ** 2).sum()) for c in np.unique(lc))
        out["inertia"] = round(inertia, 4)
    sample = SILHOUETTE_SAMPLE if len(Xc) > SILHOUETTE_SAMPLE else None
    if 2 <= n_clusters < len(Xc):
        out["silhouette"] = round(float(silhouette_score(Xc, lc, sample_size=sample, random_state=seed)), 6)
        out["davies_bouldin"] = round(float(davies_bouldin_score(Xc, lc)), 6)
        out["calinski_harabasz"] = round(float(calinski_harabasz_score(Xc, lc)), 6)
    n_all = len(np.unique(labels))
    if (~mask).any() and 2 <= n_all < len(X):
        sample = SILHOUETTE_SAMPLE if len(X) > SILHOUETTE_SAMPLE else None
        out["silhouette_noise_as_cluster"] = round(
            float(silhouette_score(X, labels, sample_size=sample, random_state=seed)), 6
        )
    return out


def describe_profile(z: pd.Series, *, threshold: float = NAME_THRESHOLD_Z, max_terms: int = NAME_MAX_TERMS) -> str:
    """Short name from a segment's standardized means, e.g. "high Annual Income, low Spending Score".

    A feature is "high"/"low" beyond ±``threshold`` std of the overall mean, else "mid". With at most
    ``max_terms`` features all are named; otherwise the ``max_terms`` most distinctive ones, or "average on
    all features" when none stands out. Terms keep the input's feature order so names read alike.
    """
    if len(z) > max_terms:
        strong = z[z.abs() >= threshold]
        if strong.empty:
            return "average on all features"
        keep = set(strong.abs().sort_values(ascending=False, kind="stable").index[:max_terms])
        z = z[[f for f in z.index if f in keep]]
    level = {f: "high" if v >= threshold else "low" if v <= -threshold else "mid" for f, v in z.items()}
    return ", ".join(f"{level[f]} {_short(f)}" for f in z.index)


def _short(feature: str) -> str:
    """Drop a trailing unit in brackets: "Annual Income (k$)" -> "Annual Income"."""
    head = feature.split(" (")[0].strip()
    return head or feature


def unique_names(names: list[str]) -> list[str]:
    """Suffix " 2", " 3", ... to repeated names, keeping the first as is."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return out


def parse_k(k: str | int, n_rows: int) -> int | None:
    """``"auto"`` -> ``None``; otherwise an int in [2, n_rows - 1]."""
    if isinstance(k, str) and k.strip().lower() == "auto":
        return None
    try:
        k_int = int(k)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--k must be 'auto' or an integer, got {k!r}") from exc
    if k_int < 2:
        raise InputError(f"--k must be at least 2, got {k_int}")
    if k_int >= n_rows:
        raise InputError(f"--k {k_int} needs more than {k_int} rows with complete features, got {n_rows}")
    return k_int


def load_features(
    input_path: Path, features: list[str], id_col: str | None
) -> tuple[pd.DataFrame, pd.Series, int]:
    """Read the table; return numeric complete feature rows, their ids and the number of skipped rows."""
    if not features:
        raise InputError("no features given; pass --features a,b,c")
    if len(set(features)) != len(features):
        raise InputError(f"features are repeated: {features}")
    df = read_table(input_path, string_cols=[id_col] if id_col else ())
    wanted = [*features, *([id_col] if id_col else [])]
    require_columns(df, wanted, source=input_path.name)
    numeric = pd.DataFrame({f: to_numeric_column(df[f], source=input_path.name) for f in features})
    ids = df[id_col].astype("string") if id_col else pd.Series(np.arange(len(df)), name="row")
    finite = np.isfinite(numeric.to_numpy()).all(axis=1)
    skipped = int((~finite).sum())
    numeric, ids = numeric[finite].reset_index(drop=True), ids[finite].reset_index(drop=True)
    if id_col and ids.duplicated().any():
        raise InputError(f"id column {id_col!r} has duplicate values, e.g. {ids[ids.duplicated()].iloc[0]!r}")
    constant = [f for f in features if numeric[f].nunique() <= 1]
    if len(constant) == len(features) and len(numeric):
        raise InputError(f"every feature is constant ({', '.join(constant)}); there is nothing to cluster")
    return numeric, ids, skipped


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by size (largest first, ties by first appearance); noise stays -1.

    Raw estimator labels are arbitrary; size order makes reruns with another seed comparable.
    """
    valid = labels[labels != -1]
    uniq, first, counts = np.unique(valid, return_index=True, return_counts=True)
    order = sorted(range(len(uniq)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(uniq[i]): new for new, i in enumerate(order)}
    return np.array([mapping.get(int(v), -1) for v in labels], dtype=int)


def _fit(
    algorithm: str,
    X: np.ndarray,
    *,
    k: int | None,
    eps: float | None,
    min_samples: int | None,
    seed: int,
    k_range: tuple[int, int],
) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """Fit the chosen estimator; return (labels with -1 = noise, estimator, micro-community labels)."""
    from seg_pipeline.segmentation.estimators import (
        DBSCANSegmenter,
        HDBSCANSegmenter,
        HybridSegmenter,
        KMeansSegmenter,
    )

    n_clusters: int | str = "auto" if k is None else k
    if algorithm == "kmeans":
        est = KMeansSegmenter(n_clusters=n_clusters, k_range=k_range, random_state=seed).fit(X)
        return np.asarray(est.labels_), est, None
    if algorithm == "dbscan":
        est = DBSCANSegmenter(eps=eps, min_samples=min_samples, random_state=seed).fit(X)
        return np.asarray(est.labels_), est, None
    if algorithm == "hdbscan":
        est = HDBSCANSegmenter(min_samples=min_samples, random_state=seed).fit(X)
        return np.asarray(est.labels_), est, None
    est = HybridSegmenter(
        n_clusters=n_clusters, k_range=k_range, eps=eps, min_samples=min_samples, random_state=seed
    ).fit(X)
    labels = np.where(np.asarray(est.is_outlier_, dtype=bool), -1, np.asarray(est.labels_))
    return labels, est, np.asarray(est.micro_labels_)


def _check_options(
    algorithm: str, scaler: str, eps: float | None, min_samples: int | None, k_max: int | None = None
) -> None:
    """Reject unusable options before the input is read."""
    if k_max is not None and k_max < DEFAULT_K_RANGE[0]:
        raise InputError(f"--k-max must be at least {DEFAULT_K_RANGE[0]}, got {k_max}")
    if eps is not None and algorithm == "hdbscan":
        raise InputError("--eps does not apply to --algorithm hdbscan (it needs no radius); drop --eps")
    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if scaler not in SCALERS:
        raise InputError(f"unknown scaler {scaler!r}; choose one of {', '.join(SCALERS)}")
    if eps is not None and not eps > 0:
        raise InputError(f"--eps must be positive, got {eps}")
    if min_samples is not None and min_samples < 1:
        raise InputError(f"--min-samples must be at least 1, got {min_samples}")


def _scaled(data: pd.DataFrame, scaler: str) -> np.ndarray:
    """Return the feature matrix in the space the clustering sees (raw units with ``--scaler none``)."""
    X = data.to_numpy(dtype=float)
    scaler_obj = make_scaler(scaler)
    return X if scaler_obj is None else np.asarray(scaler_obj.fit_transform(X), dtype=float)


def _fit_noting_warnings(
    algorithm: str, X: np.ndarray, **options: Any
) -> tuple[np.ndarray, Any, np.ndarray | None, list[str]]:
    """:func:`_fit`, then labels renumbered by size; estimator warnings become notes for the summary."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw_labels, est, micro = _fit(algorithm, X, **options)
    notes = sorted({str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)})
    return _relabel_by_size(raw_labels), est, micro, notes


def _segments(data: pd.DataFrame, labels: np.ndarray) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """(summary entry per segment, standardized profiles indexed by segment name), noise left out."""
    mean, std = data.mean(), data.std(ddof=0).replace(0.0, 1.0)
    segment_ids = sorted(set(labels.tolist()) - {-1})
    profiles = data.groupby(labels).mean().loc[segment_ids] if segment_ids else data.iloc[:0]
    profiles_z = (profiles - mean) / std
    names = unique_names([describe_profile(profiles_z.loc[s]) for s in segment_ids])
    sizes = pd.Series(labels).value_counts()
    segments = [
        {
            "id": int(s),
            "name": name,
            "size": int(sizes[s]),
            "profile": {f: round(float(v), 4) for f, v in profiles.loc[s].items()},
        }
        for s, name in zip(segment_ids, names, strict=True)
    ]
    return segments, profiles_z.set_axis(names)


def _fit_details(algorithm: str, est: Any, eps: float | None, min_samples: int | None) -> dict[str, Any]:
    """Summary entries about the fit itself: why this k, and the density parameters DBSCAN used."""
    details: dict[str, Any] = {}
    selection = getattr(est, "k_selection_", None)
    if selection is not None:
        details["k_reason"] = selection.reason
    if algorithm in ("dbscan", "hybrid"):
        details["eps"] = _maybe_float(getattr(est, "eps_", eps))
        details["min_samples"] = _maybe_int(getattr(est, "min_samples_", min_samples))
    if algorithm == "hdbscan":
        details["min_samples"] = _maybe_int(getattr(est, "min_samples_", min_samples))
        details["min_cluster_size"] = _maybe_int(getattr(est, "min_cluster_size_", None))
    return details


def k_edge_note(selection: Any) -> str | None:
    """Warn when auto-k chose the smallest or largest k it searched: the best k may lie outside the range."""
    if selection is None:
        return None
    searched = selection.scores["k"].astype(int)
    lo, hi, k = int(searched.min()), int(searched.max()), int(selection.k)
    if lo == hi:
        return None
    if k == hi:
        return (f"auto-k chose k={k}, the largest k searched ({lo}-{hi}); the data may hold more segments: "
                f"rerun with a larger --k-max (e.g. --k-max {2 * hi})")
    if k == lo:
        return (f"auto-k chose k={k}, the smallest k searched ({lo}-{hi}); the data may have little cluster "
                "structure: look at the silhouette by k in report.html or fix --k")
    return None


def _write_report(
    out_dir: Path, summary: dict[str, Any], X: np.ndarray, labels: np.ndarray, profiles_z: pd.DataFrame,
    selection: Any, *, k_range: tuple[int, int], seed: int,
) -> None:
    """``report.html``; a fixed-k K-means run still shows the k-selection curves for comparison."""
    from seg_pipeline.segmentation import report

    if selection is None and summary["algorithm"] not in DENSITY_ALGORITHMS:
        from seg_pipeline.segmentation.kselect import select_k

        selection = select_k(X, range(k_range[0], k_range[1] + 1), random_state=seed)
    html = report.segment_report_html(
        summary, X=X, labels=labels, profiles_z=profiles_z, selection=selection,
        min_samples=summary.get("min_samples"), seed=seed,
    )
    (out_dir / "report.html").write_text(html, encoding="utf-8")


def run_segment(
    input_path: Path,
    features: list[str],
    out_dir: Path,
    *,
    id_col: str | None = None,
    algorithm: str = "hybrid",
    k: str | int = "auto",
    scaler: str = "standard",
    eps: float | None = None,
    min_samples: int | None = None,
    k_max: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Cluster ``features`` of any table; write ``summary.json``, ``assignments.csv`` and ``report.html``.

    Rows with a missing or non-finite feature are skipped and counted in the summary (``rows_skipped``).
    Auto-k searches k from 2 to ``k_max`` (default 10, capped at rows - 1). ``summary["warnings"]`` carries
    the estimator's warnings (a density run with one cluster or >= 50 % noise) and a note when auto-k chose
    the edge of its range. Returns the summary dict that was written.
    """
    say = progress or (lambda _msg: None)
    input_path, out_dir = Path(input_path), Path(out_dir)
    _check_options(algorithm, scaler, eps, min_samples, k_max)
    say(f"reading {input_path.name}")
    data, ids, skipped = load_features(input_path, features, id_col)
    n = len(data)
    if n < MIN_ROWS:
        raise InputError(f"{input_path.name} has {n} rows with complete features; clustering needs at least {MIN_ROWS}")
    k_int = parse_k(k, n) if algorithm not in DENSITY_ALGORITHMS else None
    hi = DEFAULT_K_RANGE[1] if k_max is None else int(k_max)
    k_range = (DEFAULT_K_RANGE[0], max(DEFAULT_K_RANGE[0], min(hi, n - 1)))
    X = _scaled(data, scaler)
    say(f"fitting {algorithm} on {n} rows x {len(features)} features")
    labels, est, micro, notes = _fit_noting_warnings(
        algorithm, X, k=k_int, eps=eps, min_samples=min_samples, seed=seed, k_range=k_range
    )
    edge = k_edge_note(getattr(est, "k_selection_", None))
    notes = [*notes, edge] if edge else notes
    say("scoring")
    metrics = cluster_metrics(X, labels, seed=seed)
    if algorithm == "kmeans":
        metrics["inertia"] = round(float(est.inertia_), 4)
    segments, profiles_z = _segments(data, labels)
    summary: dict[str, Any] = {
        "input": input_path.name, "algorithm": algorithm, "features": list(features), "scaler": scaler,
        "seed": seed, "rows": n, "rows_skipped": skipped, "k": len(segments),
        **{m: metrics[m] for m in ("silhouette", "davies_bouldin", "calinski_harabasz", "inertia")},
        "silhouette_noise_as_cluster": metrics["silhouette_noise_as_cluster"],
        "n_noise": int((labels == -1).sum()), "segments": segments,
        **_fit_details(algorithm, est, eps, min_samples),
        **({"micro_communities": _micro_summary(data, labels, micro)} if micro is not None else {}),
        **({"warnings": notes} if notes else {}),
    }
    assignments = pd.DataFrame({(id_col or "row"): ids, "segment": labels})
    if micro is not None:
        assignments["micro_community"] = micro
    out_dir.mkdir(parents=True, exist_ok=True)
    assignments.to_csv(out_dir / "assignments.csv", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    say("writing report")
    selection = getattr(est, "k_selection_", None)
    _write_report(out_dir, summary, X, labels, profiles_z, selection, k_range=k_range, seed=seed)
    return summary


def _micro_summary(data: pd.DataFrame, labels: np.ndarray, micro: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for m in sorted(set(micro.tolist()) - {-1}):
        mask = micro == m
        parents = pd.Series(labels[mask]).value_counts()
        out.append(
            {
                "id": int(m),
                "segment": int(parents.index[0]),
                "size": int(mask.sum()),
                "profile": {f: round(float(v), 4) for f, v in data[mask].mean().items()},
            }
        )
    return out


def _maybe_float(v: Any) -> float | None:
    return None if v is None else round(float(v), 6)


def _maybe_int(v: Any) -> int | None:
    return None if v is None else int(v)
