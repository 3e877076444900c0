"""Which columns the weekly model clusters on: ``SEG_FEATURES``, validated against the feature registry.

Syntax (see docs/features.md):

- empty: the registry's default clustering set (numeric features with ``clustering=True``);
- ``+name`` / ``-name`` items, comma-separated: add to / remove from that default (``+seats,-exports``);
- plain names without signs: exactly these features (``active_days,seats,mrr``); mixing both forms is an error.

Firmographics (plan, employee_band, industry, region) are off by default and join only when named: plan and
employee band are ordered, so they are encoded as their rank and scaled like any numeric feature; industry and
region are one-hot over their most frequent values, weighted so that two accounts of different industries are
one standard deviation apart, as far as one numeric feature can put them. Segments therefore still follow
behaviour; a firmographic can shift a border, not make the segmentation.
"""

from dataclasses import dataclass

from seg_pipeline.features import registry
from seg_pipeline.sources.contracts import EMPLOYEE_BANDS, PLANS

# ordered firmographics -> their levels, lowest first (unknown values are imputed with the median rank)
ORDINAL_LEVELS: dict[str, tuple[str, ...]] = {"plan": PLANS, "employee_band": EMPLOYEE_BANDS}
# unordered firmographics -> one-hot over the top categories
ONEHOT_FIRMOGRAPHICS: tuple[str, ...] = ("industry", "region")
FIRMOGRAPHICS: tuple[str, ...] = (*ORDINAL_LEVELS, *ONEHOT_FIRMOGRAPHICS)
MIN_FEATURES = 2  # fewer columns than this cannot describe behaviour: the week is blocked, not trained


@dataclass(frozen=True)
class FeatureSet:
    """The clustering columns by encoding: numeric (scaled), ordinal (rank, scaled) and one-hot."""

    numeric: tuple[str, ...]
    ordinal: tuple[str, ...] = ()
    onehot: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column the model reads, in encoding order."""
        return (*self.numeric, *self.ordinal, *self.onehot)


def default_numeric() -> tuple[str, ...]:
    """Return the registry's default clustering set: numeric features flagged ``clustering``."""
    return tuple(f for f in registry.feature_names(clustering_only=True) if registry.get(f).kind == "numeric")


def known_names() -> tuple[str, ...]:
    """Names ``SEG_FEATURES`` accepts: numeric and flag features of the registry, then the firmographics."""
    usable = tuple(f.name for f in registry.FEATURES if f.kind in ("numeric", "flag"))
    return (*usable, *FIRMOGRAPHICS)


def _items(spec: str) -> list[str]:
    return [item.strip() for item in spec.replace(";", ",").split(",") if item.strip()]


def _check_known(names: list[str]) -> None:
    known = known_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"SEG_FEATURES names unknown feature(s) {', '.join(map(repr, unknown))}; "
            f"use names from: {', '.join(known)}"
        )


def _chosen(spec: str) -> list[str]:
    """Apply the spec to the default set, keeping registry order for defaults and spec order for additions."""
    items = _items(spec)
    if not items:
        return list(default_numeric())
    signed = [i for i in items if i[0] in "+-"]
    if signed and len(signed) != len(items):
        raise ValueError(
            f"SEG_FEATURES={spec!r} mixes +/- changes with plain names; write either '+a,-b' (change the default "
            "set) or 'a,b,c' (exactly these features)"
        )
    _check_known([i.lstrip("+-").strip() for i in items])
    if not signed:
        return list(dict.fromkeys(items))
    chosen = list(default_numeric())
    for item in items:
        name = item[1:].strip()
        if item[0] == "+" and name not in chosen:
            chosen.append(name)
        elif item[0] == "-" and name in chosen:
            chosen.remove(name)
    return chosen


def parse_features(spec: str | None) -> FeatureSet:
    """Resolve a ``SEG_FEATURES`` value into the clustering columns; bad specs fail with a one-sentence fix."""
    chosen = _chosen(spec or "")
    if len(chosen) < MIN_FEATURES:
        raise ValueError(
            f"SEG_FEATURES={spec!r} leaves {len(chosen)} clustering feature(s) ({', '.join(chosen) or 'none'}); "
            f"keep at least {MIN_FEATURES}"
        )
    return FeatureSet(
        numeric=tuple(c for c in chosen if c not in FIRMOGRAPHICS),
        ordinal=tuple(c for c in chosen if c in ORDINAL_LEVELS),
        onehot=tuple(c for c in chosen if c in ONEHOT_FIRMOGRAPHICS),
    )
