"""The randomness of the simulated races: per block of scenarios, every uniform and normal draw in
a fixed order and fixed shapes (so a block's draws do not depend on the chunking), and the
inverse-CDF helpers that turn them into counts, quantiles and Poisson draws."""

from __future__ import annotations

import math

import numpy as np

MAX_STINTS = 96
MAX_INCIDENTS = 8


def stint_slots(lam: float) -> int:
    """Stint slots drawn per scenario: 1 + the Poisson(lam) quantile at 1 - 1e-9 (the count is capped there)."""
    k, cdf, pk = 0, math.exp(-lam), math.exp(-lam)
    while cdf < 1 - 1e-9 and k < MAX_STINTS - 1:
        k += 1
        pk *= lam / k
        cdf += pk
    return k + 1


def _draw_layout(d: int, k: int, qualifying: bool = False, pace: str = "u", trouble: bool = False,
                 dominator: bool = False, grid: bool = False) -> list[tuple[str, tuple[int, ...], type, str]]:
    """The randomness of one scenario: (name, shape, dtype, kind: "u" uniform, "n" standard
    normal), drawn in this order (the qualifying draw last, so slates without non-qualifiers keep
    their scenarios). ``pace``: the kind of the order's noise draw (uniform for the Gumbel noise);
    ``trouble``: a uniform per car for trouble while running."""
    f32, f64 = np.float32, np.float64
    qual = [("qual", (d,), f32, "n")] if grid else [("qual", (d,), f32, "u")] if qualifying else []  # the grid's draw, or who qualifies
    qual = ([("trouble", (d,), f32, "u")] if trouble else []) + ([("dom", (), f64, "u")] if dominator else []) + qual
    return [
        ("pace", (d,), f32, pace), ("dnf", (d,), f32, "u"), ("laps", (), f64, "u"), ("green", (), f64, "u"),
        ("inc_count", (), f64, "u"), ("inc_size", (MAX_INCIDENTS,), f64, "u"), ("inc_lap", (MAX_INCIDENTS,), f64, "u"),
        ("inc_center", (MAX_INCIDENTS,), f64, "u"), ("inc_hit", (d,), f32, "u"), ("down", (d,), f32, "u"),
        ("stints", (), f64, "u"), ("stint_len", (k,), f32, "u"), ("rank", (k,), f32, "u"), ("phase", (k,), f32, "u"),
        ("fast_eps", (d,), f32, "n"), ("fast_u", (), f64, "u"),
    ] + qual


def chunk_draws(gens: list[np.random.Generator], sizes: list[int], d: int, k: int, qualifying: bool = False,
                pace: str = "u", trouble: bool = False, dominator: bool = False, grid: bool = False) -> dict[str, np.ndarray]:
    """All the randomness of a chunk: each block's generator fills its rows of every array,
    in a fixed order and fixed shapes, so a block's draws do not depend on the chunking."""
    n = sum(sizes)
    layout = _draw_layout(d, k, qualifying, pace, trouble, dominator, grid)
    out = {name: np.empty((n,) + shape, dtype) for name, shape, dtype, _ in layout}
    lo = 0
    for gen, nb in zip(gens, sizes):
        for name, _, dtype, kind in layout:
            view = out[name][lo : lo + nb]
            if kind == "u":
                gen.random(out=view, dtype=dtype)
            else:
                gen.standard_normal(out=view, dtype=dtype)
        lo += nb
    return out


def inverse_cdf(u: np.ndarray, probs: tuple[float, ...]) -> np.ndarray:
    """Index k with P(X <= k - 1) <= u < P(X <= k) for a discrete distribution on 0..len-1."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0 + 1e-9
    return np.searchsorted(cdf, u, side="right")


def quantile_interp(u: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """Inverse of an empirical distribution stored as equally spaced quantiles (piecewise linear)."""
    grid = np.linspace(0.0, 1.0, len(q))
    return np.interp(u, grid, np.asarray(q))


def poisson_icdf(u: np.ndarray, lam: float, kmax: int) -> np.ndarray:
    k = np.arange(kmax + 1)
    logp = k * math.log(max(lam, 1e-12)) - lam - np.array([math.lgamma(x + 1) for x in k])
    return np.minimum(inverse_cdf(u, tuple(np.exp(logp) / np.exp(logp).sum())), kmax)
