"""Column documentation of every warehouse table an asset writes: name, type, meaning, constraints, lineage.

Descriptions come from where each column is defined: the source contracts for ``raw.*``, the feature registry
for ``features.account_features``, a short glossary for the tables written from Python. A SQL-model column that
passes a column through (same name, or the registry's name) inherits that column's description; any other one is
described by the columns its lineage says it is computed from. The Dagster wiring turns this into the UI's
column view; nothing here imports Dagster.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from seg_pipeline.features.registry import CONTEXT_COLUMNS, FEATURE_TABLE, FEATURES, SPARSE
from seg_pipeline.sources.column_docs import constraint_notes, contract_column_doc
from seg_pipeline.sources.contracts import CONTRACTS
from seg_pipeline.warehouse.column_lineage import ColumnRef, Table, ddl_columns, project_lineage
from seg_pipeline.warehouse.schema import TABLES


@dataclass(frozen=True)
class ColumnDoc:
    """One documented column."""

    name: str
    type: str
    description: str
    nullable: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDoc:
    """A table's documented columns (in table order) and, for SQL models, each column's upstream columns."""

    table: Table
    columns: tuple[ColumnDoc, ...]
    lineage: Mapping[str, tuple[ColumnRef, ...]] = field(default_factory=dict)

    def described(self, actual: tuple[tuple[str, str], ...]) -> "TableDoc":
        """Apply these docs to the columns a materialization really wrote (its order and types win)."""
        known = {c.name: c for c in self.columns}
        cols = tuple(
            ColumnDoc(n, t, known[n].description, known[n].nullable, known[n].notes)
            if n in known
            else ColumnDoc(n, t, "")
            for n, t in actual
        )
        return TableDoc(self.table, cols, self.lineage)


# Meaning of the columns of tables written from Python (the assets' own tables), and of columns every layer shares.
COMMON = {
    "account_id": "The customer account (the CRM's account id)",
    "week_start": "Monday (UTC) that starts the week the row describes",
}
GLOSSARY: dict[Table, dict[str, str]] = {
    ("raw", "feature_rules"): {
        "key_features": "The key product features configured for the week (SEG_KEY_FEATURES), lower-cased",
        "key_features_top_n": "How many top features by usage stand in when none of the key features occurs "
        "(SEG_KEY_FEATURES_TOP_N)",
    },
    # SQL-model columns whose meaning neither a source column nor the registry gives (no input, or a new measure)
    ("intermediate", "int_feature_usage"): {
        "event_rows": "Product events behind the row (raw events export)",
        "usage_rows": "Daily usage rows behind the row (usage aggregates export)",
    },
    ("intermediate", "int_key_features"): {
        "rule": "Why the feature is key this week: configured (SEG_KEY_FEATURES) or top_usage (the fallback)",
    },
    ("assignments", "account_segments"): {
        "segment_id": "Stable segment id (aligned to the previous champion's segments, so ids do not relabel)",
        "segment_name": "The segment's persona name at the time of assignment",
        "micro_community": "DBSCAN micro-community inside the segment (-1 = none)",
        "is_outlier": "True when DBSCAN marked the account as noise: shown apart, never silently assigned",
        "margin": "Distance gap to the second-nearest segment centre; small = borderline",
        "distance": "Distance to the assigned segment's centre (model's scaled feature space)",
        "model_version": "Registered model version that assigned the row (the week's @champion)",
        "run_id": "Dagster run that wrote the row",
    },
    ("monitoring", "segment_migrations"): {
        "from_segment": "Last week's segment id",
        "to_segment": "This week's segment id",
        "from_name": "Last week's segment name",
        "to_name": "This week's segment name",
        "kind": "What changed: segment move, outlier in/out, or micro-community change",
        "margin": "Distance gap to the second-nearest segment centre this week",
        "confirmed": "True once the move held for the hysteresis weeks or was decisive (alerts use only these)",
        "explanation": "Why, in words: the features that pulled the account towards its new segment",
    },
}


def _feature_docs() -> dict[str, ColumnDoc]:
    return {
        f.name: ColumnDoc(
            f.name,
            f.dtype,
            f.description,
            f.nullable,
            (f"range {f.valid_range[0]} .. {f.valid_range[1]}",) if f.valid_range else (),
        )
        for f in FEATURES
    }


def _raw_doc(source: str) -> TableDoc:
    contract = CONTRACTS[source]
    cols = [
        ColumnDoc(c.name, c.dtype, contract_column_doc(source, c.name), c.nullable, tuple(constraint_notes(c)))
        for c in contract.columns
    ]
    known = {c.name for c in cols}
    cols += [
        ColumnDoc(n, t, contract_column_doc(source, n), n != "week_start")
        for n, t in contract.raw_columns()
        if n not in known
    ]
    return TableDoc(("raw", source), tuple(cols))


def _glossary_doc(table: Table) -> TableDoc:
    words = {**COMMON, **GLOSSARY.get(table, {})}
    types = ddl_columns(TABLES[".".join(table)])
    return TableDoc(table, tuple(ColumnDoc(n, t, words.get(n, "")) for n, t in types.items()))


def _inherited(
    column: str, deps: tuple[ColumnRef, ...], docs: Mapping[Table, TableDoc], features: Mapping[str, ColumnDoc]
) -> str:
    """Describe a column: a pass-through keeps its source's meaning, a computed one names its inputs."""
    for schema, table, name in deps:
        upstream = docs.get((schema, table))
        if name == column and upstream is not None:
            found = next((c.description for c in upstream.columns if c.name == name and c.description), "")
            if found:
                return found
    if column in features:  # an input of the feature of that name, before the feature table's sparse rule
        return features[column].description.replace(SPARSE, "")
    if column in COMMON:
        return COMMON[column]
    if deps:
        return "Computed from " + ", ".join(f"{s}.{t}.{c}" for s, t, c in deps)
    return ""


@cache
def table_docs() -> dict[Table, TableDoc]:
    """Documentation of every raw, SQL-model and Python-written asset table, built once per process."""
    docs: dict[Table, TableDoc] = {("raw", s): _raw_doc(s) for s in CONTRACTS}
    docs[("raw", "feature_rules")] = _glossary_doc(("raw", "feature_rules"))
    features = _feature_docs()
    for table, traced in project_lineage().items():  # dependency order: upstream docs exist before their readers
        cols = []
        for name, sql_type in traced.types.items():
            if table == FEATURE_TABLE and name in features:
                cols.append(features[name])
                continue
            description = GLOSSARY.get(table, {}).get(name) or _inherited(name, traced.deps[name], docs, features)
            if table == FEATURE_TABLE and name in CONTEXT_COLUMNS:
                description += " (context: reported, never clustered)"
            cols.append(ColumnDoc(name, sql_type, description))
        docs[table] = TableDoc(table, tuple(cols), traced.deps)
    for table in GLOSSARY:
        if ".".join(table) in TABLES:
            docs.setdefault(table, _glossary_doc(table))
    return docs


def table_doc(schema: str, table: str) -> TableDoc | None:
    """Return the documentation of ``schema.table``, or None for a table nothing documents."""
    return table_docs().get((schema, table))
