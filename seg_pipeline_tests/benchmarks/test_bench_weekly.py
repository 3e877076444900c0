"""The weekly-run benchmark reads stage timings and memory right, and runs end to end on a tiny company.

Only structure and behaviour are checked; the benchmark's timings are never asserted.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_weekly.py"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_weekly", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_weekly"] = module
    spec.loader.exec_module(module)
    return module


def _events() -> list[tuple[float, str, str | None, dict]]:
    return [
        (100.0, "PIPELINE_START", None, {}),
        (101.0, "STEP_START", "raw__product_events", {}),
        (102.0, "ASSET_MATERIALIZATION", "raw__product_events", {"dagster/row_count": 900, "rows_in": 1000}),
        (104.0, "STEP_SUCCESS", "raw__product_events", {}),
        (104.5, "STEP_START", "features__account_features", {}),
        (105.0, "ASSET_MATERIALIZATION", "features__account_features", {"dagster/row_count": 50}),
        (106.0, "STEP_SUCCESS", "features__account_features", {}),
        (106.5, "STEP_START", "monitoring__drift_report", {}),
        (107.0, "ASSET_MATERIALIZATION", "monitoring__drift_report", {"share_drifted": 0.1}),
        (110.0, "STEP_FAILURE", "monitoring__drift_report", {}),
        (110.2, "STEP_START", "never__finished", {}),
        (111.0, "PIPELINE_FAILURE", None, {}),
    ]


def test_parse_events_spans_rows_and_input_rows(bench: ModuleType) -> None:
    start, end, steps = bench.parse_events(_events())
    assert (start, end) == (100.0, 111.0)
    # a step without an end event is left out: it has no duration to report
    assert [s.key for s in steps] == ["raw__product_events", "features__account_features", "monitoring__drift_report"]
    events, features, drift = steps
    assert (events.end - events.start, events.rows, events.ok) == (3.0, 1000, True)  # rows read, not loaded
    assert (features.rows, features.rows_from_input) == (50, False)
    # drift reports no row count: it is given the week's accounts (its input), marked as such
    assert (drift.rows, drift.rows_from_input, drift.ok) == (50, True, False)
    log = bench.RunLog("r", "failed", start, end, steps)
    assert log.landed_rows == 1000


def test_stage_peaks_come_from_the_samples_overlapping_the_stage(bench: ModuleType) -> None:
    _, _, steps = bench.parse_events(_events())
    samples = [
        bench.Sample(t, rss * MB, kids * MB, 2.0)
        for t, rss, kids in [
            (101.5, 100, 0),
            (103.0, 400, 10),
            (104.2, 150, 0),
            (105.5, 120, 0),
            (108.0, 700, 30),
            (112.0, 90, 0),
        ]
    ]
    fig = bench.run_figures(bench.RunLog("r", "failed", 100.0, 111.0, steps), samples, process_seconds=20.0)
    by = {s["stage"]: s for s in fig["stages"]}
    # (101.5, 103] and (103, 104.2] overlap raw events [101, 104]; so does (100-, 101.5]
    assert by["raw__product_events"]["rss_mb"] == 400
    assert by["raw__product_events"]["child_rss_mb"] == 10
    # [104.5, 106]: the samples at 104.2 ... 108 cover it, the one at 108 from 105.5 on
    assert by["features__account_features"]["rss_mb"] == 700
    assert by["monitoring__drift_report"]["rss_mb"] == 700
    assert fig["run_seconds"] == 11.0
    assert fig["steps_seconds"] == pytest.approx(3.0 + 1.5 + 3.5)
    assert fig["overhead_seconds"] == pytest.approx(11.0 - 8.0)
    assert fig["outside_run_seconds"] == pytest.approx(9.0)
    assert (fig["peak_rss_mb"], fig["peak_child_rss_mb"]) == (700, 30)


def test_medians_and_growth_exponents(bench: ModuleType) -> None:
    def run(seconds: float, rows: int) -> dict:
        return {
            "state": "ok",
            "landed_rows": rows,
            "process_seconds": seconds + 5,
            "run_seconds": seconds,
            "steps_seconds": seconds - 1,
            "overhead_seconds": 1.0,
            "outside_run_seconds": 5.0,
            "peak_rss_mb": 10.0,
            "peak_child_rss_mb": 0.0,
            "load_min": 1.0,
            "load_median": 1.5,
            "load_max": 2.0,
            "stages": [
                {
                    "stage": "a",
                    "seconds": seconds - 1,
                    "ok": True,
                    "rows": rows,
                    "rows_from_input": False,
                    "rss_mb": 10.0,
                    "child_rss_mb": 0.0,
                }
            ],
        }

    small = bench.summarise_size(10, [run(10, 1000), run(12, 1000), run(30, 1000)])
    assert small["run_seconds"] == 12
    assert small["stages"][0]["seconds"] == 11
    assert small["stages"][0]["rows_per_s"] == pytest.approx(1000 / 11)
    # ten times the rows: a linear stage takes ten times as long, a quadratic one a hundred times
    big = bench.summarise_size(100, [run(111, 10_000)])
    big["stages"][0]["seconds"] = 1100.0
    exps = bench.growth_exponents([big, small])
    assert exps["a"][0] == pytest.approx(2.0)
    assert exps["run"][0] == pytest.approx(math.log10(111 / 12))
    text = bench.report([small, big])
    assert "| a | 1100.00 |" in text
    assert "| a | 2.00 |" in text


@pytest.mark.e2e
def test_tiny_company_gives_every_stage_a_time_and_an_rss(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "weekly.json"
    argv = [
        "--accounts",
        "300",
        "--weeks",
        "1",
        "--warmup",
        "0",
        "--cache",
        str(tmp_path / "cache"),
        "--json",
        str(out),
    ]
    sizes = bench.main(argv)
    (size,) = json.loads(out.read_text())["sizes"]
    assert size == json.loads(json.dumps(sizes[0], default=str))
    assert size["states"] == ["ok"]
    stages = {s["stage"]: s for s in size["stages"]}
    # the weekly job's every stage ran, each with a wall time and the run process's memory
    for stage in (
        "raw__product_events",
        "features__account_features",
        "model__segmentation_model",
        "assignments__account_segments",
        "monitoring__drift_report",
        "sinks__crm_writeback",
        "reports__segment_dashboard",
    ):
        assert stage in stages
    for s in stages.values():
        assert s["seconds"] > 0, s
        assert s["rss_mb"] > 50, s  # a Python process with Dagster loaded: never a handful of MB
    assert stages["raw__product_events"]["rows"] > 300
    assert 0 < size["steps_seconds"] < size["run_seconds"] < size["process_seconds"]
    assert size["landed_rows"] > stages["raw__product_events"]["rows"]
    assert "| model__segmentation_model |" in capsys.readouterr().out
    # the simulation is cached: a second invocation with --skip-simulate reuses it; a missing size fails clearly
    with pytest.raises(SystemExit, match="no simulated landing files"):
        bench.main(
            [
                "--accounts",
                "301",
                "--weeks",
                "1",
                "--warmup",
                "0",
                "--cache",
                str(tmp_path / "cache"),
                "--skip-simulate",
            ]
        )
    assert (tmp_path / "cache" / "300x1-s7" / "simulated.json").exists()
    assert not list((tmp_path / "cache" / "runs").iterdir())  # run homes are removed unless --keep
