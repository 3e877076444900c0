"""`seg rfm`'s offline ``report.html``: cleaning chain, RF segments, clusters and customer lifetime value.

Built like `seg segment`'s report (:mod:`seg_pipeline.segmentation.report`): one self-contained file with the
figures embedded as PNG, so it opens from a laptop or an e-mail attachment without network.
"""

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from seg_pipeline.segmentation.report import _figure, img_tag, k_selection_figure, projection_figure

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; } th, td { border: 1px solid #ccc; padding: 4px 8px; }
th { background: #f4f4f4; text-align: left; } img { max-width: 100%; } p.note { color: #8a5a00; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """Escaped HTML table of ``rows``; ``columns`` maps key -> header."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k)))}</td>" for k in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _params(params: Mapping[str, float] | None, published: str) -> str:
    if not params:
        return "<p>not fitted (see the notes)</p>"
    cells = "".join(f"<th>{html.escape(k)}</th><td>{v:.4f}</td>" for k, v in params.items())
    return f"<table><tr>{cells}</tr></table><p>{html.escape(published)}</p>"


def _clv_histogram(clv: pd.Series) -> Any:
    values = clv.dropna().to_numpy(dtype=float)
    if not len(values):
        return None
    fig = _figure(7.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    top = float(np.quantile(values, 0.99))
    ax.hist(np.clip(values, 0, top), bins=40, color="tab:blue")
    ax.set_xlabel("12-month CLV (capped at the 99th percentile)")
    ax.set_ylabel("customers")
    ax.set_title("Customer lifetime value")
    return fig


def _clv_section(clv: Mapping[str, Any], customers: pd.DataFrame) -> str:
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in clv.get("notes", []))
    seg_cols = {
        "segment": "segment",
        "customers": "customers",
        "clv_total": "CLV total",
        "clv_mean": "CLV mean",
        "clv_median": "CLV median",
        "p_alive_mean": "mean P(alive)",
    }
    parts = [
        "<h2>Customer lifetime value</h2>",
        f"<p>{html.escape(clv['model'])} fitted with {html.escape(clv['library'])} on purchases up to "
        f"{html.escape(str(clv['observation_end']))}; time in weeks, {html.escape(clv['purchases'])}. CLV is the "
        f"discounted expected spend over the next {clv['horizon_months']} months (monthly discount rate "
        f"{clv['monthly_discount_rate']}).</p>",
        notes,
        "<h3>BG/NBD (purchase rate and drop-out)</h3>",
        _params(
            clv.get("bg_nbd"),
            "Published for the CDNOW sample (39-week calibration): r=0.243, alpha=4.414, a=0.793, b=2.426.",
        ),
        "<h3>Gamma-Gamma (spend per purchase)</h3>",
        _params(
            clv.get("gamma_gamma"),
            "Published for the CDNOW sample: p=6.25, q=3.74, v=15.44. Frequency-spend "
            f"correlation among repeat customers: {clv.get('frequency_monetary_corr')}.",
        ),
    ]
    if clv.get("by_rf_segment"):
        parts += ["<h3>CLV per RF segment</h3>", _table(clv["by_rf_segment"], seg_cols)]
    if clv.get("by_kmeans_segment"):
        parts += ["<h3>CLV per K-means segment</h3>", _table(clv["by_kmeans_segment"], seg_cols)]
    if "clv" in customers:
        parts.append(img_tag(_clv_histogram(customers["clv"]), "CLV distribution"))
    return "".join(parts)


def rfm_report_html(
    summary: Mapping[str, Any], customers: pd.DataFrame, X: np.ndarray | None, selection: Any | None
) -> str:
    """Self-contained HTML for `seg rfm` from its summary, the per-customer table and the scaled RFM matrix."""
    title = f"RFM study of {summary['input']}"
    rf_rows = [{"segment": k, "customers": v} for k, v in summary["rf_segments"].items()]
    km, db = summary["kmeans"], summary["dbscan"]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{summary['customers']:,} customers as of {html.escape(summary['as_of'])}; value = "
        f"{html.escape(summary['value'])}; a purchase = {html.escape(summary['purchase'])}.</p>",
        "<h2>Cleaning</h2>",
        _table(summary["cleaning"], {"step": "step", "rows": "rows left"}),
        "<h2>RF segments (rule-based)</h2>",
        _table(rf_rows, {"segment": "segment", "customers": "customers"}),
    ]
    if "skipped" in km:
        parts.append(f'<p class="note">Clustering skipped: {html.escape(km["skipped"])}</p>')
    else:
        profile_rows = [{"segment": c, "size": km["sizes"].get(c), **p} for c, p in km["profile"].items()]
        parts += [
            "<h2>K-means on log-scaled R, F, M</h2>",
            f"<p>k = {km['k']} ({html.escape(str(km.get('k_reason') or ''))}); silhouette {km.get('silhouette')}.</p>",
            _table(
                profile_rows,
                {
                    "segment": "segment",
                    "size": "customers",
                    "recency": "mean recency (days)",
                    "frequency": "mean frequency",
                    "monetary": "mean monetary",
                },
            ),
        ]
        if selection is not None and getattr(selection, "scores", None) is not None:
            parts.append(img_tag(k_selection_figure(selection.scores, km["k"]), "elbow and silhouette by k"))
        if X is not None:
            parts.append(
                img_tag(
                    projection_figure(
                        X, customers["kmeans_segment"].to_numpy(), feature_names=["recency", "frequency", "monetary"]
                    ),
                    "customers in 2-D",
                )
            )
        parts += [
            "<h2>DBSCAN</h2>",
            f"<p>eps {db['eps']:.3g}, min_samples {db['min_samples']}: {db['n_clusters']} dense groups and "
            f"{db['n_noise']:,} noise customers ({db['noise_share']:.1%}).</p>",
        ]
    if "clv" in summary:
        parts.append(_clv_section(summary["clv"], customers))
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )
