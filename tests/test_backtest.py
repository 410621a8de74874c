"""Rolling-origin backtests: each season forecast by a model fitted only on the seasons before
it; no look-ahead anywhere; the shipped report and the optimize responses' calibration metrics."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.core.paths import DATA_DIR
from engine.data.history import History
from engine.model.backtest import (
    SHIPPED_REPORT,
    backtest,
    cached_calibration,
    calibration_metrics,
    fitted_model,
    forecast_race,
    report_path,
    save_report,
)
from engine.model.fit import FitSettings
from engine.model.params import load_params

KEYS_MODEL = {"crps", "log_score", "mae", "rank_mae", "coverage", "pit_coverage", "dk_points_crps"}


@pytest.fixture(scope="module")
def road_2025(history, fits_dir):
    return backtest(history, (2025,), n_scenarios=300, seed=1, track_type="road", state_dir=fits_dir)


def test_report_keys_and_rolling_origin(road_2025, fits_dir):
    r = road_2025
    assert {"races", "rows", "model", "baselines", "by_track_type", "by_season"} <= set(r)
    assert KEYS_MODEL <= set(r["model"]) and set(r["model"]["coverage"]) == {"50", "80", "95"}
    assert set(r["baselines"]) == {"uniform", "start"} and set(r["baselines"]["start"]) == {"crps", "log_score", "mae"}
    assert list(r["by_track_type"]) == ["road"] and list(r["by_season"]) == ["2025"]
    rs = r["reliability_summary"]
    assert set(rs["pooled"]) == {"win", "top3", "top5", "top10", "top20", "dnf", "winner_log_loss"} and list(rs["by_season"]) == ["2025"]
    assert {"max_gap", "brier_skill", "bins_counted"} <= set(rs["pooled"]["top5"]) and rs["pooled"]["winner_log_loss"]["races"] == 6
    assert set(r["structure_by_track_type"]) == {"road"} and r["grid"]["pooled"]["model_mae"] < r["grid"]["pooled"]["skill_order_mae"] + 1
    assert r["races"] == 6 and r["rows"] > 200
    assert r["baselines"]["uniform"]["crps"] > r["model"]["crps"] > 0
    assert len(r["pit_histogram"]) == 10 and abs(sum(r["pit_histogram"]) - 1) < 1e-9
    st = r["settings"]
    assert st["rolling_origin"] and st["fits"]["2025"]["fit_seasons"] == [2015, 2024] and st["method_hash"] == FitSettings().for_series("cup").method_hash
    assert len(list((fits_dir / "fits").glob(f"{st['method_hash']}-2015-2024-*.json"))) == 1  # fitted once, cached
    json.dumps(r)


def test_fits_are_cached(history, fits_dir):
    import time

    t = time.perf_counter()
    m = fitted_model(history, 2025, FitSettings(), fits_dir)
    assert time.perf_counter() - t < 5 and m.fit_seasons == tuple(range(2015, 2025))


def _scramble_from(history: History, rid: str) -> History:
    """Everything of race ``rid`` that happens in the race, and everything of later races, scrambled."""
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
    prac = history.practice.copy()
    after = (prac["season"] > season) | ((prac["season"] == season) & (prac["race"] > race))  # the race's own practice is pre-race
    prac.loc[after, "best_lap_rank"] = rng.permutation(prac.loc[after, "best_lap_rank"].to_numpy(copy=True))
    return replace(history, results=res, loop=loop, practice=prac, shared={})


@pytest.mark.parametrize("rid", ["2024-6", "2025-20", "2025-36"])
def test_scoring_a_race_uses_nothing_from_it_or_later(history, fits_dir, rid):
    """The forecast of race R is the same whatever happened in R and after it (practice too)."""
    model = fitted_model(history, 2025, FitSettings(), fits_dir)
    a = forecast_race(rid, history, model, 500, 7)
    b = forecast_race(rid, _scramble_from(history, rid), model, 500, 7)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.dk, b.dk) and np.array_equal(a.start, b.start)


def test_practice_of_the_race_is_used_when_the_model_has_it(history, fits_dir):
    """Pre-race information of the race itself enters its forecast (when the method fits practice)."""
    model = fitted_model(history, 2025, FitSettings(), fits_dir)
    if not any(t.b_prac for t in model.types.values()):
        pytest.skip("the shipped method does not use practice (the backtest did not keep it)")
    rid = "2025-30"
    prac = history.practice.copy()
    mine = prac["race_id"] == rid
    prac.loc[mine, "best_lap_rank"] = prac.loc[mine, "best_lap_rank"].to_numpy()[::-1]
    prac.loc[mine, ["avg5_rank", "avg10_rank"]] = np.nan
    h2 = replace(history, practice=prac, shared={})
    assert not np.array_equal(forecast_race(rid, history, model, 500, 7).counts, forecast_race(rid, h2, model, 500, 7).counts)


def test_a_given_model_refuses_its_fit_seasons(history):
    with pytest.raises(ValueError, match="overlap the model's fit seasons 2015-2025"):
        backtest(history, (2024, 2025), model=load_params(), n_scenarios=100)
    with pytest.raises(ValueError, match="season 2015 has no season before it"):
        backtest(history, (2015,), n_scenarios=100)


def test_one_type_run_gives_the_full_runs_numbers(history, road_2025, fits_dir):
    """Seeds are per race, so a track type's numbers do not depend on the other races scored."""
    again = backtest(history, (2025,), n_scenarios=300, seed=1, track_type="road", state_dir=fits_dir)
    assert again["model"] == road_2025["model"]


def test_a_season_in_progress(history, fits_dir, tmp_path):
    """17 races of 2025 added onto shipped 2015-2024: race 17 is forecast by the model fitted on
    2015-2024 plus the form of its own earlier races, exactly as with the whole season shipped."""
    from engine.data.importers.add import add_to_store

    feed = Path(__file__).resolve().parent / "fixtures" / "season_2025" / "cup-results.csv"  # as downloaded
    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    for f in ("results", "race_index", "loop", "practice"):
        df = pd.read_parquet(d / f"{f}.parquet")
        df[df["season"] <= 2024].to_parquet(d / f"{f}.parquet", index=False)
    df = pd.read_csv(feed)
    first = sorted(df["race_id"].unique(), key=lambda r: df.loc[df["race_id"] == r, "race_date"].iloc[0])[:17]
    df[df["race_id"].isin(first)].to_csv(tmp_path / "cup-results.csv", index=False)
    for name in ("cup-misc.csv", "cup-practice.csv"):  # the season's other files, cut at the same race
        other = pd.read_csv(feed.parent / name)
        other[other["race_id"].isin(first)].to_csv(tmp_path / name, index=False)
    add_to_store([tmp_path / "cup-results.csv", tmp_path / "cup-misc.csv", tmp_path / "cup-practice.csv"], tmp_path / "state",
                 data_dir=d)
    h = History.load(d, tmp_path / "state")
    assert h.seasons[-1] == 2025 and (h.index["season"] == 2025).sum() == 17
    r = backtest(h, (2025,), n_scenarios=200, seed=3, track_type="road", state_dir=fits_dir)
    assert r["settings"]["fits"]["2025"]["fit_seasons"] == [2015, 2024]
    assert r["races"] == 2 and r["skipped"] == []  # COTA and Mexico City (a new track; its laps from the loop file)
    model = fitted_model(h, 2025, FitSettings(), fits_dir)
    assert np.array_equal(forecast_race("2025-17", h, model, 300, 5).counts, forecast_race("2025-17", history, model, 300, 5).counts)


def test_shipped_report_is_rolling_origin_of_the_shipped_method():
    shipped = json.loads(SHIPPED_REPORT.read_text())
    st = shipped["settings"]
    model = load_params()
    assert st["rolling_origin"] and st["seasons"] == [2022, 2023, 2024, 2025] and shipped["races"] == 144
    assert st["method_hash"] == model.method_hash and model.fit_seasons == tuple(range(2015, 2026))
    assert {y: f["fit_seasons"] for y, f in st["fits"].items()} == {"2022": [2015, 2021], "2023": [2015, 2022],
                                                                   "2024": [2015, 2023], "2025": [2015, 2024]}
    m, about = cached_calibration("intermediate", model, state_dir=None)
    assert {k: m[k] for k in ("crps", "log_score", "coverage_50")} == {k: calibration_metrics(shipped, "intermediate")[k]
                                                                        for k in ("crps", "log_score", "coverage_50")}
    assert m["model_hash"] == model.hash and m["fit_seasons"] == "2015-2025" and m["scored_seasons"] == "2022-2025"
    assert "rolling-origin backtest of seasons 2022-2025" in about


def test_another_method_needs_its_own_backtest(history, fits_dir, tmp_path, road_2025):
    raw = json.loads(json.dumps(load_params().raw))
    raw["method_hash"] = "another-method"
    from engine.model.params import params_from_dict

    other = params_from_dict(raw)
    m, about = cached_calibration("road", other, state_dir=tmp_path)
    assert m is None and "no rolling-origin backtest of this model's method (another-method)" in about
    kept = dict(road_2025, settings={**road_2025["settings"], "method_hash": "another-method"})
    path = report_path(tmp_path, kept)
    path.parent.mkdir(parents=True)
    save_report(kept, path)
    m, _ = cached_calibration("road", other, state_dir=tmp_path)
    assert m["crps"] == road_2025["model"]["crps"] and m["scored_seasons"] == "2025-2025"
