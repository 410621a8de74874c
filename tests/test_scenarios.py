import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.contracts import ScenarioConfig, Slate, SlateDriver
from engine.core.scoring import score
from engine.data.grid import SimulationError
from engine.data.slates import build_slate
from engine.model.field import prepare
from engine.model.params import load_params
from engine.model.scenarios import Cancelled, simulate

MODEL = load_params()
TYPES = sorted(MODEL.types)


def make_slate(n, *, track_type="intermediate", laps=200, shadow=None, seed=0, starts=True, **driver_kw):
    rng = np.random.default_rng(seed)
    grid = rng.permutation(n) + 1
    drivers = [
        SlateDriver(
            driver_id=f"d{i}", name=f"Driver {i}", skill=float(rng.random()), aggression=float(rng.random()),
            shadow_risk=float(rng.random() * 0.3) if shadow is None else shadow,
            start_position=int(grid[i]) if starts else None,
            pit_strategy=["STANDARD", "AGGRESSIVE", "CONSERVATIVE"][i % 3], **driver_kw,
        )
        for i in range(n)
    ]
    return Slate(slate_id="t", track_type=track_type, race_length=laps, drivers=drivers)


def check_invariants(sims):
    n, d = sims.finish.shape
    fin = sims.finish.astype(int)
    assert (np.sort(fin, axis=1) == np.arange(1, d + 1)).all()
    assert (sims.laps_led.sum(axis=1) == sims.laps_run).all()  # conservation of laps, overtime included
    assert (sims.laps_led <= sims.laps_completed).all()
    assert (sims.fastest_laps.sum(axis=1) == sims.green_laps).all()
    assert (sims.green_laps <= sims.laps_run).all()
    assert (sims.fastest_laps <= sims.laps_completed).all() and (sims.fastest_laps >= 0).all()
    assert (sims.laps_completed <= sims.laps_run[:, None]).all()
    winner = fin == 1
    assert (sims.laps_led[winner] >= 1).all() and sims.running[winner].all()
    assert (sims.laps_completed[winner] == sims.laps_run).all()
    n_run = sims.running.sum(axis=1)
    order = np.argsort(fin, axis=1)
    done_in_order = np.take_along_axis(sims.laps_completed.astype(int), order, axis=1)
    run_in_order = np.take_along_axis(sims.running, order, axis=1)
    for s in range(n):
        k = n_run[s]
        assert run_in_order[s, :k].all() and not run_in_order[s, k:].any()  # DNFs behind running cars
        assert (np.diff(done_in_order[s, :k]) <= 0).all()  # lapped cars behind lead-lap cars
        assert (np.diff(done_in_order[s, k:]) <= 0).all()  # DNFs ordered by laps completed
    start = sims.grid  # each race's grid (drawn per race when part of it is unknown)
    dk = score("dk", start, fin, sims.laps_led, sims.fastest_laps, sims.laps_completed)
    fd = score("fd", start, fin, sims.laps_led, sims.fastest_laps, sims.laps_completed)
    assert np.allclose(sims.dk, dk, atol=0.01) and np.allclose(sims.fd, fd, atol=0.01)
    assert sims.valid.all() and sum(sims.rejections.values()) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 43),
    track=st.sampled_from(TYPES),
    laps=st.integers(5, 600),
    seed=st.integers(0, 2**32 - 1),
    shadow=st.one_of(st.none(), st.floats(0, 1)),
)
def test_invariants_on_random_slates(n, track, laps, seed, shadow):
    slate = make_slate(n, track_type=track, laps=laps, shadow=shadow, seed=seed % 1000)
    sims = simulate(prepare(slate, model=MODEL), 50, seed)
    check_invariants(sims)


@pytest.mark.parametrize("n", [2, 43])
def test_field_size_edges(n):
    sims = simulate(prepare(make_slate(n), model=MODEL), 2000, 1)
    check_invariants(sims)
    assert sims.finish.shape == (2000, n)


def test_every_shadow_risk_one_leaves_one_car_running():
    sims = simulate(prepare(make_slate(20, shadow=1.0), model=MODEL), 500, 3)
    check_invariants(sims)
    assert (sims.running.sum(axis=1) == 1).all()


def test_shadow_risk_zero_and_one_drive_dnfs():
    slate = make_slate(30)
    drivers = [d.model_copy(update={"shadow_risk": 0.9 if i == 0 else 0.0}) for i, d in enumerate(slate.drivers)]
    sims = simulate(prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL), 5000, 2)
    dnf = (~sims.running).mean(axis=0)
    p = MODEL.for_type("intermediate")
    in_incidents = np.dot(np.arange(len(p.incident_count_p)), p.incident_count_p) * np.dot(np.arange(2, 2 + len(p.incident_size_p)),
                                                                                          p.incident_size_p) / 30
    assert dnf[0] > 0.75 and abs(dnf[1:].mean() - in_incidents) < 0.015  # the rest only crash in multi-car incidents


def test_skill_and_start_raise_the_finish():
    slate = make_slate(36, seed=5)
    drivers = [d.model_copy(update={"skill": 0.5, "aggression": 0.5, "shadow_risk": 0.1, "pit_strategy": "STANDARD"}) for d in slate.drivers]
    drivers[0] = drivers[0].model_copy(update={"skill": 1.0})
    sims = simulate(prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL), 5000, 4)
    mean_finish = sims.finish.mean(axis=0)
    assert mean_finish[0] < mean_finish[1:].min()
    by_start = np.argsort(sims.start)
    assert mean_finish[by_start[1:6]].mean() < mean_finish[by_start[-6:]].mean()


def test_aggression_and_aggressive_pit_widen_the_spread():
    slate = make_slate(30, seed=9)
    base = {"skill": 0.5, "aggression": 0.5, "shadow_risk": 0.0, "pit_strategy": "STANDARD"}
    drivers = [d.model_copy(update=base) for d in slate.drivers]
    drivers[0] = drivers[0].model_copy(update={"aggression": 1.0})
    drivers[1] = drivers[1].model_copy(update={"pit_strategy": "AGGRESSIVE"})
    drivers[2] = drivers[2].model_copy(update={"pit_strategy": "CONSERVATIVE"})
    sims = simulate(prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL), 20000, 5)
    sd = sims.finish.std(axis=0)
    assert sd[0] > np.median(sd[3:]) and sd[1] > np.median(sd[3:]) > sd[2]


def test_incidents_hit_cars_near_each_other():
    slate = make_slate(40, track_type="superspeedway", laps=188, seed=3)
    sims = simulate(prepare(slate, model=MODEL), 5000, 6)
    gaps = []
    pos = sims.start.astype(float)
    for s in range(2000):
        for m in np.unique(sims.incident[s][sims.incident[s] > 0]):
            who = np.flatnonzero(sims.incident[s] == m)
            if len(who) >= 2:
                gaps.append(pos[who].std())
    assert len(gaps) > 500
    # cars in one incident are much closer on the grid than random cars (std ~11.5)
    assert np.mean(gaps) < 8


def test_same_seed_same_scenarios_whatever_chunks_or_workers():
    inp = prepare(make_slate(38, seed=2), model=MODEL)
    a = simulate(inp, 7000, 42, chunk_size=7000)
    b = simulate(inp, 7000, 42, chunk_size=1000, workers=2)
    c = simulate(inp, 7000, 42, chunk_size=2500, workers=3)
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k]) and np.array_equal(a.arrays[k], c.arrays[k]), k
    d = simulate(inp, 7000, 43)
    assert not np.array_equal(a.finish, d.finish)


def test_progress_and_cancel():
    inp = prepare(make_slate(30), model=MODEL)
    seen = []
    simulate(inp, 10000, 1, chunk_size=2000, progress=seen.append)
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        simulate(inp, 10000, 1, chunk_size=2000, cancel=cancel)


def test_impossible_laps_led_bounds_refused_before_simulating():
    slate = make_slate(5, laps=100)
    drivers = [d.model_copy(update={"min_laps_led": 60}) if i < 2 else d for i, d in enumerate(slate.drivers)]
    with pytest.raises(SimulationError, match=r"minimum laps led add up to 120 \(Driver 0 60 \+ Driver 1 60\), more than the 100 race laps"):
        prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL)
    drivers = [d.model_copy(update={"min_laps_led": 150}) if i == 3 else d for i, d in enumerate(slate.drivers)]
    with pytest.raises(SimulationError, match=r"min_laps_led above the race length \(100 laps\): Driver 3 \(150\)"):
        prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL)


def test_conditioning_through_bounds_and_rejection():
    slate = make_slate(36, laps=267, seed=1)
    top = max(slate.drivers, key=lambda d: d.skill)
    drivers = [d.model_copy(update={"min_laps_led": 100}) if d.driver_id == top.driver_id else d for d in slate.drivers]
    inp = prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL)
    sims = simulate(inp, 10000, 8)
    i = inp.driver_ids.index(top.driver_id)
    assert 0 < sims.n_valid < sims.n and sims.rejections["min_laps_led"] == sims.n - sims.n_valid
    assert (sims.laps_led[sims.valid, i] >= 100).all()
    diag = sims.diagnostics()
    assert diag.n_valid == sims.n_valid and diag.rejection_rate == pytest.approx(1 - sims.n_valid / sims.n)
    # a driver forced to lead most of the race: under 1% survive, said plainly
    drivers = [d.model_copy(update={"min_laps_led": 260}) if d.driver_id == min(slate.drivers, key=lambda d: d.skill).driver_id else d for d in slate.drivers]
    rare = simulate(prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL), 2000, 8)
    assert rare.n_valid < 20 and ("not reliable" in rare.warning or "no scenario" in rare.warning)


def test_diagnostics_come_from_the_scenarios():
    sims = simulate(prepare(make_slate(30), model=MODEL), 3000, 2)
    diag = sims.diagnostics()
    assert diag.avg_laps_led == pytest.approx(sims.laps_led.mean())
    assert diag.avg_position_differential == pytest.approx(np.abs(sims.start[None, :] - sims.finish).mean())
    lineup = sims.diagnostics(drivers=[0, 1])
    assert lineup.avg_laps_led == pytest.approx(sims.laps_led[:, :2].mean())


def test_missing_starts_estimated_from_skill():
    slate = make_slate(10, starts=False)
    inp = prepare(slate, model=MODEL)
    assert sorted(inp.start.tolist()) == list(range(1, 11)) and len(inp.estimated_starts) == 10
    best = max(slate.drivers, key=lambda d: d.skill)
    assert inp.start[inp.driver_ids.index(best.driver_id)] == 1


def test_bad_inputs_named():
    slate = make_slate(5)
    dup = [d.model_copy(update={"start_position": 1}) if i < 2 else d for i, d in enumerate(slate.drivers)]
    with pytest.raises(SimulationError, match=r"start_position \[1\] given to more than one driver: Driver 0, Driver 1"):
        prepare(slate.model_copy(update={"drivers": dup}), model=MODEL)
    with pytest.raises(SimulationError, match="unknown track 'mars'"):
        prepare(slate, ScenarioConfig(n_scenarios=10, track_id="mars"), model=MODEL)
    with pytest.raises(SimulationError, match="no fitted parameters for track type 'ice'"):
        prepare(slate.model_copy(update={"track_type": "ice"}), model=MODEL)


def test_field_size_adds_field_cars():
    slate = make_slate(5)
    inp = prepare(slate, ScenarioConfig(n_scenarios=10, track_id="bristol", field_size=36), model=MODEL)
    assert inp.n_drivers == 36 and inp.fillers == 31 and inp.track_type == "short"
    check_invariants(simulate(inp, 100, 1))


def test_real_slate_runs(history):
    slate = build_slate("2024-30", history)
    sims = simulate(prepare(slate, model=MODEL), 2000, 0)
    check_invariants(sims)
    frame = sims.to_frame()
    assert list(frame.columns[:10]) == ["scenario", "driver_id", "finish", "start", "status", "laps_completed", "laps_led", "fastest_laps", "dk_points", "fd_points"]
    assert len(frame) == 2000 * len(slate.drivers)


def check_field(sims, field):
    """Invariants of races with non-qualifiers: exactly ``field`` starters per race, finishing
    1..field among themselves; the others score nothing; starters' invariants as usual."""
    q = sims.qualified
    assert (q.sum(axis=1) == field).all()
    fin = sims.finish.astype(int)
    assert (np.sort(np.where(q, fin, 0), axis=1)[:, -field:] == np.arange(1, field + 1)).all()
    for arr in (sims.finish, sims.laps_led, sims.fastest_laps, sims.laps_completed, sims.dk, sims.fd, sims.grid):
        assert (arr[~q] == 0).all()
    assert (np.sort(np.where(q, sims.grid, 0), axis=1)[:, -field:] == np.arange(1, field + 1)).all()  # the grid renumbered
    assert (sims.laps_led.sum(axis=1) == sims.laps_run).all() and (sims.fastest_laps.sum(axis=1) == sims.green_laps).all()
    dk = score("dk", np.where(q, sims.grid, 1), np.where(q, fin, 1), sims.laps_led, sims.fastest_laps, sims.laps_completed)
    assert np.allclose(np.where(q, sims.dk, 0), np.where(q, dk, 0), atol=0.01)
    assert sims.valid.all()


def test_a_pool_larger_than_the_field_draws_non_qualifiers():
    slate = make_slate(12, starts=False).model_copy(update={"field_size": 9})
    inp = prepare(slate, model=MODEL)
    assert inp.qualifying_draws and inp.n_field == 9 and sorted(inp.start.tolist()) == list(range(1, 13))
    sims = simulate(inp, 4000, 3)
    check_field(sims, 9)
    miss = 1 - sims.qualified.mean(axis=0)
    skill = inp.skill
    assert np.corrcoef(skill, miss)[0, 1] < -0.8  # the weakest are likeliest to miss
    summ = sims.summary()
    assert np.allclose(summ["dnq"], miss) and (summ["win"] <= 1 - summ["dnq"] + 1e-9).all()
    # same seed, same scenarios, whatever the chunking and the workers
    again = simulate(inp, 4000, 3, chunk_size=1000, workers=2)
    for k in sims.arrays:
        assert np.array_equal(sims.arrays[k], again.arrays[k]), k


def test_known_grid_always_starts_and_out_never_does():
    slate = make_slate(12, starts=False)
    drivers = list(slate.drivers)
    weakest = min(range(12), key=lambda i: drivers[i].skill)
    drivers[weakest] = drivers[weakest].model_copy(update={"start_position": 9})  # qualified, at the back
    strongest = max(range(12), key=lambda i: drivers[i].skill)
    drivers[strongest] = drivers[strongest].model_copy(update={"out": True})
    slate = slate.model_copy(update={"drivers": drivers, "field_size": 9})
    inp = prepare(slate, model=MODEL)
    sims = simulate(inp, 2000, 5)
    check_field(sims, 9)
    assert sims.qualified[:, weakest].all() and not sims.qualified[:, strongest].any()
    assert inp.start[strongest] == 0 and sims.summary()["dnq"].iloc[strongest] == 1.0


def test_drivers_out_without_draws_leave_a_smaller_field():
    slate = make_slate(10)
    drivers = [d.model_copy(update={"out": True, "start_position": None}) if i < 2 else d for i, d in enumerate(slate.drivers)]
    grid = sorted(d.start_position for d in drivers[2:])
    drivers = [d if d.out else d.model_copy(update={"start_position": grid.index(d.start_position) + 1}) for d in drivers]
    inp = prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL)
    assert not inp.qualifying_draws and inp.n_field == 8
    sims = simulate(inp, 500, 2)
    check_field(sims, 8)
    assert not sims.qualified[:, :2].any()
    frame = sims.to_frame()
    assert set(frame.loc[frame["driver_id"].isin(["d0", "d1"]), "status"]) == {"dnq"}


def test_slates_without_non_qualifiers_keep_their_scenarios(history):
    """The qualifying draw comes last in a block's randomness: races of full fields are unchanged by it."""
    slate = build_slate("2024-30", history)
    sims = simulate(prepare(slate, model=MODEL), 1000, 9)
    assert "qualified" not in sims.arrays and sims.qualified.all()


def test_a_pool_without_a_field_size_takes_the_race_rule():
    """44 drivers and no grid (an API request, an old slate JSON): at most 40 start, not a 44-car race."""
    inp = prepare(make_slate(44, starts=False), model=MODEL)
    assert inp.n_field == 40 and inp.qualifying_draws
    check_field(simulate(inp, 500, 1), 40)
    daytona = make_slate(44, starts=False).model_copy(update={"season": 2026, "track_id": "daytona", "race_name": "DAYTONA 500"})
    assert prepare(daytona, model=MODEL).n_field == 41


def test_compiled_points_equal_the_scoring_module():
    """The simulator's compiled fantasy points (engine.model.kernels) are engine.core.scoring.score,
    value for value, on both sites, in finishing order scattered to the driver columns."""
    from engine.core.scoring import score, table
    from engine.model.kernels import fantasy_points

    rng = np.random.default_rng(4)
    n, d = 500, 40
    order = np.argsort(rng.random((n, d)), axis=1).astype(np.int32)
    start = rng.integers(1, d + 1, (n, d)).astype(np.int16)
    led = rng.integers(0, 200, (n, d)).astype(np.int32)
    fl = rng.integers(0, 60, (n, d)).astype(np.int32)
    laps = rng.integers(0, 500, (n, d)).astype(np.int32)
    position = np.arange(1, d + 1, dtype=np.int16)[None, :]
    for site in ("dk", "fd"):
        t = table(site)
        out = np.empty((n, d), np.float32)
        fantasy_points(order, t.finish_points, t.place_differential, t.per_lap_led, t.per_fastest_lap, t.per_lap_completed,
                       start, led, fl, laps, out)
        want = np.empty((n, d), np.float32)
        want[np.arange(n)[:, None], order] = score(site, start, position, led, fl, laps)
        assert np.array_equal(out, want)
