"""Fitting the laps led and fastest laps of the simulated races (engine.model.leaders) to real races.

* laps led: lambda (mean extra leader stints), p (geometric rank of stint leaders), kappa
  (front-runners hold the lead longer) and rho (the share of stints going to the race's
  dominator) by matching the mean number of leaders, the mean shares of the top and second
  leaders and the winner's mean share, simulating the stints on the real orders and laps
  completed of the type's races (common random numbers).
* fastest laps: phi and psi by multinomial maximum likelihood of the real counts; sigma by
  matching the mean share of the top fastest-lap driver.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from engine.data.history import History
from engine.model.draws import MAX_STINTS, poisson_icdf
from engine.model.leaders import allocate_fastest_laps, allocate_laps_led, dominators


def stint_inputs(history: History, race_ids: list[str]) -> dict[str, np.ndarray]:
    """Real finishing orders, grids and laps completed of races, padded to one width."""
    res = history.results[history.results["race_id"].isin(race_ids)]
    laps = history.index.set_index("race_id")["race_laps"].astype(int)
    d = int(res.groupby("race_id").size().max())
    n = len(race_ids)
    pace = np.zeros((n, d), np.int64)
    start = np.zeros((n, d), np.int64)
    done = np.full((n, d), -1, np.int64)
    led = np.zeros((n, d), np.int64)
    fin_pct = np.zeros((n, d))
    running = np.zeros((n, d), bool)  # in finishing order
    for i, rid in enumerate(race_ids):
        r = res[res["race_id"] == rid].reset_index(drop=True)
        k = len(r)
        pad = np.arange(k, d)
        pace[i] = np.concatenate([r.sort_values("finish").index.to_numpy(), pad])
        running[i, :k] = r.sort_values("finish")["running"].to_numpy()
        start[i] = np.concatenate([r.sort_values("start").index.to_numpy(), pad])
        done[i, :k] = r["laps"].to_numpy()
        led[i, :k] = r["led"].to_numpy()
        fin_pct[i, :k] = 1.0 - (r["finish"].to_numpy() - 1) / max(k - 1, 1)
    return {"pace": pace, "start": start, "done": done, "led": led, "laps": laps.loc[race_ids].to_numpy(), "fin_pct": fin_pct,
            "running": running}


def simulated_orders(inp: dict[str, np.ndarray], utilities: list[np.ndarray], reps: int, trouble_rate: float = 0.0,
                     trouble_drop: float = 0.0, seed: int = 5) -> np.ndarray:
    """Finishing orders as the pace model draws them (normal noise and trouble; engine.model.race):
    per race ``reps`` orders in which the running cars (their fitted ``utilities``, in finishing
    order) are reordered among the places running cars took, the others keeping theirs. Fitting
    the leader stints on these instead of the real orders fits them to the orders the simulator
    will produce, so the simulated races' leaders match the real ones."""
    rng = np.random.default_rng(seed)
    n, d = inp["pace"].shape
    out = np.repeat(inp["pace"], reps, axis=0)
    for i, u in enumerate(utilities):
        slots = np.flatnonzero(inp["running"][i])
        cars = inp["pace"][i, slots]
        key = u[None, :] + rng.standard_normal((reps, len(u))) - trouble_drop * (rng.random((reps, len(u))) < trouble_rate)
        out[i * reps:(i + 1) * reps, slots] = cars[np.argsort(-key, axis=1)]
    return out


def lead_stats(led: np.ndarray, winner_col: np.ndarray | None = None) -> tuple[float, ...]:
    """Mean number of leaders, mean top-leader share (and the second leader's and the winner's mean shares)."""
    total = np.maximum(led.sum(axis=1), 1)
    stats = (float((led > 0).sum(axis=1).mean()), float((led.max(axis=1) / total).mean()))
    if winner_col is None:
        return stats
    second = np.sort(led, axis=1)[:, -2] if led.shape[1] > 1 else np.zeros(len(led))
    return stats + (float((second / total).mean()), float((led[np.arange(len(led)), winner_col] / total).mean()))


LEAD_STATS = ("leaders", "top_share", "second_share", "winner_share")


def fit_stints(inp: dict[str, np.ndarray], reps: int = 8, seed: int = 7, dominator: bool = True,
               orders: np.ndarray | None = None) -> dict[str, float]:
    """lambda, p, kappa and (``dominator``) rho matching the mean number of leaders, the mean
    shares of the top and second leaders and the winner's mean share (common random numbers
    over the real races' orders, or ``orders``: ``reps`` orders per race, as simulated_orders draws them)."""
    target = np.array(lead_stats(inp["led"], inp["pace"][:, 0]))
    rng = np.random.default_rng(seed)
    n, d = inp["pace"].shape
    rep = lambda a: np.repeat(a, reps, axis=0)  # noqa: E731
    pace, start, done, laps = rep(inp["pace"]) if orders is None else orders, rep(inp["start"]), rep(inp["done"]), rep(inp["laps"])
    m = n * reps
    u_k, u_l = rng.random(m), rng.random((m, MAX_STINTS))
    u_r, u_p = rng.random((m, MAX_STINTS)), rng.random((m, MAX_STINTS))
    u_d = rng.random(m)

    def stats(theta) -> np.ndarray:
        lam, p, kappa, rho = theta
        k = 1 + poisson_icdf(u_k, lam, MAX_STINTS - 1)
        led, _ = allocate_laps_led(laps, k, u_l, u_r, u_p, pace, start, done, p, kappa, dominator=dominators(pace, u_d, p),
                                   lead_rho=rho)
        return np.array(lead_stats(led, pace[:, 0]))

    def loss(theta) -> float:
        lam, p, kappa, rho = theta
        if not (0.5 <= lam <= MAX_STINTS - 2 and 0.05 <= p <= 0.95 and 0.0 <= kappa <= 3.0 and 0.0 <= rho <= (0.8 if dominator else 0)):
            return 1e9
        return float(np.sum(((stats(theta) - target) / target) ** 2))

    rhos = (0.0, 0.2, 0.4, 0.6) if dominator else (0.0,)
    grid = [(lam, p, kap, rho) for lam in np.geomspace(2.0, 90.0, 10) for p in np.linspace(0.1, 0.7, 5)
            for kap in (0.0, 0.3, 0.8, 2.0) for rho in rhos]
    best = min(grid, key=loss)
    res = minimize(loss, x0=np.array(best), method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 400})
    theta = res.x if res.fun < loss(best) else np.array(best)
    fitted = stats(theta)
    return {"lead_lambda": round(float(theta[0]), 4), "lead_p": round(float(theta[1]), 4), "lead_kappa": round(float(theta[2]), 4),
            "lead_rho": round(float(theta[3]), 4), "_target": dict(zip(LEAD_STATS, target.tolist())),
            "_fitted": dict(zip(LEAD_STATS, fitted.tolist()))}


def fit_fastest(history: History, race_ids: list[str], reps: int = 8, seed: int = 11) -> dict[str, float]:
    """phi, psi by multinomial ML of real fastest-lap counts; sigma by the top share."""
    loop = history.loop[history.loop["race_id"].isin(race_ids)]
    race_ids = sorted(set(loop["race_id"]))
    if not race_ids:
        raise ValueError("no loop data in the fit seasons for this track type")
    inp = stint_inputs(history, race_ids)
    res = history.results[history.results["race_id"].isin(race_ids)]
    counts = np.zeros_like(inp["done"])
    for i, rid in enumerate(race_ids):
        r = res[res["race_id"] == rid].reset_index(drop=True)
        fl = loop[loop["race_id"] == rid].set_index("driver_id")["fastest_laps"]
        counts[i, : len(r)] = fl.reindex(r["driver_id"]).fillna(0).to_numpy()
    done = np.maximum(inp["done"], 0).astype(float)
    laps = inp["laps"].astype(float)
    share_led = inp["led"] / laps[:, None]
    mask = done > 0

    def nll(theta):
        logw = theta[0] * inp["fin_pct"] + theta[1] * share_led + np.log(np.where(mask, done, 1.0))
        logw = np.where(mask, logw, -np.inf)
        logp = logw - np.logaddexp.reduce(logw, axis=1, keepdims=True)
        return -float(np.sum(counts * np.where(mask, logp, 0.0)))

    phi, psi = minimize(nll, x0=np.array([1.0, 1.0]), method="L-BFGS-B").x
    green = counts.sum(axis=1)
    target_top = float((counts.max(axis=1) / np.maximum(green, 1)).mean())
    rng = np.random.default_rng(seed)
    rep = lambda a: np.repeat(a, reps, axis=0)  # noqa: E731
    eps = rng.standard_normal((len(race_ids) * reps, done.shape[1]))
    u = rng.random(len(race_ids) * reps)

    def top_share(sigma):
        fl = allocate_fastest_laps(rep(green), rep(inp["laps"]), rep(done.astype(np.int64)), rep(inp["fin_pct"]),
                                   rep(inp["led"]), eps, u, phi, psi, sigma)
        return float((fl.max(axis=1) / np.maximum(fl.sum(axis=1), 1)).mean())

    sigma = min(np.linspace(0.0, 2.0, 41), key=lambda s: abs(top_share(s) - target_top))
    return {"fast_phi": round(float(phi), 4), "fast_psi": round(float(psi), 4), "fast_sigma": round(float(sigma), 4),
            "_target": {"top_share": target_top}, "_fitted": {"top_share": top_share(sigma)}}
