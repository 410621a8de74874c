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
    u_len, u_rank, u_phase = u_len[:, :kmax], u_rank[:, :kmax], u_phase[:, :kmax]
    L = laps_run.astype(np.int32)
    k_idx = np.arange(kmax, dtype=np.int32)[None, :]
    used = k_idx < n_stints[:, None]
    last = k_idx == (n_stints - 1)[:, None]
    frac = (np.arange(kmax, dtype=f32)[None, :] + f32(0.5)) / n_stints[:, None].astype(f32)
    use_dom = None
    if lead_rho and dominator is not None:
        use_dom = u_phase < f32(lead_rho)
        use_dom &= ~last
        # otherwise (v - rho) / (1 - rho) < f, i.e. v < rho + (1 - rho) f (dominator stints do not use it)
        frac *= f32(1.0 - lead_rho)
        frac += f32(lead_rho)
    use_pace = u_phase < frac
    r = np.floor(np.log(np.maximum(u_rank, f32(1e-12))) * f32(1.0 / math.log(1.0 - lead_p)))
    np.minimum(r, f32(d - 1), out=r)
    use_pace |= last
    r[last] = 0
    if use_dom is not None:
        np.copyto(r, f32(0), where=use_dom)
    weight = np.log(np.maximum(u_len, f32(1e-12)))  # minus a standard exponential; the sign cancels below
    if lead_kappa:
        weight *= np.exp(f32(-lead_kappa) * r)
    weight[~used] = 0
    cum = np.cumsum(weight, axis=1)
    cum *= (L[:, None] / cum[:, -1:]).astype(f32)
    ends = cum.astype(np.int32)
    np.minimum(ends, (L - 1)[:, None], out=ends)
    tail = ~used | last
    ends[tail] = np.broadcast_to(L[:, None], ends.shape)[tail]
    np.maximum.accumulate(ends, axis=1, out=ends)
    lengths = np.diff(ends, axis=1, prepend=np.int32(0))
    # leaders only for the stints that hold laps (flat arrays from here on)
    nz = np.flatnonzero(lengths.ravel() > 0)
    row = nz // kmax
    ri = r.ravel()[nz].astype(np.int64)
    up = use_pace.ravel()[nz]
    stint_end = ends.ravel()[nz]
    start_order = np.asarray(start_order)
    per_row_start = start_order.ndim == 2

    def pick(rows, ranks, pace):
        from_start = start_order[rows, ranks] if per_row_start else start_order[ranks]
        return np.where(pace, pace_order.ravel()[rows * d + ranks], from_start)

    leader = pick(row, ri, up)
    if use_dom is not None:
        dom_stint = use_dom.ravel()[nz]
        leader = np.where(dom_stint, np.asarray(dominator)[row], leader)
    done_flat = laps_completed.ravel()
    # replace leaders out of the race before their stint ends by the next car of their order
    bad = np.flatnonzero(done_flat[row * d + leader] < stint_end)
    rr, upb = ri[bad], up[bad]
    for _ in range(2 * d):
        if bad.size == 0:
            break
        rr = rr + 1
        wrap = rr >= d
        upb = upb | wrap
        rr[wrap] = 0
        cand = pick(row[bad], rr, upb)
        ok = done_flat[row[bad] * d + cand] >= stint_end[bad]
        leader[bad[ok]] = cand[ok]
        keep = ~ok
        bad, rr, upb = bad[keep], rr[keep], upb[keep]
    led = np.bincount(row * d + leader, weights=lengths.ravel()[nz], minlength=n * d).reshape(n, d)
    leaders = None
    if return_leaders:
        leaders = np.full(n * kmax, -1, dtype=np.int64)
        leaders[nz] = leader
        leaders = leaders.reshape(n, kmax)
    return led.astype(np.int32), leaders


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
    logw = phi * fin_pct + psi * laps_led / laps_run[:, None] + sigma * eps
    w = laps_completed * np.exp(logw - logw.max(axis=1, keepdims=True))
    total = w.sum(axis=1, keepdims=True)
    expect = green[:, None] * w / np.where(total > 0, total, 1.0)
    c = np.cumsum(expect, axis=1)
    c[:, -1] = green
    c += u[:, None]
    fl = np.diff(c.astype(np.int32), axis=1, prepend=np.int32(0))  # floor(0 + u) = 0; c >= 0 so int() is floor
    cap = np.minimum(laps_completed, laps_run[:, None]).astype(np.int32)
    over = np.flatnonzero((fl > cap).any(axis=1))
    if over.size:
        excess = np.maximum(fl[over] - cap[over], 0).sum(axis=1)
        fl[over] = np.minimum(fl[over], cap[over])
        best = np.argmax(cap[over] - fl[over], axis=1)
        fl[over, best] += excess
    return fl


def dominators(pace: np.ndarray, u: np.ndarray, lead_p: float) -> np.ndarray:
    """The race's dominator per scenario: the r-th car of the finishing order, r ~ Geometric(lead_p)
    (0-based) from one uniform ``u`` each."""
    r = np.minimum(np.floor(np.log(np.maximum(u, 1e-12)) / np.log(1.0 - lead_p)).astype(np.int64), pace.shape[1] - 1)
    return pace[np.arange(len(pace)), r]
