"""The pace model's fit: the order of the cars running at the finish given their pre-race
information, u_i = b_skill * logit(skill_i) + b_start * start_pct_i (+ shared coefficients of
practice and qualifying ranks), skill as engine.data.slates derives it from the races before each
race (no look-ahead). Two noise models, each fitted by its own likelihood:

* ``gumbel``: the order of u_i + G_i, G_i standard Gumbel, i.e. Plackett-Luce (Plackett 1975;
  Luce 1959), fitted by maximum likelihood, prod_k exp(u_(k)) / sum_{j >= k} exp(u_(j)).
* ``normal``: the order of u_i + sigma_i Z_i, Z_i standard normal (Thurstone's case V, a
  rank-ordered probit), with sigma_i = 1 or, ``hetero``, exp(gamma * logit(skill_i)). Its
  likelihood has no closed form, so it is fitted by the pairwise composite likelihood (Lindsay
  1988; Varin, Reid and Firth 2011): over every pair of running cars with i ahead of j,
  sum log Phi((u_i - u_j) / sqrt(sigma_i^2 + sigma_j^2)), whose maximum is consistent for the
  same parameters. The normal's lighter tail gives the favourites more of the front than
  Plackett-Luce's Gumbel does, and the back-markers less (the rolling-origin backtest's
  reliability of top-5 and top-10 chances, docs/calibration.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_ndtr

from engine.data.form import derive_driver_params
from engine.data.history import History
from engine.model.field import pace_feature

NOISES = ("gumbel", "normal")
_SKILL_CACHE: dict[tuple, pd.DataFrame] = {}


def race_skills(history: History, race) -> pd.DataFrame:
    """Driver defaults of a race's grid from the races before it (cached: the same for every
    fit that includes the race, since it depends only on earlier races)."""
    key = (history.series, history.cross_series, history.prefix_hashes[race.race_id], race.race_id)
    if key not in _SKILL_CACHE:
        grid = history.results[history.results["race_id"] == race.race_id]
        _SKILL_CACHE[key] = derive_driver_params(history.before(race.season, race.race), grid["driver_id"].tolist(), race.track_type,
                                                 until=race.date)
    return _SKILL_CACHE[key]


def pace_rows(history: History, race, grid: pd.DataFrame, params: pd.DataFrame, features: tuple[str, ...],
              practice_columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """X (running cars by finish: logit skill, start percentile, then the enabled pre-race features) and the finish."""
    from engine.data.features import practice_ranks, qualifying_ranks, rank_feature

    f = len(grid)
    order = grid.sort_values("finish")
    cols = [pace_feature(params.loc[order["driver_id"], "skill"].to_numpy()), 1.0 - (order["start"].to_numpy() - 1) / (f - 1)]
    if "practice" in features:
        ranks = practice_ranks(history.practice[history.practice["race_id"] == race.race_id], practice_columns)
        cols.append(rank_feature([ranks.get(d) for d in order["driver_id"]]))
    if "qualifying" in features:
        ranks = qualifying_ranks(grid)
        cols.append(rank_feature([ranks.get(d) for d in order["driver_id"]]))
    X = np.column_stack(cols)
    running = order["running"].to_numpy()
    return X[running], order["finish"].to_numpy()[running]


def grid_rows(history: History, race, grid: pd.DataFrame, params: pd.DataFrame, practice_columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The qualifying model's X (every starter by grid position: logit skill, practice rank
    feature) and the start; practice comes before qualifying, so it may inform the grid."""
    from engine.data.features import practice_ranks, rank_feature

    order = grid.sort_values("start")
    ranks = practice_ranks(history.practice[history.practice["race_id"] == race.race_id], practice_columns)
    X = np.column_stack([pace_feature(params.loc[order["driver_id"], "skill"].to_numpy()),
                         rank_feature([ranks.get(d) for d in order["driver_id"]])])
    return X, order["start"].to_numpy()


def fit_grid(rows_by_type: dict[str, list[tuple[np.ndarray, np.ndarray]]], types: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
    """The qualifying model, per track type: the grid is the order of q_skill * logit(skill) +
    q_prac * practice + Z, Z standard normal, fitted by the pairwise composite likelihood of the
    real grids (as the normal pace model); q_prac is one for all types (few races have practice
    ranks), q_skill per type (``types``: the types each one is fitted on)."""
    every = [row for rows in rows_by_type.values() for row in rows]
    shared, _ = fit_pace(every, noise="normal")
    out = {}
    for t, group in types.items():
        rows = [row for g in group for row in rows_by_type.get(g, [])]
        coef, _ = fit_pace([(X[:, :1], y) for X, y in rows], [X[:, 1] * shared[1] for X, _ in rows], noise="normal")
        out[t] = (round(float(coef[0]), 4), round(float(shared[1]), 4))
    return out


def _pl_negloglik(beta: np.ndarray, races: list[tuple[np.ndarray, np.ndarray]], offsets=None) -> float:
    total = 0.0
    for k, (X, _) in enumerate(races):
        u = X @ beta  # rows ordered by finish (running cars only)
        if offsets is not None:
            u = u + offsets[k]
        rev = np.logaddexp.accumulate(u[::-1])[::-1]
        total += float(np.sum(u - rev))
    return -total


@lru_cache(maxsize=64)
def _pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(m, 1)  # (i, j), i ahead of j: rows are in finishing order


class _Pairs:
    """Every pair of running cars of the fit races, flattened: the ahead car's features minus the
    behind car's (and each one's logit skill, for the heteroskedastic noise)."""

    def __init__(self, rows: list[tuple[np.ndarray, np.ndarray]], offsets: list[np.ndarray] | None):
        diff, off, a0, b0 = [], [], [], []
        for k, (X, _) in enumerate(rows):
            i, j = _pairs(len(X))
            diff.append(X[i] - X[j])
            a0.append(X[i, 0])
            b0.append(X[j, 0])
            if offsets is not None:
                off.append(offsets[k][i] - offsets[k][j])
        self.diff = np.concatenate(diff)
        self.offset = np.concatenate(off) if offsets is not None else 0.0
        self.skill_i, self.skill_j = np.concatenate(a0), np.concatenate(b0)

    def negloglik(self, theta: np.ndarray, hetero: bool, gamma: float = 0.0) -> tuple[float, np.ndarray]:
        """Minus the pairwise composite log-likelihood and its gradient (``hetero``: gamma is the
        last element of theta, else the fixed ``gamma``)."""
        k = self.diff.shape[1]
        beta = theta[:k]
        g = theta[k] if hetero else gamma
        if hetero or g:
            si2, sj2 = np.exp(2 * g * self.skill_i), np.exp(2 * g * self.skill_j)
            s = np.sqrt(si2 + sj2)
        else:
            s = np.sqrt(2.0)
        d = self.diff @ beta + self.offset
        z = d / s
        lp = log_ndtr(z)
        ratio = np.exp(-0.5 * z * z - lp) / np.sqrt(2 * np.pi)  # phi(z) / Phi(z)
        grad_beta = -(ratio / s) @ self.diff
        if not hetero:
            return -float(lp.sum()), grad_beta
        ds_dg = (si2 * self.skill_i + sj2 * self.skill_j) / s  # d s / d gamma
        grad_g = float(np.sum(ratio * z / s * ds_dg))
        return -float(lp.sum()), np.append(grad_beta, grad_g)


def fit_pace(rows: list[tuple[np.ndarray, np.ndarray]], offsets: list[np.ndarray] | None = None, noise: str = "gumbel",
             hetero: bool = False, gamma: float = 0.0) -> tuple[np.ndarray, float]:
    """The pace coefficients (one per column of X) and the noise's gamma, by the noise model's
    likelihood (see the module docstring). ``hetero``: gamma is fitted too (normal noise);
    otherwise it is the given ``gamma`` (0: equal noise for all). ``offsets``: a fixed part of
    each race's utilities."""
    k = rows[0][0].shape[1]
    if noise == "gumbel":
        return minimize(_pl_negloglik, x0=np.ones(k), args=(rows, offsets), method="L-BFGS-B").x, 0.0
    if noise != "normal":
        raise ValueError(f"unknown noise model {noise!r}: expected one of {', '.join(NOISES)}")
    pairs = _Pairs(rows, offsets)
    x0 = np.r_[np.full(k, 0.5), [0.0] if hetero else []]
    res = minimize(pairs.negloglik, x0=x0, args=(hetero, gamma), jac=True, method="L-BFGS-B")
    return (res.x[:k], float(res.x[k])) if hetero else (res.x, float(gamma))


TROUBLE_RATES = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12)
TROUBLE_DROPS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)


def fit_trouble(utilities: list[np.ndarray], scales: list[np.ndarray] | None = None, n: int = 400, seed: int = 17) -> dict:
    """Trouble while running (damage, a penalty, a bad stop): each running car independently, with
    probability q, loses a pace of D noise units. q and D maximize the log-likelihood of each
    running car's real position among the running cars of the fit races, by simulation (n orders
    per race, common random numbers, positions smoothed as the log score is) over a grid: the
    pairwise likelihood barely sees a rare heavy tail, the positions do. ``utilities``: per
    race, the fitted u of its running cars in finishing order; ``scales``: their noise scales."""
    rng = np.random.default_rng(seed)
    draws = []
    for k, u in enumerate(utilities):
        m = len(u)
        s = 1.0 if scales is None else scales[k]
        draws.append((u, s * rng.standard_normal((n, m)).astype(np.float32), rng.random((n, m), dtype=np.float32)))

    def loglik(q: float, drop: float) -> float:
        total, cars = 0.0, 0
        for u, z, v in draws:
            m = len(u)
            key = u + z - drop * (v < q)
            rank = np.argsort(np.argsort(-key, axis=1), axis=1)  # position of each car (0 = first)
            hits = (rank == np.arange(m)[None, :]).sum(axis=0)  # cars are in their real finishing order
            total += float(np.log((hits + 0.5) / (n + 0.5 * m)).sum())
            cars += m
        return total / cars

    grid = {(q, d): loglik(q, d) for q in TROUBLE_RATES for d in (TROUBLE_DROPS if q else TROUBLE_DROPS[:1])}
    q, d = max(grid, key=grid.get)
    return {"rate": q, "drop": d if q else 0.0, "loglik": round(grid[(q, d)], 5), "none": round(grid[(0.0, TROUBLE_DROPS[0])], 5)}
