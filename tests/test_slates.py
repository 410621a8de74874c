import numpy as np
import pytest

import engine.slates as slates
from engine.data import History
from engine.slates import build_slate, derive_driver_params


def test_real_grid_and_bounds(history):
    slate = build_slate("2024-30", history)
    res = history.results[history.results["race_id"] == "2024-30"].sort_values("start")
    assert [d.name for d in slate.drivers] == res["driver"].tolist()
    assert [d.start_position for d in slate.drivers] == list(range(1, len(res) + 1))
    assert slate.track_type == history.race("2024-30")["track_type"]
    assert slate.race_length == 267  # scheduled laps of the 2024 fall Las Vegas race
    for d in slate.drivers:
        assert 0 <= d.skill <= 1 and 0 <= d.aggression <= 1 and 0 <= d.shadow_risk <= 1
        assert d.min_laps_led == 0 and d.max_laps_led == slate.race_length


def test_skill_orders_drivers_sensibly(history):
    slate = build_slate("2024-36", history)
    skill = {d.name: d.skill for d in slate.drivers}
    assert skill["Kyle Larson"] > 0.7 and skill["Kyle Larson"] > skill["Corey LaJoie"]


def _scramble_from(history: History, season: int, race: int, seed: int = 0) -> History:
    """History whose results of (season, race) and later are replaced by nonsense outcomes,
    keeping the facts known before the green flag (entry list and grid)."""
    rng = np.random.default_rng(seed)
    res = history.results.copy()
    later = (res["season"] > season) | ((res["season"] == season) & (res["race"] >= race))
    for rid in res.loc[later, "race_id"].unique():
        rows = res.index[res["race_id"] == rid]
        res.loc[rows, "finish"] = rng.permutation(len(rows)) + 1
        res.loc[rows, "status"] = rng.choice(["running", "accident", "engine"], len(rows))
        res.loc[rows, "led"] = rng.integers(0, 50, len(rows))
    res["running"] = res["status"].eq("running")
    loop = history.loop.copy()
    lmask = (loop["season"] > season) | ((loop["season"] == season) & (loop["race"] >= race))
    loop.loc[lmask, "fastest_laps"] = rng.integers(0, 30, lmask.sum())
    idx = history.index.copy()
    imask = (idx["season"] > season) | ((idx["season"] == season) & (idx["race"] >= race))
    idx.loc[imask, "race_laps"] = 999
    return History(res, idx, loop, history.tracks, history.names)


@pytest.mark.parametrize("rid", ["2016-5", "2019-1", "2022-10", "2024-30"])
def test_no_look_ahead(history, rid):
    """Whatever happened in the race and after it, the slate is the same."""
    season, race = map(int, rid.split("-"))
    a = build_slate(rid, history)
    b = build_slate(rid, _scramble_from(history, season, race))
    assert a.model_dump() == b.model_dump()


def test_look_ahead_would_be_detected(history, monkeypatch):
    """The no-look-ahead test can fail: a builder reading the whole history is caught."""
    monkeypatch.setattr(History, "before", lambda self, s, r: self)
    a = build_slate("2022-10", history)
    b = build_slate("2022-10", _scramble_from(history, 2022, 10))
    assert a.model_dump() != b.model_dump()


def test_newcomer_defaults(history):
    first = history.results.sort_values(["season", "race"]).groupby("driver_id").head(1)
    debut = first[first["season"] >= 2017].iloc[0]
    slate = build_slate(debut["race_id"], history)
    d = next(x for x in slate.drivers if x.driver_id == debut["driver_id"])
    assert d.history_races == 0 and set(d.estimated) == {"skill", "aggression", "shadow_risk"}
    assert any("no earlier Cup races" in n for n in slate.notes)


def test_derivation_is_documented():
    doc = slates.__doc__
    for word in ("skill", "shadow_risk", "aggression", "laps-led bounds", "race length", "half-life"):
        assert word in doc


def test_params_empty_history(history):
    empty = history.before(2015, 1)
    p = derive_driver_params(empty, ["kyle-larson"], "short")
    assert p.loc["kyle-larson", "history_races"] == 0
