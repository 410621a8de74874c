"""Compiled loops of the simulator (numba): the parts of a simulated race that are a walk over
each scenario's cars (incidents, leader stints) rather than whole-array arithmetic.

Each kernel does only exact operations (comparisons, integer arithmetic, float32 sums and
products in the order numpy evaluates them), and the logarithms and exponentials stay in
numpy, so a kernel returns bit for bit what the array code it replaced returned: the same
seed gives the same races (tests/test_golden.py). They release the GIL, so the threads of
``simulate(workers=...)`` run them in parallel. Compiled on first use and cached next to
this file (numba's cache), so later processes load them."""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = dict(cache=True, nogil=True, boundscheck=False)


@njit(**_OPTS)
def laps_led(laps_run: np.ndarray, n_stints: np.ndarray, log_len: np.ndarray, r_raw: np.ndarray, u_phase: np.ndarray,
             lead_rho: float, dominator: np.ndarray, exp_rank: np.ndarray, pace_order: np.ndarray,
             start_order: np.ndarray, laps_completed: np.ndarray, leaders: np.ndarray) -> np.ndarray:
    """Laps led per driver (N, D) from leader stints (engine.model.leaders.allocate_laps_led,
    which computes the logarithms: ``log_len`` = log of the length uniforms, ``r_raw`` = the
    geometric ranks before capping, ``exp_rank[r]`` = exp(-kappa r), ones without kappa).

    Per race: stint k of K is the last (led by the winner), the dominator's (``lead_rho`` > 0
    and its uniform below rho; ``dominator`` has a car per race then), or from the pace order
    (uniform below the race fraction, mapped past rho) else the start order, as the r-th car;
    lengths are the cumulative weights log_len * exp_rank[r] scaled to the laps run, cut to
    whole laps (the last stint ends on the last lap). A stint of no laps has no leader; a
    leader out of the race before its stint ends is replaced by the next car of its order
    (past the last car: the finishing order from its top), at most 2 D times. ``leaders``
    (N, K), when it has N rows, gets each stint's leader (-1: no laps)."""
    n, d = pace_order.shape
    per_row_start = start_order.ndim == 2
    flat_start = start_order.ravel()
    keep = leaders.shape[0] == n
    has_dom = lead_rho > 0 and dominator.shape[0] == n
    rho = np.float32(lead_rho)
    one_minus_rho = np.float32(1.0 - lead_rho)
    half = np.float32(0.5)
    top = np.float32(d - 1)
    led = np.zeros((n, d), np.int32)
    cum = np.empty(r_raw.shape[1], log_len.dtype)
    for s in range(n):
        K = n_stints[s]
        L = np.int32(laps_run[s])
        acc = log_len[s, 0] - log_len[s, 0]
        for k in range(K):
            rk = min(r_raw[s, k], top)
            if k == K - 1 or (has_dom and u_phase[s, k] < rho):
                rk = rk - rk
            acc = acc + log_len[s, k] * exp_rank[np.int64(rk)]
            cum[k] = acc
        scale = np.float32(np.float64(L) / np.float64(cum[K - 1]))
        prev = np.int32(0)
        for k in range(K):
            last = k == K - 1
            end = L if last else max(min(np.int32(cum[k] * scale), L - 1), prev)
            length = end - prev
            prev = end
            if length <= 0:
                continue
            frac = (np.float32(k) + half) / np.float32(K)
            dom = False
            if has_dom:
                dom = u_phase[s, k] < rho and not last
                frac = frac * one_minus_rho
                frac = frac + rho
            pace = last or u_phase[s, k] < frac
            rank = np.int64(0) if (last or dom) else np.int64(min(r_raw[s, k], top))
            if dom:
                leader = np.int64(dominator[s])
            elif pace:
                leader = np.int64(pace_order[s, rank])
            else:
                leader = np.int64(flat_start[s * d + rank] if per_row_start else flat_start[rank])
            if laps_completed[s, leader] < end:
                for _ in range(2 * d):
                    rank += 1
                    if rank >= d:
                        pace = True
                        rank = 0
                    if pace:
                        cand = np.int64(pace_order[s, rank])
                    else:
                        cand = np.int64(flat_start[s * d + rank] if per_row_start else flat_start[rank])
                    if laps_completed[s, cand] >= end:
                        leader = cand
                        break
            led[s, leader] += length
            if keep:
                leaders[s, k] = leader
    return led


@njit(**_OPTS)
def incidents(n_inc: np.ndarray, sizes: np.ndarray, inc_frac: np.ndarray, inc_center: np.ndarray, inc_hit: np.ndarray,
              jitter_shift: np.ndarray, laps_run: np.ndarray, start_rank: np.ndarray, pace_rank: np.ndarray,
              reach: np.ndarray, out_lap: np.ndarray, involved_in: np.ndarray, inc_laps: np.ndarray,
              inc_sizes: np.ndarray) -> None:
    """Multi-car incidents, in place (engine.model.race): incident m of a race happens at the
    race fraction ``inc_frac`` and takes out the ``sizes`` cars still running nearest its
    centre in the running order of that moment (start order blended into the pace order),
    the distance divided by ``reach``, plus twice a jitter (``inc_hit`` shifted by
    ``jitter_shift[m]``, wrapped into [0, 1)); ties at the threshold all go out."""
    n, d = pace_rank.shape
    one, two, inf = np.float32(1.0), np.float32(2.0), np.float32(np.inf)
    key = np.empty(d, np.float32)
    tmp = np.empty(d, np.float32)
    for s in range(n):
        for m in range(n_inc[s]):
            f = np.float32(inc_frac[s, m])
            lap = np.int32(np.floor(inc_frac[s, m] * laps_run[s]))
            center = np.float32(inc_center[s, m] * (d - 1))
            for i in range(d):
                if out_lap[s, i] <= lap:
                    key[i] = inf
                    continue
                pos = (one - f) * start_rank[s, i] + f * np.float32(pace_rank[s, i])
                jitter = inc_hit[s, i] + jitter_shift[m]
                if jitter >= one:
                    jitter = jitter - one
                key[i] = np.abs(pos - center) / reach[s, i] + two * jitter
            # the size-th smallest key: the `size` smallest kept sorted in tmp (inserted in turn)
            size = min(sizes[s, m], d)
            for j in range(size):
                tmp[j] = inf
            for i in range(d):
                v = key[i]
                if v < tmp[size - 1]:
                    j = size - 1
                    while j > 0 and tmp[j - 1] > v:
                        tmp[j] = tmp[j - 1]
                        j -= 1
                    tmp[j] = v
            thr = tmp[size - 1]
            hit = 0
            for i in range(d):
                if key[i] <= thr and key[i] < inf:
                    out_lap[s, i] = lap
                    involved_in[s, i] = m + 1
                    hit += 1
            inc_laps[s, m] = lap
            inc_sizes[s, m] = hit


@njit(**_OPTS)
def classify(pace_order: np.ndarray, out_lap: np.ndarray, laps_run: np.ndarray, down_raw: np.ndarray):
    """The classification (engine.model.race): running cars by pace, then the cars out by
    laps completed (most first; a stable order, ties by pace); laps completed in finishing
    order, the running cars ``down_raw`` laps down made monotone along the order (the
    winner on the lead lap, never a whole race down). Returns (order, running in finishing
    order, laps completed in finishing order, laps completed per driver)."""
    n, d = pace_order.shape
    order = np.empty((n, d), np.int32)
    seq_running = np.empty((n, d), np.bool_)
    seq_laps = np.empty((n, d), np.int32)
    laps_done = np.empty((n, d), np.int32)
    out = np.empty(d, np.int64)  # the cars out, in pace order, then sorted by laps completed
    for s in range(n):
        L = laps_run[s]
        k = 0
        n_out = 0
        for j in range(d):  # running cars keep the pace order
            car = pace_order[s, j]
            if out_lap[s, car] < L:
                # insertion by laps completed, most first; equal laps keep the pace order
                lap = min(out_lap[s, car], L)
                i = n_out
                while i > 0 and min(out_lap[s, out[i - 1]], L) < lap:
                    out[i] = out[i - 1]
                    i -= 1
                out[i] = car
                n_out += 1
            else:
                order[s, k] = car
                k += 1
        for i in range(n_out):
            order[s, k + i] = out[i]
        down = 0
        for k in range(d):
            car = order[s, k]
            lap = out_lap[s, car]
            running = not lap < L
            seq_running[s, k] = running
            if running:
                if k > 0 and down_raw[s, k] > down:
                    down = down_raw[s, k]
                laps = L - min(down, L - 1)
            else:
                laps = min(lap, L)
            seq_laps[s, k] = laps
            laps_done[s, car] = laps
    return order, seq_running, seq_laps, laps_done


@njit(**_OPTS)
def to_drivers(order: np.ndarray, seq: np.ndarray, out: np.ndarray) -> None:
    """out[s, order[s, k]] = seq[s, k] (finishing order to driver columns)."""
    n, d = order.shape
    for s in range(n):
        for k in range(d):
            out[s, order[s, k]] = seq[s, k]


@njit(**_OPTS)
def ranks(order: np.ndarray) -> np.ndarray:
    """Each car's place in ``order`` (N, D): rank[s, order[s, k]] = k."""
    n, d = order.shape
    out = np.empty((n, d), np.int16)
    for s in range(n):
        for k in range(d):
            out[s, order[s, k]] = k
    return out


@njit(**_OPTS)
def in_order(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values[s, order[s, k]] for every s, k (driver columns to finishing order, or the
    columns of a race's cars); ``values`` (N, any) or (any,)."""
    n, d = order.shape
    out = np.empty((n, d), values.dtype)
    per_row = values.ndim == 2
    width = values.shape[-1]
    flat = values.ravel()
    for s in range(n):
        for k in range(d):
            out[s, k] = flat[s * width + order[s, k]] if per_row else flat[order[s, k]]
    return out


@njit(**_OPTS)
def permutations_ok(finish: np.ndarray, field: int) -> np.ndarray:
    """Rows whose values are 1..field once each and 0 for the other columns."""
    n, d = finish.shape
    ok = np.ones(n, np.bool_)
    seen = np.zeros(d + 1, np.int64)
    for s in range(n):
        seen[:] = 0
        for k in range(d):
            v = finish[s, k]
            if v < 0 or v > field:
                ok[s] = False
                break
            seen[v] += 1
        if ok[s]:
            ok[s] = seen[0] == d - field
            for v in range(1, field + 1):
                if seen[v] != 1:
                    ok[s] = False
    return ok


@njit(**_OPTS)
def fastest_log_shares(a: np.ndarray, c: np.ndarray, laps_led: np.ndarray, laps_run: np.ndarray, psi: float) -> np.ndarray:
    """log w - max log w per race, log w = a + psi * laps_led / laps_run + c (a = phi * fin_pct
    and c = sigma * eps, computed by numpy in their own dtypes), in float64 as numpy adds them."""
    n, d = laps_led.shape
    z = np.empty((n, d), np.float64)
    for s in range(n):
        top = -np.inf
        for k in range(d):
            v = (np.float64(a[s, k]) + psi * np.float64(laps_led[s, k]) / np.float64(laps_run[s])) + np.float64(c[s, k])
            z[s, k] = v
            top = max(top, v)
        for k in range(d):
            z[s, k] = z[s, k] - top
    return z


@njit(**_OPTS)
def _row_sum(w: np.ndarray) -> float:
    """numpy's sum of a short contiguous float64 row (its pairwise summation: eight running
    sums, combined in pairs, then the rest one by one), so the total is numpy's to the bit."""
    d = w.shape[0]
    if d < 8:
        res = 0.0
        for i in range(d):
            res += w[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    i = 8
    while i < d - (d % 8):
        r0 += w[i]
        r1 += w[i + 1]
        r2 += w[i + 2]
        r3 += w[i + 3]
        r4 += w[i + 4]
        r5 += w[i + 5]
        r6 += w[i + 6]
        r7 += w[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < d:
        res += w[i]
        i += 1
    return res


@njit(**_OPTS)
def fastest_laps(e: np.ndarray, green: np.ndarray, u: np.ndarray, laps_completed: np.ndarray,
                 laps_run: np.ndarray) -> np.ndarray:
    """Whole fastest laps from the shares' exponentials ``e`` (engine.model.leaders.allocate_fastest_laps):
    w = laps completed * e, expected counts green * w / sum(w), then systematic rounding of the
    cumulative counts (the last one set to ``green``) shifted by one uniform per race; counts
    above a car's laps (completed, and run) go to the car with most room left (the first)."""
    n, d = e.shape
    fl = np.empty((n, d), np.int32)
    w = np.empty(d, np.float64)
    for s in range(n):
        for k in range(d):
            w[k] = np.float64(laps_completed[s, k]) * e[s, k]
        total = _row_sum(w)
        if not total > 0:
            total = 1.0
        g = np.float64(green[s])
        acc = 0.0
        prev = np.int32(0)
        over = False
        for k in range(d):
            acc = acc + g * w[k] / total
            c = g if k == d - 1 else acc
            ci = np.int32(c + u[s])
            fl[s, k] = ci - prev
            prev = ci
            if fl[s, k] > min(laps_completed[s, k], laps_run[s]):
                over = True
        if over:
            excess = 0
            best, room = 0, np.int64(-1)
            for k in range(d):
                cap = min(laps_completed[s, k], laps_run[s])
                if fl[s, k] > cap:
                    excess += fl[s, k] - cap
                    fl[s, k] = cap
            for k in range(d):
                left = np.int64(min(laps_completed[s, k], laps_run[s])) - fl[s, k]
                if left > room:
                    best, room = k, left
            fl[s, best] += excess
    return fl


@njit(**_OPTS)
def rows_ok(laps_led: np.ndarray, laps_run: np.ndarray, fastest: np.ndarray, green: np.ndarray, laps_completed: np.ndarray,
            min_led: np.ndarray, max_led: np.ndarray):
    """Per race: laps led add up to the laps run; fastest laps add up to the green-flag laps
    (at most the laps run), none negative or above a car's laps completed; every car's laps
    led within its bounds (``max_led`` -1: none). Returns the four masks."""
    n, d = laps_led.shape
    ok_laps = np.empty(n, np.bool_)
    ok_fast = np.empty(n, np.bool_)
    ok_min = np.empty(n, np.bool_)
    ok_max = np.empty(n, np.bool_)
    for s in range(n):
        led_sum = np.int64(0)
        fl_sum = np.int64(0)
        fast, lo, hi = green[s] <= laps_run[s], True, True
        for k in range(d):
            led = laps_led[s, k]
            fl = fastest[s, k]
            led_sum += led
            fl_sum += fl
            if fl > laps_completed[s, k] or fl < 0:
                fast = False
            if led < min_led[k]:
                lo = False
            if max_led[k] >= 0 and led > max_led[k]:
                hi = False
        ok_laps[s] = led_sum == laps_run[s]
        ok_fast[s] = fast and fl_sum == green[s]
        ok_min[s] = lo
        ok_max[s] = hi
    return ok_laps, ok_fast, ok_min, ok_max


@njit(**_OPTS)
def fantasy_points(order: np.ndarray, finish_points: np.ndarray, place_differential: float, per_lap_led: float,
                   per_fastest_lap: float, per_lap_completed: float, start: np.ndarray, laps_led: np.ndarray,
                   fastest: np.ndarray, laps: np.ndarray, out: np.ndarray) -> None:
    """engine.core.scoring.score of the finishing order (position k + 1; the other arrays in
    finishing order), in the same float64 operations and order, rounded to cents as numpy
    rounds, written to the driver columns of ``out`` (tests/test_scenarios.py checks it
    equals score())."""
    n, d = order.shape
    for s in range(n):
        for k in range(d):
            f = k + 1
            x = finish_points[f] + place_differential * np.float64(start[s, k] - f)
            x = x + per_lap_led * np.float64(laps_led[s, k])
            x = x + per_fastest_lap * np.float64(fastest[s, k])
            if per_lap_completed != 0:
                x = x + per_lap_completed * np.float64(laps[s, k])
            out[s, order[s, k]] = np.rint(x * 100.0) / 100.0


@njit(**_OPTS)
def own_dnfs(u: np.ndarray, p_own: np.ndarray, share: np.float32, acc_scale: np.float32, rest_scale: np.float32):
    """The cars out on their own (uniform ``u`` below their DNF probability ``p_own``, both
    float32, (N, D)), race by race: (race, car, accident?, the uniform that places the lap),
    v = u / p_own being uniform given the DNF: an accident when v < ``share``, the lap's
    uniform v / acc_scale or (v - share) / rest_scale (float32, as numpy computes them)."""
    n, d = u.shape
    count = 0
    for s in range(n):
        for k in range(d):
            if u[s, k] < p_own[s, k]:
                count += 1
    rows = np.empty(count, np.int64)
    cols = np.empty(count, np.int64)
    accident = np.empty(count, np.bool_)
    lap_u = np.empty(count, np.float32)
    j = 0
    for s in range(n):
        for k in range(d):
            if u[s, k] < p_own[s, k]:
                v = u[s, k] / p_own[s, k]
                rows[j], cols[j] = s, k
                accident[j] = v < share
                lap_u[j] = v / acc_scale if v < share else (v - share) / rest_scale
                j += 1
    return rows, cols, accident, lap_u
