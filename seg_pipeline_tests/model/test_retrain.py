"""Drift that acts: the sensor's structural retrain re-decides the segment structure the weekly warm refit keeps.

Planted drift: the champion was trained on a company without support-heavy strugglers; a week later a group of
them appears. The weekly refit keeps the champion's k and folds them into existing segments; the structural
retrain (run tag ``seg/retrain=structural``, what the drift sensor sends) finds them as a segment of their own,
keeps the champion's ids for the segments that did not change, and is recorded as such in MLflow and the warehouse.
"""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from seg_pipeline.defs.assignments.assets import account_segments
from seg_pipeline.defs.model.assets import segmentation_model
from seg_pipeline.defs.resources import build_resources
from seg_pipeline.model.stage import RETRAIN_RUN_TAG, TAG_RETRAIN
from seg_pipeline.warehouse.duck import replace_partition
from seg_pipeline_tests.helpers.partitions import weekly_instance
from seg_pipeline_tests.model.conftest import Env
from seg_pipeline_tests.segmentation.synthetic_features import make_accounts

FIRST = date(2026, 1, 5)
CHAMPION_WEEK = FIRST + timedelta(weeks=4)  # a settled champion: trained after the warm-up weeks
DRIFT_WEEK = CHAMPION_WEEK + timedelta(weeks=1)
NEWCOMERS = "struggling_adopters"


def _write(env: Env, week: date, frame: pd.DataFrame) -> None:
    with env.warehouse.connect() as con:
        replace_partition(con, "features", "account_features", frame.assign(week_start=week), key=week)


def _run(env: Env, instance: dg.DagsterInstance, week: date, tags: dict[str, str] | None = None) -> dict:
    result = dg.materialize([segmentation_model, account_segments], partition_key=week.isoformat(),
                            instance=instance, resources=build_resources(env.settings), tags=tags)
    meta = result.asset_materializations_for_node("model__segmentation_model")[0].metadata
    with env.warehouse.connect(read_only=True) as con:
        seg = con.execute("SELECT account_id, segment_id, segment_name FROM assignments.account_segments "
                          "WHERE week_start = ?", [week]).fetchdf().set_index("account_id")
        k_reason = con.execute("SELECT k_reason FROM model.training_runs WHERE week_start = ?",
                               [week]).fetchall()[0][0]
    return {"run_id": result.run_id, "k": meta["k"].value, "retrain": meta["retrain"].value,
            "version": meta["model_version"].value, "segments": seg, "k_reason": k_reason}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Champion on a company without the newcomers, then the drift week: weekly refit, then structural retrain."""
    from seg_pipeline.defs.resources import ModelRegistryResource, WarehouseResource
    from seg_pipeline.settings import Settings

    settings = Settings().with_home(tmp_path_factory.mktemp("retrain") / "home")
    resources = build_resources(settings)
    warehouse, registry = resources["warehouse"], resources["model_registry"]
    assert isinstance(warehouse, WarehouseResource)
    assert isinstance(registry, ModelRegistryResource)
    env = Env(settings, warehouse.engine(), registry.tracker())
    full, persona = make_accounts(900, seed=2)
    before = (persona != NEWCOMERS).to_numpy()
    for week in (FIRST, CHAMPION_WEEK):
        _write(env, week, full[before])
    drifted = full.copy()  # same accounts a week later (a little noise), plus the newcomers
    numeric = drifted.select_dtypes("number").columns
    drifted[numeric] = drifted[numeric] * np.random.default_rng(9).lognormal(0, 0.05, (len(full), len(numeric)))
    _write(env, DRIFT_WEEK, drifted)
    weeks = [w.isoformat() for w in (FIRST, CHAMPION_WEEK, DRIFT_WEEK)]
    with weekly_instance(*weeks) as instance:
        champion = _run(env, instance, CHAMPION_WEEK)
        weekly = _run(env, instance, DRIFT_WEEK)
        structural = _run(env, instance, DRIFT_WEEK, tags={RETRAIN_RUN_TAG: "structural"})
    truth = pd.Series(persona.to_numpy(), index=full["account_id"])
    return {"env": env, "champion": champion, "weekly": weekly, "structural": structural, "truth": truth}


def _ari(run: dict, truth: pd.Series) -> float:
    return float(adjusted_rand_score(truth, run["segments"].loc[truth.index, "segment_id"]))


def test_the_weekly_refit_keeps_the_champions_k(planted):
    champion, weekly = planted["champion"], planted["weekly"]
    assert weekly["retrain"] == "weekly"
    assert weekly["k"] == champion["k"]
    assert weekly["k_reason"].startswith(f"weekly retrain: k={champion['k']}: held from the champion")


def test_the_structural_retrain_finds_the_planted_segment_and_fits_the_truth_better(planted):
    weekly, structural, truth = planted["weekly"], planted["structural"], planted["truth"]
    assert structural["retrain"] == "structural"
    assert structural["k"] > weekly["k"]
    assert structural["version"] != weekly["version"]
    assert _ari(structural, truth) >= _ari(weekly, truth) + 0.1
    assert _ari(structural, truth) >= 0.9
    newcomers = structural["segments"].loc[truth.index[truth == NEWCOMERS], "segment_id"]
    champion_ids = set(planted["champion"]["segments"]["segment_id"])
    assert newcomers.value_counts(normalize=True).iloc[0] >= 0.9  # one segment of their own ...
    assert newcomers.mode().iloc[0] not in champion_ids  # ... with a new id
    assert structural["k_reason"].startswith("structural retrain: k=")


def test_segments_that_stayed_whole_keep_their_ids_and_names_through_the_structural_retrain(planted):
    """A champion segment whose members stay together keeps its id and name; one that split keeps its id once."""
    champion, structural, truth = planted["champion"], planted["structural"], planted["truth"]
    stayed = truth.index[truth != NEWCOMERS]
    pairs = pd.crosstab(champion["segments"].loc[stayed, "segment_id"],
                        structural["segments"].loc[stayed, "segment_id"])
    names_before = champion["segments"].groupby("segment_id")["segment_name"].first()
    names_after = structural["segments"].groupby("segment_id")["segment_name"].first()
    whole = pairs.max(axis=1) >= 0.9 * pairs.sum(axis=1)
    assert whole.sum() >= 4
    for seg in pairs.index[whole]:
        assert pairs.loc[seg].idxmax() == seg
        assert names_after[seg] == names_before[seg]
    for seg in pairs.index[~whole]:  # a merged champion segment the retrain split: its biggest part keeps the id
        assert pairs.loc[seg].idxmax() == seg


def test_the_retrain_mode_is_recorded_on_the_mlflow_run(planted):
    tracker = planted["env"].tracker
    for key in ("weekly", "structural"):
        found = tracker.find_week_run(DRIFT_WEEK, planted[key]["run_id"])
        assert found is not None
        assert tracker.client.get_run(found[0]).data.tags[TAG_RETRAIN] == key


def test_an_unknown_retrain_tag_fails_the_run_with_the_allowed_values(planted):
    env = planted["env"]
    with weekly_instance(DRIFT_WEEK.isoformat()) as instance:
        result = dg.materialize([segmentation_model], partition_key=DRIFT_WEEK.isoformat(), instance=instance,
                                resources=build_resources(env.settings), tags={RETRAIN_RUN_TAG: "full"},
                                raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "weekly or structural" in failure.step_failure_data.user_failure_data.description
