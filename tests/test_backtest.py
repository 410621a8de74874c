import json
import shutil

import numpy as np
import pandas as pd
import pytest

from engine.backtest import (SHIPPED_REPORT, backtest, cached_calibration, calibration_metrics, forecast_race, model_hash)
from engine.data import DATA_DIR, ExtraFiles, History
from engine.scenarios import load_params, params_from_dict

KEYS_MODEL = {"crps", "log_score", "mae", "rank_mae", "coverage", "pit_coverage", "dk_points_crps"}


@pytest.fixture(scope="module")
def road_2024(history):
    return backtest(history, (2024,), n_scenarios=300, seed=1, track_type="road")


def test_report_keys(road_2024):
    r = road_2024
    assert {"races", "rows", "model", "baselines", "by_track_type"} <= set(r)
    assert KEYS_MODEL <= set(r["model"]) and set(r["model"]["coverage"]) == {"50", "80", "95"}
    assert set(r["baselines"]) == {"uniform", "start"} and set(r["baselines"]["start"]) == {"crps", "log_score", "mae"}
    assert list(r["by_track_type"]) == ["road"] and KEYS_MODEL <= set(r["by_track_type"]["road"]["model"])
    assert r["races"] == 5 and r["rows"] > 150
    assert r["baselines"]["uniform"]["crps"] > r["model"]["crps"] > 0
    assert len(r["pit_histogram"]) == 10 and abs(sum(r["pit_histogram"]) - 1) < 1e-9
    assert set(r["reliability"]) == {"win", "top5", "top10", "top20", "dnf"}
    json.dumps(r)


def _scramble_from(history: History, rid: str) -> History:
    season, race = map(int, rid.split("-"))
    rng = np.random.default_rng(0)
    res = history.results.copy()
    later = (res["season"] > season) | ((res["season"] == season) & (res["race"] >= race))
    for r in res.loc[later, "race_id"].unique():
        rows = res.index[res["race_id"] == r]
        res.loc[rows, "finish"] = rng.permutation(len(rows)) + 1
        res.loc[rows, "status"] = rng.choice(["running", "accident"], len(rows))
        res.loc[rows, "led"] = rng.integers(0, 50, len(rows))
        res.loc[rows, "rating"] = rng.random(len(rows)) * 150
    res["running"] = res["status"].eq("running")
    loop = history.loop.copy()
    lm = (loop["season"] > season) | ((loop["season"] == season) & (loop["race"] >= race))
    loop.loc[lm, "fastest_laps"] = rng.integers(0, 30, lm.sum())
    return History(res, history.index, loop, history.tracks, history.names)


@pytest.mark.parametrize("rid", ["2022-1", "2023-20", "2024-36"])
def test_scoring_a_race_uses_nothing_from_it_or_later(history, rid):
    """The forecast of race R is the same whatever happened in R and after it."""
    model = load_params()
    a = forecast_race(rid, history, model, 500, 7)
    b = forecast_race(rid, _scramble_from(history, rid), model, 500, 7)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.dk, b.dk) and np.array_equal(a.start, b.start)
    assert max(model.fit_seasons) < int(rid.split("-")[0])


def test_refuses_seasons_the_model_was_fitted_on(history):
    with pytest.raises(ValueError, match="overlap the model's fit seasons 2015-2021"):
        backtest(history, (2021, 2022), n_scenarios=100)


def test_one_type_run_gives_the_full_runs_numbers(history, road_2024):
    """Seeds are per race, so a track type's numbers do not depend on the other races scored."""
    again = backtest(history, (2024,), n_scenarios=300, seed=1, track_type="road")
    assert again["model"] == road_2024["model"]


def test_newer_season_from_extra_files(tmp_path, history, road_2024):
    """A season handed over as extra files (the real 2024 here) is scored without a code change."""
    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    res = pd.read_parquet(d / "results.parquet")
    idx = pd.read_parquet(d / "race_index.parquet")
    res[res["Season"] <= 2023].to_parquet(d / "results.parquet", index=False)
    idx[idx["Season"] <= 2023].to_parquet(d / "race_index.parquet", index=False)
    loop = pd.read_parquet(d / "loop.parquet")
    loop[loop["season"] <= 2023].to_parquet(d / "loop.parquet", index=False)
    res[res["Season"] == 2024].to_csv(tmp_path / "cup_2024.csv", index=False)
    idx[idx["Season"] == 2024].to_csv(tmp_path / "index_2024.csv", index=False)
    ids = pd.read_parquet(DATA_DIR / "nascar_driver_ids.parquet")
    back = {v: k for k, v in zip(ids["nascar_driver_id"], ids["driver"])}
    l24 = history.loop[history.loop["season"] == 2024]
    i24 = history.index[history.index["season"] == 2024].set_index("race")
    pd.DataFrame({"race_id": i24.loc[l24["race"], "nascar_race_id"].astype(int).to_numpy(),
                  "driver_id": [back[n] for n in l24["driver"]], "fast_laps": l24["fastest_laps"].to_numpy(),
                  "lead_laps": l24["laps_led"].to_numpy(), "laps": l24["laps"].to_numpy()}).to_csv(tmp_path / "loop_2024.csv", index=False)
    h = History.load(ExtraFiles((str(tmp_path / "cup_2024.csv"),), (str(tmp_path / "index_2024.csv"),), (str(tmp_path / "loop_2024.csv"),)), data_dir=d)
    r = backtest(h, (2024,), n_scenarios=300, seed=1, track_type="road")
    assert r["model"] == road_2024["model"] and r["baselines"] == road_2024["baselines"]


def test_shipped_report_is_of_the_current_model():
    shipped = json.loads(SHIPPED_REPORT.read_text())
    assert shipped["settings"]["model_hash"] == model_hash(load_params())
    assert shipped["settings"]["seasons"] == [2022, 2023, 2024] and shipped["races"] == 108
    m = cached_calibration("intermediate")
    assert m == calibration_metrics(shipped, "intermediate")
    assert set(m) == {"crps", "log_score", "coverage_50", "coverage_80", "coverage_95"}


def test_calibration_is_computed_and_cached_for_another_model(history, tmp_path):
    raw = json.loads(json.dumps(load_params().raw))
    raw["assumptions"]["aggression_spread"]["value"] = 0.3  # a different model: the shipped report does not apply
    model = params_from_dict(raw)
    m = cached_calibration("dirt", history=history, model=model, state_dir=tmp_path)
    files = list((tmp_path / "backtests").glob("*.json"))
    assert len(files) == 1 and model_hash(model) in files[0].name
    assert cached_calibration("dirt", history=history, model=model, state_dir=tmp_path) == m
    report = json.loads(files[0].read_text())
    assert report["races"] == 2 and m["crps"] == report["model"]["crps"]
