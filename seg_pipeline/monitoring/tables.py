"""The monitoring stage's SQL: what it reads (assignments, features, the champion's training week) and its tables.

``monitoring.segment_migrations`` (the ledger) and ``monitoring.drift_summary`` are declared in
``warehouse/schema.py``; each week replaces its own rows, so a rerun never duplicates them.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from seg_pipeline.monitoring.explain import HISTORY_WEEKS
from seg_pipeline.monitoring.segment_moves import ReplayState
from seg_pipeline.warehouse.duck import SliceWrite, replace_partition, replace_slices, table_columns, table_exists
from seg_pipeline.weeks import previous_week

DRIFT_SUMMARY_COLUMNS = ["week_start", "reference", "n_features", "n_drifted", "share_drifted", "drifted_features",
                         "html_path", "json_path"]


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> pd.DataFrame:
    return con.execute(sql, params).fetchdf()


def _assignments(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    return _frame(con, "SELECT * FROM assignments.account_segments WHERE week_start = ?", [week])


def _features(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    return _frame(con, "SELECT * FROM features.account_features WHERE week_start = ?", [week])


@dataclass(frozen=True)
class MigrationInputs:
    """Everything the week's ledger depends on (see ``segment_moves.detect_migrations``)."""

    current: pd.DataFrame  # this week's assignments
    previous: pd.DataFrame  # last week's
    history: pd.DataFrame  # the earlier weeks' after the start state (all earlier weeks without one)
    features: pd.DataFrame  # this week's features
    features_history: pd.DataFrame  # the explanation window's features (4 weeks before)
    prior: pd.DataFrame | None  # the ledger as already written for the same weeks as ``history``
    state: ReplayState | None = None  # the hysteresis state of the latest earlier week that stored one


def _start_state(con: duckdb.DuckDBPyConnection, week: date) -> ReplayState | None:
    """Load the stored state of the latest week before ``week`` (None before the first stored one)."""
    if not table_exists(con, "monitoring", "migration_state"):
        return None
    start = con.execute("SELECT max(week_start) FROM monitoring.migration_state WHERE week_start < ?",
                        [week]).fetchall()[0][0]
    if start is None:
        return None
    state = _frame(con, "SELECT * EXCLUDE (week_start) FROM monitoring.migration_state WHERE week_start = ?", [start])
    names = _frame(con, "SELECT segment_id, segment_name FROM monitoring.migration_names WHERE week_start = ?",
                   [start])
    return ReplayState.from_frames(start, state, names)


def read_migration_inputs(con: duckdb.DuckDBPyConnection, week: date) -> MigrationInputs:
    """Read the ledger's inputs for ``week`` (features of the ``HISTORY_WEEKS`` weeks before it for explanations).

    Assignments and ledger rows are read only for the weeks after the latest stored state (normally none but
    last week), so the read is bounded by the week, not by the history.
    """
    state = _start_state(con, week)
    since = state.week.date() if state is not None else date(1, 1, 1)
    prior = (
        _frame(con, "SELECT * FROM monitoring.segment_migrations WHERE week_start > ? AND week_start < ?",
               [since, week])
        if table_exists(con, "monitoring", "segment_migrations")
        else None
    )
    return MigrationInputs(
        current=_assignments(con, week),
        previous=_assignments(con, previous_week(week)),
        history=_frame(con, "SELECT * FROM assignments.account_segments WHERE week_start > ? AND week_start < ?",
                       [since, week]),
        features=_features(con, week),
        features_history=_frame(
            con, "SELECT * FROM features.account_features WHERE week_start >= ? AND week_start < ?",
            [week - timedelta(weeks=HISTORY_WEEKS), week],
        ),
        prior=prior,
        state=state,
    )


def write_ledger(con: duckdb.DuckDBPyConnection, week: date, ledger: pd.DataFrame,
                 state: ReplayState | None = None) -> list[tuple[str, str]]:
    """Replace the week's ledger rows (and its hysteresis state) in one transaction; returns the ledger's columns."""
    writes = [SliceWrite("monitoring", "segment_migrations", ledger, {"week_start": week})]
    if state is not None:
        names = pd.DataFrame(sorted(state.names.items()), columns=["segment_id", "segment_name"])
        writes += [
            SliceWrite("monitoring", "migration_state", state.frame().assign(week_start=week), {"week_start": week}),
            SliceWrite("monitoring", "migration_names", names.assign(week_start=week), {"week_start": week}),
        ]
    replace_slices(con, writes)
    return table_columns(con, "monitoring", "segment_migrations")


@dataclass(frozen=True)
class DriftInputs:
    """This week's and last week's features and assignments, and the champion's training-week features."""

    features: pd.DataFrame
    features_prev: pd.DataFrame
    assignments: pd.DataFrame
    assignments_prev: pd.DataFrame
    features_train: pd.DataFrame | None  # None before any promotion
    assignments_train: pd.DataFrame | None = None  # the training week's segments (the stratum of its sample)


def read_drift_inputs(con: duckdb.DuckDBPyConnection, week: date) -> DriftInputs:
    """Read the drift reports' inputs; the training reference is the latest promoted week before ``week``."""
    train_week = con.execute(
        "SELECT max(week_start) FROM model.training_runs WHERE promoted AND week_start < ?", [week]
    ).fetchall()[0][0]
    prev = previous_week(week)
    return DriftInputs(
        features=_features(con, week),
        features_prev=_features(con, prev),
        assignments=_assignments(con, week),
        assignments_prev=_assignments(con, prev),
        features_train=_features(con, train_week) if train_week is not None else None,
        assignments_train=_assignments(con, train_week) if train_week is not None else None,
    )


def write_drift_summary(con: duckdb.DuckDBPyConnection, week: date, rows: pd.DataFrame) -> None:
    """Replace the week's ``monitoring.drift_summary`` rows (an empty frame clears a rerun's old rows)."""
    replace_partition(con, "monitoring", "drift_summary", rows, key=week)


def read_input_reference(con: duckdb.DuckDBPyConnection, week: date) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Read this week's features, the input-drift gate's reference week's and its label.

    The reference is the champion's training week (the latest promoted week before ``week``): a week the gate
    blocked never trains a champion, so a break that persists keeps failing until it is fixed or accepted. Before
    any promotion it is last week; with neither, there is no reference (None, empty frame).
    """
    promoted = con.execute(
        "SELECT max(week_start) FROM model.training_runs WHERE promoted AND week_start < ?", [week]
    ).fetchall()[0][0] if table_exists(con, "model", "training_runs") else None
    current = _features(con, week)
    if promoted is not None:
        return current, _features(con, promoted), f"the champion's training week {promoted}"
    prev = _features(con, previous_week(week))
    return current, prev, (f"last week {previous_week(week)}" if len(prev) else None)


# The one count of moves: `seg status`, the dashboard and the ledger's Dagster metadata (MigrationResult.moves /
# .confirmed) all count ``kind = 'segment'`` rows; micro-community changes and outliers entering or leaving are
# reported beside them, never inside them.
MOVE_COUNTS_SQL = """
    SELECT week_start,
           count(*) FILTER (WHERE kind = 'segment') AS segment_moves,
           count(*) FILTER (WHERE kind = 'segment' AND confirmed) AS confirmed_moves,
           count(*) FILTER (WHERE kind = 'micro_change') AS micro_changes,
           count(*) FILTER (WHERE kind = 'outlier_enter') AS outliers_entered,
           count(*) FILTER (WHERE kind = 'outlier_leave') AS outliers_left
    FROM monitoring.segment_migrations
    {where}
    GROUP BY week_start
    ORDER BY week_start
"""


def move_counts(con: duckdb.DuckDBPyConnection, week: date | None = None) -> pd.DataFrame:
    """Per week: segment moves, confirmed moves, micro-community changes, outliers entered and left.

    Empty (with these columns) when the ledger is not built or holds no row for ``week``.
    """
    cols = ["week_start", "segment_moves", "confirmed_moves", "micro_changes", "outliers_entered", "outliers_left"]
    if not table_exists(con, "monitoring", "segment_migrations"):
        return pd.DataFrame(columns=cols)
    sql = MOVE_COUNTS_SQL.format(where="WHERE week_start = ?" if week is not None else "")
    return con.execute(sql, [week] if week is not None else []).fetchdf()[cols]
