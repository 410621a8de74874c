from dataclasses import replace

import numpy as np
import pytest

import engine.data.slates as slates
from engine.core.paths import DATA_DIR
from engine.data.form import derive_driver_params
from engine.data.history import History
from engine.data.slates import build_slate


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
    prac = history.practice.copy()  # the race's own practice is pre-race information; later races' is scrambled
    pmask = (prac["season"] > season) | ((prac["season"] == season) & (prac["race"] > race))
    prac.loc[pmask, "best_lap_rank"] = rng.permutation(prac.loc[pmask, "best_lap_rank"].to_numpy(copy=True))
    # the other series' races from the race's date on are scrambled too: a driver new to the Cup borrows only earlier form
    day = history.index.loc[(history.index["season"] == season) & (history.index["race"] == race), "date"].iloc[0]
    others = {}
    for code, other in history.other_series().items():
        ores = other.results.copy()
        late = ores["race_id"].isin(other.index.loc[other.index["date"] >= day, "race_id"])
        ores.loc[late, "finish"] = rng.permutation(ores.loc[late, "finish"].to_numpy())
        ores.loc[late, "rating"] = rng.random(int(late.sum())) * 150
        others[code] = replace(other, results=ores, shared={})
    return replace(history, results=res, index=idx, loop=loop, practice=prac, shared={"others": others})


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
    import engine.data.form as form

    doc = form.__doc__ + slates.__doc__
    for word in ("skill", "shadow_risk", "aggression", "laps-led bounds", "race length", "half-life", "another series"):
        assert word in doc


def test_params_empty_history(history):
    empty = history.before(2015, 1)
    p = derive_driver_params(empty, ["kyle-larson"], "short")
    assert p.loc["kyle-larson", "history_races"] == 0


def test_a_salary_file_finds_its_race_on_the_schedule(history):
    """A DKSalaries.csv's date names the race: track, round and race length without --track."""
    from engine.data.salaries import read_salary_file
    from engine.data.slates import game_date, slate_from_salaries

    sf = read_salary_file(DATA_DIR / "salaries" / "dk_2026-04-12_race08_bristol.csv")
    s = slate_from_salaries(sf, history, date=game_date(sf.game_info))
    assert s.track_id == "bristol" and s.season == 2026 and s.race == 8
    assert ("matched the 2026 schedule: race 8, Food City 500 at Bristol Motor Speedway on 2026-04-12 (the salary file calls it "
            "'Bass Pro Shops 500')") in s.notes
    assert s.race_name == "Food City 500"  # one name for the race: the schedule's
    assert all(d.start_position is None for d in s.drivers)  # 2026 race 8 has no results in the data: the grid is estimated


def test_a_known_grid_is_used_and_non_starters_marked_out(history):
    """When the race's results are in the history, its grid (set by qualifying) is pre-race
    information: the slate takes it, and salary drivers who did not start are out."""
    from engine.data.salaries import read_salary_file
    from engine.data.slates import slate_from_salaries
    from engine.model.field import prepare
    from engine.model.scenarios import simulate

    sf = read_salary_file(DATA_DIR / "salaries" / "dk_2026-04-12_race08_bristol.csv")
    s = slate_from_salaries(sf, history, date="2025-04-13")  # the 2025 spring Bristol race, in the history
    real = history.results[history.results["race_id"] == "2025-9"].set_index("driver_id")["start"]
    started = [d for d in s.drivers if not d.out]
    assert all(d.start_position == real[d.driver_id] for d in started) and "start_position" not in started[0].estimated
    assert sorted(d.name for d in s.drivers if d.out) == ["Chad Finchum", "Connor Zilisch", "Justin Allgaier"]
    assert s.field_size == len(real) == 39
    assert any(n.startswith("starting grid from race 2025-9") for n in s.notes)
    inp = prepare(s)
    assert inp.n_field == 39 and inp.fillers == 39 - len(started) and not inp.qualifying_draws  # missing starters: field cars
    sims = simulate(inp, 200, 1)
    assert not sims.qualified[:, [i for i, d in enumerate(s.drivers) if d.out]].any()
