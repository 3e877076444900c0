"""Input drift: tell a broken upstream column (unit change, NULLs, a column gone flat) from a real population change.

A real population change moves *accounts*: many features shift together and the shape of each distribution
changes (some accounts grow, others shrink, zero shares move). An upstream break moves a *column*:

- **unit change** — every value multiplied by one constant (seconds → ms, USD → cents): the zero share and the
  accounts' order stay, and every quantile of the positive values moves by the same factor;
- **NULL jump** — a column dropped or renamed in an export, or a join that stopped matching: the NULL rate rises;
- **flat column** — an upstream NULL the SQL turns into an explicit 0 (or a default): a column that varied across
  accounts is one value for all of them.

Each rule is stated per feature against a reference week the pipeline accepted (the champion's training week,
else last week), so the block reason names the feature and the factor or rate. Thresholds (see
:class:`InputDriftRule`) sit far from what a week of genuine change can produce.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from seg_pipeline.outcomes import CheckOutcome, EngineerAlert, Json

INPUT_DRIFT_GATE = "input_drift_gate"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class InputDriftRule:
    """Thresholds of the input-drift gate, and why they sit where they do.

    - ``scale_factor`` 5: unit changes are ×10, ×60, ×100, ×1000 (or their inverse); a genuine week-on-week or
      champion-to-now change does not multiply *every* quantile of a feature's positive values by 5.
    - ``consistency`` 2: each of the 10/25/50/75/90 % quantiles of the positive values must have moved by the
      median factor within ×2 — a multiplication keeps the distribution's shape in log space, while a real
      shift (or time passing: tenure grows by +1 a week) moves parts of it by different factors.
    - ``min_positive`` 20: positive values needed on both sides before quantile ratios mean anything.
    - ``null_rate_jump`` 0.2: a NULL rate up by 20 points in a week is a missing column or a failed join;
      features are explicit values (zeros + ``has_activity``), so their NULL rate does not follow behaviour.
    - ``flat_min_share`` 0.2: a column is *gone flat* when one value holds every account now while at least 20 %
      of the reference's accounts had another value (so a rare count like P1 tickets is never judged flat).
    """

    scale_factor: float = 5.0
    consistency: float = 2.0
    min_positive: int = 20
    null_rate_jump: float = 0.2
    flat_min_share: float = 0.2


@dataclass(frozen=True)
class InputBreak:
    """One feature the rule judges broken upstream: which, how, and the figure that shows it."""

    feature: str
    kind: str  # "unit_change" | "null_rate" | "flat"
    detail: str
    factor: float | None = None  # current / reference, for a unit change
    null_rate: float | None = None  # this week's, for a NULL jump

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form for check metadata."""
        return {"feature": self.feature, "kind": self.kind, "detail": self.detail, "factor": self.factor,
                "null_rate": self.null_rate}


def scale_factor(current: pd.Series, reference: pd.Series, rule: InputDriftRule) -> float | None:
    """Return the constant factor between the two weeks' positive values, or None when the shift is not one factor.

    The median of the quantile ratios is returned only when it passes ``scale_factor`` and every quantile ratio
    lies within ``consistency`` of it.
    """
    cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    cur, ref = cur[np.isfinite(cur) & (cur > 0)], ref[np.isfinite(ref) & (ref > 0)]
    if min(cur.size, ref.size) < rule.min_positive:
        return None
    log_ratio = np.log(np.quantile(cur, QUANTILES)) - np.log(np.quantile(ref, QUANTILES))
    median = float(np.median(log_ratio))
    if abs(median) < np.log(rule.scale_factor) or np.max(np.abs(log_ratio - median)) > np.log(rule.consistency):
        return None
    return float(np.exp(median))


def _gone_flat(current: pd.Series, reference: pd.Series, rule: InputDriftRule) -> object | None:
    """Return the one value a column took for every account now, when the reference varied (else None)."""
    cur, ref = current.dropna(), reference.dropna()
    if cur.empty or ref.empty or cur.nunique() != 1:
        return None
    other_share = 1.0 - ref.value_counts(normalize=True).iloc[0]
    if other_share < rule.flat_min_share:
        return None
    value: object = cur.iloc[0]
    return value.item() if isinstance(value, np.generic) else value


def feature_breaks(current: pd.Series, reference: pd.Series, feature: str, rule: InputDriftRule, *,
                   signed: bool = False) -> list[InputBreak]:
    """Judge one feature; ``signed`` features (trend ratios) are scale-free, so only NULLs and flatness apply."""
    null_cur, null_ref = float(current.isna().mean()), float(reference.isna().mean())
    if null_cur - null_ref >= rule.null_rate_jump:
        return [InputBreak(feature, "null_rate", f"{feature}: NULL rate {null_cur:.0%} (reference {null_ref:.0%})",
                           null_rate=null_cur)]
    flat = _gone_flat(current, reference, rule)
    if flat is not None:
        return [InputBreak(feature, "flat", f"{feature}: every account has the value {flat!r} this week, "
                           "the reference varied (a missing upstream column turned into a default?)")]
    factor = None if signed else scale_factor(current, reference, rule)
    if factor is not None:
        return [InputBreak(feature, "unit_change", f"{feature}: values x{factor:.3g} of the reference at every "
                           "quantile (a unit change upstream?)", factor=factor)]
    return []


def input_breaks(current: pd.DataFrame, reference: pd.DataFrame, columns: Iterable[str], rule: InputDriftRule,
                 *, signed: Iterable[str] = ()) -> list[InputBreak]:
    """Every feature of ``columns`` present in both weeks that the rule judges broken upstream."""
    signed_set = set(signed)
    out: list[InputBreak] = []
    for col in columns:
        if col in current.columns and col in reference.columns:
            out.extend(feature_breaks(current[col], reference[col], col, rule, signed=col in signed_set))
    return out


def _alert(week: date, breaks: list[InputBreak], reference: str) -> EngineerAlert:
    lines = "\n".join(f"- {b.detail}" for b in breaks)
    body = (f"Input drift in week {week} against {reference}: the features below look broken upstream, not "
            f"changed by customers.\n{lines}\nThe week's model, CRM write-back and account-manager alerts are "
            "held back. Fix the export or its mapping and re-run the week; if the change is deliberate, accept it "
            f"with SEG_SINKS_OVERRIDE=1 seg run {week}.")
    return EngineerAlert(week, reason="input_drift", subject=f"[seg_pipeline] input drift in {week}: "
                         + ", ".join(b.feature for b in breaks), body=body)


def input_drift_check(week: date, breaks: list[InputBreak], reference: str | None, rule: InputDriftRule, *,
                      override: bool = False) -> CheckOutcome:
    """Judge the gate: fail (blocking, engineer alert) when any feature broke, unless deliberately overridden."""
    blocked = bool(breaks) and not override
    if reference is None:
        description = "no reference week yet (first week): nothing to compare"
    elif breaks:
        description = "broken upstream: " + "; ".join(b.detail for b in breaks) + (
            " (overridden: SEG_SINKS_OVERRIDE)" if override else "")
    else:
        description = f"no feature broken vs {reference}"
    return CheckOutcome(
        INPUT_DRIFT_GATE, not blocked,
        metadata={"reference": reference or "none", "breaks": Json([b.as_dict() for b in breaks]),
                  "broken_features": ",".join(b.feature for b in breaks) or "(none)", "override": override,
                  "thresholds": Json({"scale_factor": rule.scale_factor, "consistency": rule.consistency,
                                      "null_rate_jump": rule.null_rate_jump, "flat_min_share": rule.flat_min_share,
                                      "min_positive": rule.min_positive})},
        description=description,
        error=True,
        alert=_alert(week, breaks, reference or "none") if blocked else None,
    )
