"""The `seg` command: self-explaining help, one-sentence errors, ad-hoc studies end to end."""

import json
import re
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
    # alert figures come from the digests the sinks planned (sinks.alert_items)
    assert result["alerts_planned"] >= result["alerts_into_at_risk"] >= 0
    assert result["alert_precision"] is None or 0 <= result["alert_precision"] <= 1


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


# ------------------------------------------------------------------------------------------ seg run / status
def _landed(home: Path, *rels: str) -> None:
    for rel in rels:
        path = home / "landing" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("account_id\n")


def _fails_cleanly(out, *needles: str) -> None:
    assert out.exit_code == 1, out.output
    assert "fix:" in out.output
    for needle in needles:
        assert needle in out.output
    assert "Traceback" not in out.output
    assert "Dagster" not in out.output
    assert "--debug" not in out.output


def test_run_refuses_weeks_that_do_not_exist_and_says_which_do(tmp_path):
    home = tmp_path / "h"
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run", "--all"]),
                   "no landing files", "seg import")
    _landed(home, "crm_accounts/accounts_2023-01-02.csv", "crm_accounts/accounts_2023-01-09.csv")
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run", "2023-01-04"]),
                   "is a Wednesday", "seg run 2023-01-02", "landed weeks: 2023-01-02, 2023-01-09")
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run", "2024-01-01"]),
                   "week 2024-01-01 has no landing files", "landed weeks: 2023-01-02, 2023-01-09")
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run"]), "no week given", "seg run --all")
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run", "2023-02-30"]), "not a calendar date")
    _fails_cleanly(CliRunner().invoke(main, ["--home", str(home), "run", "--all", "2023-01-02"]), "not both")
    out = CliRunner().invoke(main, ["--home", str(home), "run", "2023-01-02"], env={"SEG_FIRST_WEEK": "2023-01-09"})
    _fails_cleanly(out, "before SEG_FIRST_WEEK=2023-01-09", "landed weeks: 2023-01-09")
    out = CliRunner().invoke(main, ["--home", str(home), "run", "--all"], env={"SEG_FIRST_WEEK": "2023-01-10"})
    _fails_cleanly(out, "SEG_FIRST_WEEK='2023-01-10'", "Tuesday", "try 2023-01-09")


def test_run_help_documents_the_exit_codes():
    out = CliRunner().invoke(main, ["run", "--help"])
    for line in ("0  every week completed", "3  some week was blocked", "4  some week failed"):
        assert line in out.output


def test_status_lists_landed_weeks_before_anything_ran(tmp_path):
    home = tmp_path / "h"
    _landed(home, "crm_accounts/accounts_2023-01-02.csv")
    out = CliRunner().invoke(main, ["--home", str(home), "status", "--json"])
    assert out.exit_code == 0, out.output
    (week,) = json.loads(out.output)["weeks"]
    assert week["week"] == "2023-01-02"
    assert week["state"] == "not run"
    assert "seg run 2023-01-02" in week["reason"]


def _simulate(home: Path, *extra: str) -> None:
    out = CliRunner().invoke(main, ["--home", str(home), "simulate", "--accounts", "200", "--seed", "11", *extra])
    assert out.exit_code == 0, out.output


def _run_all(home: Path, *weeks: str):
    # tiny data is noisy: the mass-migration gate is tested on its own (test_e2e), not here
    return CliRunner().invoke(main, ["--home", str(home), "run", *(weeks or ("--all",))],
                              env={"SEG_MASS_MIGRATION_THRESHOLD": "0.9", "SEG_FIRST_WEEK": None})


def _table(output: str) -> dict[str, str]:
    """Read the week table that ends `seg run`'s output as week -> state."""
    return dict(re.findall(r"^(\d{4}-\d{2}-\d{2}) +(\w+)", output, flags=re.MULTILINE))


@pytest.mark.e2e
def test_history_from_2023_runs_and_the_partitions_are_exactly_the_landed_weeks(tmp_path):
    import dagster as dg

    home = tmp_path / "h"
    _simulate(home, "--weeks", "2", "--start", "2023-01-02")
    out = _run_all(home)
    assert out.exit_code == 0, out.output
    assert _table(out.output) == {"2023-01-02": "ok", "2023-01-09": "ok"}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions("weeks") == ["2023-01-02", "2023-01-09"]
    status = json.loads(CliRunner().invoke(main, ["--home", str(home), "status", "--json"]).output)
    assert [(w["week"], w["state"]) for w in status["weeks"]] == [("2023-01-02", "ok"), ("2023-01-09", "ok")]
    assert status["week_start"] == "2023-01-09"


@pytest.mark.e2e
def test_run_all_goes_on_past_failed_and_blocked_weeks_with_distinct_exit_codes(tmp_path):
    home = tmp_path / "h"
    _simulate(home, "--weeks", "3")
    crm = home / "landing" / "crm_accounts" / "accounts_2026-01-12.csv"
    pd.read_csv(crm).drop(columns=["seats"]).to_csv(crm, index=False)  # week 2 cannot be read: it fails
    for day in sorted((home / "landing" / "product_events").glob("events_2026-01-2*.parquet")):
        day.unlink()  # week 3 keeps one day of events: the volume check blocks it
    out = _run_all(home)
    assert out.exit_code == 4, out.output
    assert _table(out.output) == {"2026-01-05": "ok", "2026-01-12": "failed", "2026-01-19": "blocked"}
    assert "required column 'seats' is missing" in out.output
    assert "volume_vs_previous_week" in out.output
    assert "seg run 2026-01-12" in out.output  # the fix names the week to re-run
    assert "Traceback" not in out.output
    assert "Dagster" not in out.output

    status = CliRunner().invoke(main, ["--home", str(home), "status"])
    assert status.exit_code == 0, status.output
    lines = {line.split()[0]: line for line in status.output.splitlines() if line.startswith("2026-")}
    assert "failed" in lines["2026-01-12"]
    assert "seats" in lines["2026-01-12"]
    assert "blocked" in lines["2026-01-19"]
    assert "volume_vs_previous_week" in lines["2026-01-19"]
    weeks = json.loads(CliRunner().invoke(main, ["--home", str(home), "status", "--json"]).output)["weeks"]
    assert {w["week"]: w["state"] for w in weeks} == {"2026-01-05": "ok", "2026-01-12": "failed",
                                                      "2026-01-19": "blocked"}

    blocked_only = _run_all(home, "2026-01-19")  # blocked, nothing failed: 3
    assert blocked_only.exit_code == 3, blocked_only.output
    assert "blocked by a check" in blocked_only.output
