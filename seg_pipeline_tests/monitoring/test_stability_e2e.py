"""Sparse activity end to end: segments follow sustained behaviour, not whether an account logged in this week.

Bounds come from benchmarks/bench_stability.py (README there): before the sustained features, 30-37 % of
unmoved accounts changed segment every week of every sparse case; after, the first weeks are dominated by
accounts seen for the first time (60 % of accounts have no activity yet in week 0) and later weeks settle. One
early week may relabel more: the week the first model after the warm-up replaces the provisional champion
(model.stage.WARMUP_WEEKS; 0.31-0.41 in the grid, where the mass-migration gate holds the sinks); with the
shared-covariance metric the first-sighting week also reached 0.25 (seed 5), so any warm-up week may exceed it.
"""

from typing import Any

import pytest

from seg_pipeline.model.stage import WARMUP_WEEKS
from seg_pipeline.orchestration import evaluate_home, run_weeks
from seg_pipeline.settings import Settings
from seg_pipeline.sources.simulator import SimulationConfig, simulate

SPARSE = SimulationConfig(accounts=300, weeks=6, seed=5, active_share=(0.3, 0.5))
# Grid (seeds 1-3 x 600 / 1200 accounts x 10 weeks): before, every week of every case was >= 0.30; after, the
# worst week is the first (<= 0.19: accounts seen active for the first time) and the fifth week is <= 0.09.
# At 300 accounts the shares move by about ±0.03 (binomial, ~250 unmoved accounts), hence the margins.
MAX_SHARE = 0.25
LAST_SHARE = 0.12


@pytest.fixture(scope="module")
def sparse_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings().with_home(tmp_path_factory.mktemp("sparse_home"))
    settings.ensure_home()
    sim = simulate(SPARSE, settings.landing_dir, settings.truth_dir)
    runs = run_weeks(settings, [str(w) for w in sim.weeks])
    assert all(r.success for r in runs), [r for r in runs if not r.success]
    return evaluate_home(settings)


@pytest.mark.e2e
def test_sparse_activity_does_not_flip_unmoved_accounts(sparse_result):
    shares = [u["share"] for u in sparse_result["unmoved_change_share"]]
    assert len(shares) == SPARSE.weeks - 1
    assert all(u["unmoved_accounts"] > 100 for u in sparse_result["unmoved_change_share"])
    # the weekly-zeros features this replaces flipped 30-37 % of unmoved accounts in every week; now only the
    # warm-up weeks (first sightings, and the relabel when the provisional champion is replaced) may exceed it
    above = [i for i, share in enumerate(shares) if share > MAX_SHARE]
    assert all(i < WARMUP_WEEKS for i in above), shares
    # once most accounts have been seen active, flips are rare
    assert shares[-1] <= LAST_SHARE, shares
