"""Segmentation figures (k selection, silhouette, profiles, 2-D projection) and the offline ad-hoc report.

Figures are built on ``matplotlib.figure.Figure`` with the Agg renderer and no pyplot, so they work in
Dagster worker threads and headless CI, and never touch global backend state. The HTML embeds every image as
base64 PNG: the report opens offline from a file or an e-mail attachment.
"""

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_samples
from sklearn.neighbors import NearestNeighbors

NOISE_COLOR = "#b0b0b0"
PLOT_SAMPLE = 5_000  # points drawn in scatter/silhouette plots; keeps the PNGs small at any n


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """Render to PNG without a timestamp/software tag, so the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _sample_idx(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def k_selection_figure(scores: pd.DataFrame, chosen_k: int | None = None) -> Figure:
    """Elbow (inertia) and silhouette against k, the chosen k marked."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(scores["k"], scores["inertia"], "o-", color="tab:blue", label="inertia")
    ax.set_xlabel("k")
    ax.set_ylabel("inertia (within-cluster SS)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(scores["k"], scores["silhouette"], "s--", color="tab:orange", label="silhouette")
    ax2.set_ylabel("silhouette", color="tab:orange")
    if chosen_k is not None:
        ax.axvline(chosen_k, color="grey", linestyle=":", label=f"chosen k={chosen_k}")
    ax.set_title("Choosing k: elbow and silhouette")
    ax.legend(loc="upper center")
    return fig


def k_distance_figure(X: np.ndarray, min_samples: int, eps: float | None = None, *, seed: int = 0) -> Figure:
    """Sorted distance to the ``min_samples``-th neighbour, with the eps DBSCAN used (see ``estimate_eps``)."""
    idx = _sample_idx(len(X), PLOT_SAMPLE, seed)
    k = max(1, min(int(min_samples), len(idx) - 1))
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(X[idx]).kneighbors(X[idx])
    curve = np.sort(dist[:, -1])
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(len(curve)), curve)
    if eps is not None:
        ax.axhline(eps, color="tab:red", linestyle=":", label=f"eps={eps:.3g}")
        ax.legend()
    ax.set_xlabel("points sorted by distance")
    ax.set_ylabel(f"distance to neighbour {k}")
    ax.set_title("DBSCAN k-distance curve")
    return fig


def silhouette_figure(X: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> Figure | None:
    """Per-point silhouette grouped by segment (noise excluded); None when fewer than 2 segments."""
    mask = np.asarray(labels) != -1
    idx = _sample_idx(int(mask.sum()), PLOT_SAMPLE, seed)
    Xc, lc = X[mask][idx], np.asarray(labels)[mask][idx]
    if not 2 <= len(np.unique(lc)) < len(lc):
        return None
    values = silhouette_samples(Xc, lc)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    y, ticks = 0, []
    for c in np.unique(lc):
        v = np.sort(values[lc == c])
        ax.fill_betweenx(np.arange(y, y + len(v)), 0, v, alpha=0.8)
        ticks.append((y + len(v) / 2, str(c)))
        y += len(v) + 10
    ax.axvline(float(values.mean()), color="tab:red", linestyle="--", label=f"mean {values.mean():.3f}")
    ax.set_yticks([t for t, _ in ticks], [lab for _, lab in ticks], fontsize=8)
    ax.set_ylabel("segment")
    ax.set_xlabel("silhouette coefficient")
    ax.set_title("Silhouette by segment")
    ax.legend()
    return fig


def profile_heatmap_figure(profiles_z: pd.DataFrame) -> Figure:
    """Segments × features heatmap of standardized means (0 = overall mean)."""
    n_seg, n_feat = profiles_z.shape
    fig = _figure(max(6.0, 0.6 * n_feat + 3), max(3.0, 0.45 * n_seg + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    vals = profiles_z.to_numpy(dtype=float)
    lim = max(1.0, float(np.nanmax(np.abs(vals)))) if vals.size else 1.0
    im = ax.imshow(vals, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(n_feat), [str(c) for c in profiles_z.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_seg), [str(i) for i in profiles_z.index], fontsize=8)
    if n_seg * n_feat <= 200:
        for i in range(n_seg):
            for j in range(n_feat):
                ax.text(j, i, f"{vals[i, j]:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="std. deviations from the mean")
    ax.set_title("Segment profiles")
    return fig


def projection_figure(
    X: np.ndarray, labels: np.ndarray, *, feature_names: list[str] | None = None, seed: int = 0
) -> Figure:
    """2-D scatter coloured by segment: raw axes for two features, else the first two PCA components."""
    labels = np.asarray(labels)
    names = feature_names or [f"feature {i + 1}" for i in range(X.shape[1])]
    if X.shape[1] == 2:
        P, axes = X, (names[0], names[1])
    elif X.shape[1] == 1:
        P, axes = np.column_stack([X[:, 0], np.zeros(len(X))]), (names[0], "")
    else:
        pca = PCA(n_components=2, random_state=seed).fit(X)
        P = pca.transform(X)
        ratio = pca.explained_variance_ratio_
        axes = (f"PC1 ({ratio[0]:.0%})", f"PC2 ({ratio[1]:.0%})")
    idx = _sample_idx(len(P), PLOT_SAMPLE, seed)
    P, lab = P[idx], labels[idx]
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    noise = lab == -1
    if noise.any():
        ax.scatter(P[noise, 0], P[noise, 1], s=10, c=NOISE_COLOR, marker="x", label="noise / outlier")
    for c in np.unique(lab[~noise]):
        sel = lab == c
        ax.scatter(P[sel, 0], P[sel, 1], s=12, alpha=0.75, label=str(c))
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set_title("Segments in 2-D")
    return fig


def img_tag(fig: Figure | None, alt: str) -> str:
    """Embed ``fig`` as an inline PNG ``<img>``, or a note when there is no figure."""
    if fig is None:
        return f"<p><em>{html.escape(alt)}: not available (fewer than two segments).</em></p>"
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def segment_report_html(
    summary: dict[str, Any],
    *,
    X: np.ndarray,
    labels: np.ndarray,
    profiles_z: pd.DataFrame,
    selection: Any | None,
    min_samples: int | None,
    seed: int = 0,
) -> str:
    """Self-contained HTML for `seg segment`: metrics, segment table and the four figures."""
    if selection is not None:
        choose = img_tag(k_selection_figure(selection.scores, summary.get("k")), "elbow and silhouette by k")
    else:
        choose = img_tag(
            k_distance_figure(X, min_samples or 2 * X.shape[1], summary.get("eps"), seed=seed), "k-distance"
        )
    metric_rows = "".join(
        f"<tr><th>{html.escape(m)}</th><td>{html.escape(str(summary.get(m)))}</td></tr>"
        for m in ("algorithm", "k", "silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "n_noise",
                  "rows", "rows_skipped", "scaler", "eps", "min_samples", "seed")
        if m in summary
    )
    features = summary["features"]
    head = "".join(f"<th>{html.escape(f)}</th>" for f in features)
    seg_rows = "".join(
        "<tr>"
        f"<td>{s['id']}</td><td>{html.escape(s['name'])}</td><td>{s['size']}</td>"
        + "".join(f"<td>{s['profile'][f]:.4g}</td>" for f in features)
        + "</tr>"
        for s in summary["segments"]
    )
    reason = html.escape(summary.get("k_reason") or "")
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in summary.get("warnings", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Segments of {html.escape(summary["input"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f4f4f4; text-align: left; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Segments of {html.escape(summary["input"])}</h1>
<p>Features: {html.escape(", ".join(features))}.</p>
<h2>Quality</h2><table>{metric_rows}</table>
{f"<ul>{warn}</ul>" if warn else ""}
<h2>Segments</h2>
<table><tr><th>id</th><th>name</th><th>size</th>{head}</tr>{seg_rows}</table>
<p>Noise / outliers (segment -1): {summary.get("n_noise", 0)} rows.</p>
<h2>Choosing the number of segments</h2>
<p>{reason}</p>
{choose}
<h2>Silhouette</h2>
{img_tag(silhouette_figure(X, labels, seed=seed), "silhouette by segment")}
<h2>Profiles</h2>
{img_tag(profile_heatmap_figure(profiles_z) if len(profiles_z) else None, "profile heatmap")}
<h2>2-D view</h2>
{img_tag(projection_figure(X, labels, feature_names=features, seed=seed), "2-D scatter")}
</body></html>
"""
