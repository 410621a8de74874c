"""The pace model v2 on known truths: the pairwise likelihood recovers the coefficients orders
were drawn with; the trouble fit finds the trouble put into simulated orders (and none where
there is none); the dominator takes its share of the laps led; an unknown grid is drawn in every
simulated race (equal drivers project equally, whatever their ids); the reliability numbers
are the bins' largest gap and the Brier skill score."""

import numpy as np
import pytest

from engine.core.contracts import Slate, SlateDriver
from engine.model.calibration import reliability_summary
from engine.model.field import prepare
from engine.model.leaders import allocate_laps_led, dominators
from engine.model.pace import fit_pace, fit_trouble
from engine.model.params import load_params
from engine.model.scenarios import simulate

MODEL = load_params()


def drawn_orders(beta, races=300, cars=36, trouble=(0.0, 0.0), seed=1):
    """Races of cars with random features, each finishing in the order of X beta + Z (- drop if in trouble)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(races):
        X = np.column_stack([rng.normal(0, 1, cars), rng.random(cars)])
        key = X @ beta + rng.standard_normal(cars) - trouble[1] * (rng.random(cars) < trouble[0])
        order = np.argsort(-key)
        rows.append((X[order], np.arange(1, cars + 1)))
    return rows


def test_the_pairwise_likelihood_recovers_the_pace_it_was_drawn_with():
    beta = np.array([0.8, 0.9])
    coef, gamma = fit_pace(drawn_orders(beta), noise="normal")
    assert np.allclose(coef, beta, atol=0.06) and gamma == 0.0
    pl, _ = fit_pace(drawn_orders(beta), noise="gumbel")  # Plackett-Luce reads the same orders on another scale
    assert pl[0] / pl[1] == pytest.approx(beta[0] / beta[1], rel=0.15)


def test_the_trouble_fit_finds_trouble_and_no_trouble():
    beta = np.array([0.8, 0.9])
    rows = drawn_orders(beta, races=200, trouble=(0.08, 3.0), seed=2)
    got = fit_trouble([X @ beta for X, _ in rows])
    assert 0.06 <= got["rate"] <= 0.10 and 2.0 <= got["drop"] <= 4.0 and got["loglik"] > got["none"]
    clean = drawn_orders(beta, races=200, seed=3)
    assert fit_trouble([X @ beta for X, _ in clean])["rate"] <= 0.02


def test_the_dominator_takes_its_share_of_the_laps_led():
    rng = np.random.default_rng(4)
    n, d, k = 4000, 30, 40
    pace = np.argsort(rng.random((n, d)), axis=1)
    start = np.arange(d)
    laps = np.full(n, 300)
    done = np.full((n, d), 300)
    stints = np.full(n, 25)
    u = [rng.random((n, k)).astype(np.float32) for _ in range(3)]
    dom = dominators(pace, rng.random(n), 0.3)
    led, leaders = allocate_laps_led(laps, stints, *u, pace, start, done, 0.3, 0.2, return_leaders=True, dominator=dom,
                                     lead_rho=0.5)
    assert (led.sum(axis=1) == 300).all()
    share = led[np.arange(n), dom] / 300
    stints_led = (leaders[:, :-1] == dom[:, None]).sum(axis=1) / 24
    assert 0.45 < stints_led.mean() < 0.65 and share.mean() > 0.4  # half the stints (and a little more by chance)
    base, _ = allocate_laps_led(laps, stints, *u, pace, start, done, 0.3, 0.2)
    assert base.max(axis=1).mean() < led.max(axis=1).mean()  # without a dominator the top leader holds less


def equal_slate(n=30, **kw):
    drivers = [SlateDriver(driver_id=name, name=name, skill=0.5, aggression=0.5, shadow_risk=0.1, salary=7000)
               for name in [f"driver-{k:02d}" for k in range(n - 1)] + ["aj-allmendinger"]]
    return Slate(slate_id="eq", track_type="intermediate", race_length=267, drivers=drivers, **kw)


def test_an_unknown_grid_is_drawn_in_every_race_and_ids_do_not_matter():
    """Every driver at skill 0.5 and no grid: each race draws its grid, so every driver starts
    everywhere and projects the same (before, the grid was one order by skill, ties by id, and
    aj-allmendinger took the pole and 15 more points than the rest)."""
    slate = equal_slate()
    inp = prepare(slate, model=MODEL)
    assert inp.grid_draw
    sims = simulate(inp, 6000, 3)
    grid = sims.grid
    assert all(sorted(row) == list(range(1, 31)) for row in grid[:50].tolist())
    assert (grid[:, 0] == 1).mean() < 0.1 and np.abs(grid.mean(axis=0) - 15.5).max() < 1.0
    dk = sims.dk.mean(axis=0)
    assert dk.max() - dk.min() < 2.5, dk  # no driver favoured by the order of ids
    pd_points = (grid - sims.finish).astype(float)
    assert pd_points.std(axis=0).min() > 5  # place differential varies with the grid


def test_known_starts_stay_and_the_rest_fill_the_free_slots():
    slate = equal_slate(10)
    drivers = [d.model_copy(update={"start_position": 1, "skill": 0.05}) if k == 3 else d.model_copy(update={"skill": 0.3 + 0.05 * k})
               for k, d in enumerate(slate.drivers)]
    inp = prepare(slate.model_copy(update={"drivers": drivers}), model=MODEL)
    sims = simulate(inp, 3000, 5)
    assert (sims.grid[:, 3] == 1).all()  # the analyst's start holds
    others = np.delete(sims.grid, 3, axis=1)
    assert (np.sort(others, axis=1) == np.arange(2, 11)).all()
    mean_start = others.mean(axis=0)
    assert np.corrcoef([d.skill for k, d in enumerate(drivers) if k != 3], mean_start)[0, 1] < -0.9  # the faster qualify ahead


def test_a_known_grid_is_not_drawn(history):
    from engine.data.slates import build_slate

    inp = prepare(build_slate("2024-30", history), model=MODEL)
    assert not inp.grid_draw


def test_reliability_numbers_by_hand():
    prob = np.r_[np.full(100, 0.15), np.full(100, 0.35), np.full(50, 0.85)]
    outcome = np.r_[np.ones(20), np.zeros(80), np.ones(50), np.zeros(50), np.ones(50)]
    r = reliability_summary(prob, outcome)
    assert r["bins_counted"] == 2 and r["max_gap"] == pytest.approx(0.15)  # 0.35 forecast, 0.50 observed; the 50-result bin does not count
    brier = np.mean((prob - outcome) ** 2)
    base = outcome.mean()
    assert r["brier_skill"] == pytest.approx(1 - brier / (base * (1 - base)), abs=1e-4)
