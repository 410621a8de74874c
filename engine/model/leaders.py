"""Laps led and fastest laps of the simulated races, allocated so they add up.

* laps led: the laps run split into K ~ 1 + Poisson(lambda) leader stints; each stint's
  leader is the r-th car, r ~ Geometric(p), of the start order or of the pace order (the
  latter with probability equal to the race fraction reached), skipping cars out before
  the stint ends; stint lengths ~ Exponential * exp(-kappa * r) (front-runners hold the
  lead longer); the winner leads the last stint (and so the last lap). lambda, p and kappa
  are fitted to the type's number of leaders, top leader share and winner's share.
* fastest laps: the green-flag laps G = round(g * laps run), g from the type's empirical
  green fraction; shares proportional to laps_completed * exp(phi * finish_pct +
  psi * laps_led / laps + sigma * eps), allocated exactly (systematic rounding, capped at
  laps completed), so they sum to G, never above the laps run."""

from __future__ import annotations

import math

import numpy as np

from engine.model.kernels import fastest_laps, fastest_log_shares, laps_led


def allocate_laps_led(
    laps_run: np.ndarray, n_stints: np.ndarray, u_len: np.ndarray, u_rank: np.ndarray, u_phase: np.ndarray,
    pace_order: np.ndarray, start_order: np.ndarray, laps_completed: np.ndarray, lead_p: float, lead_kappa: float,
    return_leaders: bool = False, dominator: np.ndarray | None = None, lead_rho: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Laps led per driver (summing to ``laps_run`` in every scenario) from leader stints.

    ``pace_order[s]`` lists driver indices by finishing position (winner first);
    ``start_order`` (D,) or (N, D) lists them by grid position. Stint k of K takes its
    leader from the pace order with probability f_k = (k + 0.5) / K (the race fraction),
    else from the start order, as the r-th car, r ~ Geometric(lead_p) (0-based); one
    uniform v per stint gives both (v < f_k picks the order; v / f_k or (v - f_k) / (1 - f_k),
    uniform given that choice, gives r). The winner leads the last stint. Stint lengths are
    proportional to E_k * exp(-lead_kappa * r_k), E_k standard exponential (uniform spacings
    when lead_kappa = 0), so front-runners hold the lead longer; rounded so they sum to the
    laps run, the last stint at least one lap. A leader out of the race before its stint
    ends is replaced by the next car of its order.

    The race's dominator: with ``lead_rho`` > 0, every stint but the last goes to the race's
    ``dominator`` (one driver per scenario, e.g. the r-th of the pace order) with probability
    rho, weighted as a front-runner's (r = 0); the same uniform v decides it (v < rho), and
    (v - rho) / (1 - rho) then picks the order as above. One car that keeps regaining the lead
    after pit cycles is what makes real top-leader shares as high as they are.
    Returns (laps_led (N, D), leader per stint (N, K) with -1 for empty stints, when asked).
    """
    n, d = pace_order.shape
    f32 = np.float32
    kmax = min(u_rank.shape[1], int(n_stints.max()))
    # the logarithms here, the stints in engine.model.kernels.laps_led (exact arithmetic only)
    r_raw = np.maximum(u_rank[:, :kmax], f32(1e-12))  # in place from here: the same operations, fewer arrays
    np.log(r_raw, out=r_raw)
    np.multiply(r_raw, f32(1.0 / math.log(1.0 - lead_p)), out=r_raw)
    np.floor(r_raw, out=r_raw)
    log_len = np.maximum(u_len[:, :kmax], f32(1e-12))
    np.log(log_len, out=log_len)  # minus a standard exponential; the sign cancels
    ranks = np.arange(d, dtype=r_raw.dtype)
    exp_rank = np.exp(f32(-lead_kappa) * ranks) if lead_kappa else np.ones(d, log_len.dtype)
    with_dom = bool(lead_rho) and dominator is not None
    leaders = np.full((n, kmax), -1, dtype=np.int64) if return_leaders else np.empty((0, kmax), dtype=np.int64)
    led = laps_led(laps_run, np.asarray(n_stints, np.int64), log_len, r_raw, u_phase[:, :kmax], float(lead_rho) if with_dom else 0.0,
                   np.asarray(dominator, np.int64) if with_dom else np.zeros(0, np.int64), exp_rank, pace_order,
                   np.ascontiguousarray(start_order), laps_completed, leaders)
    return led, (leaders if return_leaders else None)


def allocate_fastest_laps(
    green: np.ndarray, laps_run: np.ndarray, laps_completed: np.ndarray, fin_pct: np.ndarray, laps_led: np.ndarray,
    eps: np.ndarray, u: np.ndarray, phi: float, psi: float, sigma: float,
) -> np.ndarray:
    """Fastest laps per driver: exactly ``green`` per scenario, none above a driver's laps.

    Shares w_i = laps_completed_i * exp(phi * fin_pct_i + psi * laps_led_i / laps_run +
    sigma * eps_i); counts by systematic rounding of the cumulative expected counts with one
    uniform ``u`` per scenario (each count is the floor or ceiling of its expectation, the
    sum is exact); counts above a driver's laps completed go to the driver with most room.
    """
    n, d = laps_completed.shape
    a = np.broadcast_to(phi * fin_pct, (n, d))  # numpy's dtypes for the two products (float32 ones stay float32)
    z = fastest_log_shares(a, sigma * eps, laps_led, laps_run, float(psi))
    return fastest_laps(np.exp(z), green, u, laps_completed, laps_run)


def dominators(pace: np.ndarray, u: np.ndarray, lead_p: float) -> np.ndarray:
    """The race's dominator per scenario: the r-th car of the finishing order, r ~ Geometric(lead_p)
    (0-based) from one uniform ``u`` each."""
    r = np.minimum(np.floor(np.log(np.maximum(u, 1e-12)) / np.log(1.0 - lead_p)).astype(np.int64), pace.shape[1] - 1)
    return pace[np.arange(len(pace)), r]
