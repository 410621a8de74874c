"""Compiled loops of the optimizer (numba; cached next to this file, nogil): the optimal% DP of
engine.dfs.optimal, race by race, with its table in cache. Its float32 sums and comparisons are
the ones the array version made, in the same order, so it picks the same lineups."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _relax(src: np.ndarray, dst: np.ndarray, mark: np.ndarray, p: np.float32, wi: int, W: int, code: np.uint8) -> None:
    """Taking the item from each weight x of ``src`` (one count, one deep tally) into x + wi of
    ``dst``: the mark is ``code`` where that is strictly better, else 0 (branch-free, vectorizable)."""
    for x in range(W + 1 - wi):
        cand = src[x] + p
        cur = dst[x + wi]
        better = cand > cur
        mark[x + wi] = code * better
        dst[x + wi] = cand if better else cur


@njit(cache=True, nogil=True, boundscheck=False)
def best_lineups(pts: np.ndarray, base: np.ndarray, w: np.ndarray, deep: np.ndarray, R: int, K: int, W: int,
                 lo: int, hi: int, chosen: np.ndarray, scores: np.ndarray) -> None:
    """For races lo..hi: the best R of the items (``pts`` races x items, float32) whose weights
    ``w`` sum to at most W, with at least K ``deep`` items (counted up to K), on top of ``base``;
    0/1 knapsack by items, the counts updated from the largest down (each item once), ties kept
    (an item replaces a state only when strictly better). Writes the chosen item positions
    (ascending) to ``chosen[s]`` and the best total (-inf when none) to ``scores[s]``."""
    n_items = pts.shape[1]
    V = np.empty((R + 1, K + 1, W + 1), np.float32)
    took = np.empty((n_items, R + 1, K + 1, W + 1), np.uint8)
    ninf = np.float32(-np.inf)
    for s in range(lo, hi):
        V[:] = ninf
        V[0, 0, 0] = base[s]
        for j in range(n_items):
            wi = w[j]
            if wi > W:
                continue
            c_hi = min(j, R - 1)
            c_lo = max(0, R - (n_items - j))
            p = pts[s, j]
            two = deep[j] and K > 0
            for c in range(c_hi, c_lo - 1, -1):
                if two:
                    for t in range(K):  # a deep item: one more deep starter (t -> t + 1), code 1
                        _relax(V[c, t], V[c + 1, t + 1], took[j, c + 1, t + 1], p, wi, W, np.uint8(1))
                    mark = took[j, c + 1, K]  # already K deep: stays K, code 2 added to the mark
                    for x in range(W + 1 - wi):
                        cand = V[c, K, x] + p
                        cur = V[c + 1, K, x + wi]
                        better = cand > cur
                        mark[x + wi] += np.uint8(2) * better
                        V[c + 1, K, x + wi] = cand if better else cur
                else:
                    for t in range(K + 1):
                        _relax(V[c, t], V[c + 1, t], took[j, c + 1, t], p, wi, W, np.uint8(1))
        best, top = 0, V[R, K, 0]
        for x in range(1, W + 1):
            if V[R, K, x] > top:
                best, top = x, V[R, K, x]
        scores[s] = top
        # backtrack, reading only the marks this race's DP wrote (the rest are 0)
        c, t, x, k = R, K, best, R
        for j in range(n_items - 1, -1, -1):
            wi = w[j]
            if c == 0 or wi > W or x < wi:
                continue
            c_hi = min(j, R - 1)
            c_lo = max(0, R - (n_items - j))
            if c - 1 < c_lo or c - 1 > c_hi or (deep[j] and K > 0 and t == 0):
                continue
            code = took[j, c, t, x]
            if code >= 2:
                code = 2
            if code > 0:
                k -= 1
                chosen[s, k] = j
                c -= 1
                x -= wi
                if code == 1 and deep[j] and K > 0:
                    t -= 1
