"""Daily usage aggregates (``product_usage``): the contract, its quarantine reasons and the loader's reconciliation."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seg_pipeline.sources.contracts import CONTRACTS, QUARANTINE_COLUMNS
from seg_pipeline.sources.landing import ContractError, LoadResult, load_week

WEEK = date(2026, 1, 5)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SCHEMA = pa.schema([
    ("account_id", pa.string()), ("usage_date", pa.date32()), ("feature_name", pa.string()),
    ("event_type", pa.string()), ("usage_count", pa.int64()), ("duration_seconds", pa.float64()),
    ("active_users", pa.int32()),
])


def usage(i: int, day: int = 0, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "account_id": f"acc_{i % 7:06d}", "usage_date": WEEK + timedelta(days=day), "feature_name": f"Feature {i}",
        "event_type": "feature_use", "usage_count": 3 + i, "duration_seconds": 12.5, "active_users": 2,
    }
    row.update(over)
    return row


def write_usage(landing: Path, day: int, rows: list[dict[str, object]], schema: pa.Schema = SCHEMA) -> Path:
    path = landing / CONTRACTS["product_usage"].file_name(WEEK + timedelta(days=day))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def reasons(result: LoadResult) -> dict[tuple[str, int], str]:
    return {(f[-18:-8], int(r)): reason for f, r, reason in
            zip(result.quarantine["source_file"], result.quarantine["source_row"], result.quarantine["reason"],
                strict=True)}


def assert_reconciled(result: LoadResult) -> None:
    assert result.rows_in == len(result.rows) + len(result.quarantine) + result.duplicates_dropped
    assert result.reconciled
    assert list(result.quarantine.columns) == [name for name, _ in QUARANTINE_COLUMNS]


def test_the_contract_is_the_documented_shape():
    contract = CONTRACTS["product_usage"]
    assert contract.names == ("account_id", "usage_date", "feature_name", "event_type", "usage_count",
                              "duration_seconds", "active_users")
    assert contract.key == ("account_id", "usage_date", "feature_name", "event_type")
    assert contract.file_name(WEEK) == "product_usage/usage_2026-01-05.parquet"
    assert [c.name for c in contract.columns if not c.required] == ["duration_seconds", "active_users"]
    documented = (Path(__file__).parents[2] / "docs" / "contracts.md").read_text()
    assert "product_usage/usage_YYYY-MM-DD.parquet" in documented


def test_bad_usage_rows_get_their_reasons_and_every_row_is_accounted_for(tmp_path):
    day0 = [usage(i) for i in range(40)]
    day0[1] = usage(1, account_id=None)
    day0[2] = usage(2, feature_name=None)
    day0[3] = usage(3, usage_count=-4)
    day0[4] = usage(4, event_type="purchase")
    day0[5] = usage(5, day=1)  # a Tuesday row in Monday's file
    day0[6] = usage(6, duration_seconds=float("inf"))
    day0[7] = usage(7, active_users=-1)
    day0[8] = usage(8, usage_count=None)
    day0.append(dict(day0[10]))  # exact repeat of a key: dropped and counted
    day0.append({**day0[11], "usage_count": 999})  # same key, another count: both copies quarantined
    write_usage(tmp_path, 0, day0)
    write_usage(tmp_path, 1, [usage(i, day=1) for i in range(20)])
    result = load_week("product_usage", tmp_path, WEEK, now=NOW, reject_rate=0.5)
    assert reasons(result) == {
        ("2026-01-05", 2): "null_key:account_id", ("2026-01-05", 3): "null_key:feature_name",
        ("2026-01-05", 4): "out_of_domain:usage_count", ("2026-01-05", 5): "out_of_domain:event_type",
        ("2026-01-05", 6): "ts_out_of_range", ("2026-01-05", 7): "non_finite:duration_seconds",
        ("2026-01-05", 8): "out_of_domain:active_users", ("2026-01-05", 9): "null_value:usage_count",
        ("2026-01-05", 12): "duplicate_key_conflict", ("2026-01-05", 42): "duplicate_key_conflict",
    }
    assert result.duplicates_dropped == 1
    assert len(result.rows) == 42 + 20 - 10 - 1
    assert_reconciled(result)
    assert str(result.rows["usage_count"].dtype) == "Int64"


def test_any_vocabulary_loads_verbatim(tmp_path):
    names = [f"Module {i} – Ünïcode" for i in range(40)]
    write_usage(tmp_path, 2, [usage(i, day=2, feature_name=name) for i, name in enumerate(names)])
    result = load_week("product_usage", tmp_path, WEEK, now=NOW)
    assert sorted(result.rows["feature_name"]) == sorted(names)
    assert result.quarantine.empty


def test_optional_columns_may_be_absent_and_dates_may_be_text(tmp_path):
    schema = pa.schema([(n, pa.string()) for n in ("account_id", "usage_date", "feature_name", "event_type")]
                       + [("usage_count", pa.int64())])
    rows = [{k: (str(v) if k == "usage_date" else v) for k, v in usage(i, day=3).items()
             if k in schema.names} for i in range(5)]
    write_usage(tmp_path, 3, rows, schema)
    result = load_week("product_usage", tmp_path, WEEK, now=NOW)
    assert len(result.rows) == 5
    assert result.rows["active_users"].isna().all()
    assert result.rows["duration_seconds"].isna().all()


def test_future_days_are_out_of_range(tmp_path):
    write_usage(tmp_path, 4, [usage(i, day=4) for i in range(5)])
    result = load_week("product_usage", tmp_path, WEEK, now=datetime(2026, 1, 8, 12, tzinfo=UTC), reject_rate=1.0)
    assert set(result.quarantine["reason"]) == {"ts_out_of_range"}
    assert result.rows.empty


def test_a_missing_required_column_rejects_the_file(tmp_path):
    schema = pa.schema([f for f in SCHEMA if f.name != "usage_count"])
    write_usage(tmp_path, 0, [{k: v for k, v in usage(i).items() if k != "usage_count"} for i in range(3)], schema)
    with pytest.raises(ContractError, match=r"usage_2026-01-05\.parquet: required column 'usage_count'"):
        load_week("product_usage", tmp_path, WEEK, now=NOW)
