"""``assignments.*`` table I/O: the week's account segments and the catalog of every segment id ever issued."""

import json
from datetime import date

import duckdb
import pandas as pd

from seg_pipeline.segmentation.model import SegmentationModel
from seg_pipeline.warehouse.duck import replace_partition, table_columns, transaction


def week_segments(con: duckdb.DuckDBPyConnection, week: date) -> pd.DataFrame:
    """(account_id, segment_id) published for ``week`` (empty when the week was never assigned)."""
    return con.execute(
        "SELECT account_id, segment_id FROM assignments.account_segments WHERE week_start = ?", [week]
    ).fetchdf()


def write_week_assignments(con: duckdb.DuckDBPyConnection, week: date, assigned: pd.DataFrame) -> None:
    """Replace the week's rows of ``assignments.account_segments`` in one transaction."""
    replace_partition(con, "assignments", "account_segments", assigned, key=week)


def account_segments_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(name, type) of ``assignments.account_segments``, for the UI's column schema."""
    return table_columns(con, "assignments", "account_segments")


def _profile_json(model: SegmentationModel, segment_id: int) -> str:
    return json.dumps({k: round(float(v), 4) for k, v in model.profiles_z.get(segment_id, {}).items()})


def update_catalog(con: duckdb.DuckDBPyConnection, model: SegmentationModel, week: date, version: str) -> int:
    """Upsert the serving model's segments, mark ids it no longer has retired; returns the catalog size.

    One transaction, so the catalog never shows a half-updated week (an id both retired and re-activated).
    """
    with transaction(con):
        for sid in model.segment_ids:
            con.execute(
                """
                INSERT INTO assignments.segment_catalog VALUES (?, ?, ?, ?, 'active', ?, ?)
                ON CONFLICT (segment_id) DO UPDATE SET
                    segment_name = excluded.segment_name,
                    first_week = least(segment_catalog.first_week, excluded.first_week),
                    last_week = greatest(segment_catalog.last_week, excluded.last_week),
                    status = 'active', profile_json = excluded.profile_json, model_version = excluded.model_version
                """,
                [int(sid), model.segment_names.get(sid, f"Segment {sid}"), week, week, _profile_json(model, sid),
                 version],
            )
        con.execute(
            "UPDATE assignments.segment_catalog SET status = 'retired' "
            "WHERE segment_id NOT IN (SELECT unnest(?::INTEGER[])) AND last_week <= ?",
            [[int(sid) for sid in model.segment_ids], week],
        )
    return int(con.execute("SELECT count(*) FROM assignments.segment_catalog").fetchall()[0][0])
