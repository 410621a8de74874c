import numpy as np
import pytest

from engine.model import calibration as C


def test_crps_of_positions_equals_the_ensemble_crps():
    rng = np.random.default_rng(0)
    for field in (2, 10, 40):
        ens = rng.integers(1, field + 1, size=(25, 300))
        y = rng.integers(1, field + 1, size=25)
        probs = C.position_probs(ens.T, field)
        ours = C.crps_positions(probs, y)
        ref = np.asarray(C._scoringrules().crps_ensemble(y.astype(float), ens.astype(float), estimator="nrg", backend="numpy"))
        assert np.allclose(ours, ref)


def test_crps_of_points_is_the_energy_form():
    """The points CRPS (scoringrules' integral form) equals E|X - y| - E|X - X'| / 2 over all pairs."""
    rng = np.random.default_rng(1)
    samples = rng.gamma(2.0, 20.0, size=(12, 400)).round(2)
    y = rng.gamma(2.0, 20.0, size=12).round(2)
    pairs = np.abs(samples[:, :, None] - samples[:, None, :]).mean(axis=(1, 2))
    energy = np.abs(samples - y[:, None]).mean(axis=1) - pairs / 2
    assert np.allclose(C.crps_points(samples, y), energy, rtol=1e-12, atol=1e-12)


def test_crps_golden():
    probs = np.array([[0.2, 0.4, 0.2, 0.0, 0.2]])
    assert C.crps_positions(probs, np.array([2]))[0] == pytest.approx(0.28)
    assert C.crps_positions(np.array([[1.0, 0, 0]]), np.array([1]))[0] == 0.0


def test_log_score_smoothing_keeps_unseen_positions_finite():
    counts = np.array([[10.0, 0.0, 0.0, 0.0]])
    got = C.log_score_positions(counts, np.array([3]))
    assert got[0] == pytest.approx(np.log(0.5 / (10 + 0.5 * 4)))
    assert C.log_score_positions(counts, np.array([1]))[0] == pytest.approx(np.log(10.5 / 12))


def test_randomized_pit_is_uniform_and_coverage_exact_for_a_calibrated_forecast():
    rng = np.random.default_rng(1)
    field, n = 12, 20000
    p = rng.dirichlet(np.ones(field) * 0.7, size=n)
    y = np.array([rng.choice(field, p=row) + 1 for row in p])
    pit = C.randomized_pit(p, y, rng.random(n))
    h = C.pit_histogram(pit)
    assert max(abs(x - 0.1) for x in h) < 0.01
    for level in C.LEVELS:
        assert C.coverage_pit(pit, level).mean() == pytest.approx(level, abs=0.01)
        assert C.coverage_inclusive(p, y, level).mean() > level + 0.02  # inclusive intervals over-cover ranks


def test_pit_detects_a_biased_forecast():
    rng = np.random.default_rng(2)
    field, n = 10, 5000
    y = rng.integers(1, 4, size=n)  # reality: top-3 finishes only
    p = np.full((n, field), 1 / field)  # forecast: uniform
    pit = C.randomized_pit(p, y, rng.random(n))
    assert C.pit_histogram(pit)[0] > 0.25 and C.coverage_pit(pit, 0.5).mean() < 0.3


def test_reliability_and_points():
    rng = np.random.default_rng(3)
    prob = rng.random(10000)
    outcome = rng.random(10000) < prob
    rel = C.reliability(prob, outcome)
    assert all(abs(b["forecast"] - b["observed"]) < 0.05 for b in rel["bins"])
    assert rel["brier"] == pytest.approx(np.mean((prob - outcome) ** 2))
    samples = rng.normal(40, 10, size=(3, 4000))
    y = np.array([40.0, 55.0, 10.0])
    crps = C.crps_points(samples, y)
    assert crps[0] < crps[1] < crps[2]
    assert C.coverage_points(samples, y, 0.8).tolist() == [True, False, False]
