"""The segmentation benchmark runs end to end on tiny data and reports failures instead of dying.

Only structure and behaviour are checked here; the benchmark's timings are never asserted.
"""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_segmentation.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_segmentation", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_segmentation"] = module
    spec.loader.exec_module(module)
    return module


def test_make_features_widens_to_requested_columns(bench: ModuleType) -> None:
    frame, persona, features = bench.make_features(400, 25, seed=3)
    assert len(features) == 25
    assert len(set(features)) == 25
    assert set(features) <= set(frame.columns)
    assert len(persona) == len(frame) == 400
    extra = [f for f in features if f.startswith("extra_")]
    assert len(extra) == 6
    # derived from persona-informative features: each extra column differs between personas
    means = frame[extra].groupby(persona.to_numpy()).mean()
    assert (means.max() - means.min() > 0.5).all()
    again, _, _ = bench.make_features(400, 25, seed=3)
    assert again.equals(frame)
    with pytest.raises(SystemExit, match="--features must be >= 19"):
        bench.make_features(100, 10, seed=3)


def test_child_memory_error_is_reported_as_oom(bench: ModuleType, tmp_path: Path, monkeypatch) -> None:
    def explode(params: dict) -> dict:
        bench._checkpoint(params, {"estimated_bytes": 123})
        raise MemoryError("cannot allocate")

    monkeypatch.setitem(bench.CHILDREN, "global", explode)
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exc:
        bench.child_main("global", "{}", str(out))
    assert exc.value.code == 3
    # figures known before the failure survive it
    assert json.loads(out.read_text()) == {
        "status": "oom", "error": "MemoryError: cannot allocate", "estimated_bytes": 123
    }


def test_run_child_reports_timeout_and_failure(bench: ModuleType, tmp_path: Path) -> None:
    # the child imports numpy/sklearn/pandas before doing anything: far longer than 0.2 s
    slow = bench.run_child("global", {"n": 10, "data": str(tmp_path / "missing")}, timeout=0.2, workdir=tmp_path)
    assert slow["status"] == "timeout"
    assert slow["peak_rss_mib"] > 0
    broken = bench.run_child("global", {"n": 10, "seed": 1, "data": str(tmp_path / "missing")}, workdir=tmp_path)
    assert broken["status"] == "failed"
    assert "exit 1" in broken["error"]
    assert "missing" in broken["error"]


def test_run_child_measures_a_real_child(bench: ModuleType, tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = bench.run_child("gen", {"n": 200, "features": 21, "seed": 2, "data": str(data)}, workdir=tmp_path)
    assert r["status"] == "ok"
    assert r["n_features"] == 21
    assert r["stage"] == "gen"
    assert r["n"] == 200
    assert r["peak_rss_mib"] > 50
    assert r["wall_s"] > 0
    assert r["load1"] >= 0
    assert json.loads((data / "meta.json").read_text())["features"][-1] == "extra_01"


@pytest.fixture
def in_process(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run every stage in this process (one interpreter start per stage would cost ~5 s each here)."""
    stages: list[str] = []

    def run(stage: str, params: dict, *, timeout: float | None = None, workdir: Path) -> dict:
        stages.append(stage)
        result = {"status": "ok", **bench.CHILDREN[stage](params)}
        return {**result, "stage": stage, "n": params.get("n"), "wall_s": 0.1, "peak_rss_mib": 1000.0, "load1": 1.0}

    monkeypatch.setattr(bench, "run_child", run)
    return stages


def test_end_to_end_tiny(
    bench: ModuleType, in_process: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    n = 600
    results = bench.main([
        "--accounts", str(n), "--repeat", "2", "--hybrid-accounts", str(n), "--global-accounts", str(n),
        "--guard-limit-gib", "0.000001", "--workdir", str(tmp_path / "work"), "--json", str(out),
    ])
    # the large hybrid (here the same n) runs once, global DBSCAN is repeated while it succeeds
    assert in_process == ["gen", "train", "train", "assign", "assign", "hybrid", "refuse", "global", "global"]
    train, assign, refuse = results["train"], results["assign"], results["refuse"]
    assert train["status"] == "ok"
    assert 3 <= train["k"] <= 10
    assert train["ari_segments"] > 0.5
    assert train["runs"] == 2
    assert len(train["all_seconds"]) == 2
    assert train["call_peak_mib"] > 0
    assert assign["status"] == "ok"
    assert assign["ari_segments"] == pytest.approx(train["ari_segments"])
    assert results["hybrid"][n]["status"] == "ok"
    assert results["hybrid"][n]["ari_segments"] > 0.5
    glob = results["global"][n]
    assert glob["status"] == "ok"
    assert glob["min_samples"] == 50
    assert glob["estimated_bytes"] > 0
    # a guard limit below any estimate makes DBSCANSegmenter(max_rows=None) refuse, with the estimate
    assert refuse["status"] == "ok"
    assert refuse["refused"]
    assert "subsampling is disabled" in refuse["message"]
    assert refuse["estimated_bytes"] > refuse["limit_bytes"]
    printed = capsys.readouterr().out
    assert "load average" in printed
    assert "time global/hybrid" in printed
    assert "guard refused" in printed
    assert json.loads(out.read_text())["train"]["k"] == train["k"]


def test_median_ignores_failed_runs(bench: ModuleType) -> None:
    runs = [
        {"status": "ok", "seconds": 5.0, "peak_rss_mib": 100.0, "k": 7},
        {"status": "timeout", "error": "killed"},
        {"status": "ok", "seconds": 1.0, "peak_rss_mib": 300.0, "k": 7},
        {"status": "ok", "seconds": 3.0, "peak_rss_mib": 200.0, "k": 7},
    ]
    m = bench._median(runs)
    assert m["seconds"] == 3.0
    assert m["peak_rss_mib"] == 200.0
    assert m["runs"] == 4
    assert m["all_seconds"] == [5.0, 1.0, 3.0]
    assert bench._median([{"status": "crashed", "error": "SIGSEGV"}])["status"] == "crashed"
