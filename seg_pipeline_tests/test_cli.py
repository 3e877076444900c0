"""The `seg` command: self-explaining help, one-sentence errors, ad-hoc studies end to end."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from seg_pipeline.cli import main

MALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mall_customers" / "Mall_Customers.csv"
COMMANDS = ("demo", "simulate", "run", "ui", "status", "features", "evaluate", "dashboard", "segment", "rfm")


def test_top_level_help_lists_every_command_with_examples():
    out = CliRunner().invoke(main, ["--help"])
    assert out.exit_code == 0
    for cmd in COMMANDS:
        assert cmd in out.output
    assert "seg demo" in out.output
    assert "Quick start" in out.output


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_subcommand_explains_itself(cmd):
    out = CliRunner().invoke(main, [cmd, "--help"])
    assert out.exit_code == 0
    assert len(out.output.splitlines()) > 4


def test_errors_are_one_sentence_with_a_fix_and_no_traceback(tmp_path):
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "status"])
    assert out.exit_code != 0
    assert "no warehouse" in out.output
    assert "fix:" in out.output
    assert "Traceback" not in out.output
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "run", "2026-01-06"])
    assert out.exit_code != 0
    assert "Monday" in out.output
    assert "Traceback" not in out.output


def test_features_lists_the_registry():
    out = CliRunner().invoke(main, ["features"])
    assert out.exit_code == 0
    assert "weekly_active_users" in out.output
    assert "support_load_score" in out.output


@pytest.mark.skipif(not MALL.exists(), reason="shared Mall-customers data not present")
def test_segment_reproduces_the_mall_customers_reference(tmp_path):
    out = CliRunner().invoke(main, [
        "segment", str(MALL), "--features", "Annual Income (k$),Spending Score (1-100)", "--id-col", "CustomerID",
        "--algorithm", "kmeans", "--k", "5", "--scaler", "none", "--seed", "0", "--out", str(tmp_path / "out"),
    ])
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["k"] == 5
    assert round(summary["silhouette"], 4) == 0.5539
    assert sorted(s["size"] for s in summary["segments"]) == [22, 23, 35, 39, 81]
    assignments = pd.read_csv(tmp_path / "out" / "assignments.csv")
    assert list(assignments.columns) == ["CustomerID", "segment"]
    assert len(assignments) == 200
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000


def test_segment_reports_a_missing_column_clearly(tmp_path):
    data = tmp_path / "t.csv"
    pd.DataFrame({"a": range(20), "b": range(20)}).to_csv(data, index=False)
    out = CliRunner().invoke(main, ["segment", str(data), "--features", "a,zzz", "--out", str(tmp_path / "o")])
    assert out.exit_code != 0
    assert "zzz" in out.output
    assert "Traceback" not in out.output


@pytest.mark.e2e
def test_demo_status_and_evaluate_on_the_tiny_home(demo_home):
    home = str(demo_home["home"])
    out = CliRunner().invoke(main, ["--home", home, "status"])
    assert out.exit_code == 0, out.output
    assert demo_home["weeks"][-1] in out.output
    assert "segment" in out.output
    out = CliRunner().invoke(main, ["--home", home, "evaluate", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert len(result["per_week"]) == len(demo_home["weeks"])
    assert 0 < result["mean_ari"] <= 1


def test_import_maps_a_saas_stack_into_the_landing_zone(tmp_path):
    fixtures = Path(__file__).parent / "sources" / "fixtures" / "byo"
    home = tmp_path / "home"
    out = CliRunner().invoke(main, ["--home", str(home), "import", str(fixtures), "--mapping",
                                    str(fixtures / "stack_a.yaml"), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    for source in ("product_events", "crm_accounts", "support_tickets"):
        rep = report["sources"][source]
        assert rep["rows_in"] == rep["written"] + rep["rejected"] + rep["skipped"]
    assert list((home / "landing" / "product_events").glob("events_*.parquet"))
    assert list((home / "landing" / "crm_accounts").glob("accounts_*.csv"))


def test_import_without_a_mapping_says_how_to_fix_it(tmp_path):
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "import", str(tmp_path)])
    assert out.exit_code != 0
    assert "SEG_MAPPINGS" in out.output


def test_demo_reset_only_removes_pipeline_state(tmp_path):
    from seg_pipeline.orchestration import reset_home
    from seg_pipeline.settings import Settings

    settings = Settings().with_home(tmp_path)
    settings.ensure_home()
    (settings.landing_dir / "x.parquet").write_text("x")
    (tmp_path / "warehouse.duckdb").write_text("x")
    (tmp_path / "my_notes.txt").write_text("keep me")
    reset_home(settings)
    assert (tmp_path / "my_notes.txt").read_text() == "keep me"
    assert not (tmp_path / "warehouse.duckdb").exists()
    assert not list(settings.landing_dir.iterdir())
    assert (tmp_path / "dagster.yaml").exists()
