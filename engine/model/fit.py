"""Fit the race simulator's parameters from real Cup races, by track type.

``fit_model(history, seasons)`` returns the JSON written to data/model_params.json by
`pitwall fit`, with the seasons used. Per track type (a type with fewer than MIN_RACES races
in the fit seasons is pooled with its parent type, e.g. dirt with short tracks):

* DNFs: a multi-car incident is a cluster of two or more "accident" DNFs whose laps
  completed are within one lap of each other; every other DNF is the driver's own. Fitted:
  the empirical distribution of incidents per race, of their sizes and laps (fraction of
  the race), the rate of own DNFs relative to the league DNF rate (the scale of
  shadow_risk), their laps, and the share of them that are accidents (cautions).
* pace: b_skill and b_start maximize the Plackett-Luce likelihood of the order of the cars
  running at the finish, prod_k exp(u_(k)) / sum_{j >= k} exp(u_(j)), with
  u = b_skill * logit(skill) + b_start * start_pct, skill as engine.data.slates derives it from the
  races before each race (no look-ahead).
* laps run: the empirical distribution of laps run minus scheduled laps (overtime,
  shortened races); scheduled laps are the official figure where known (2022 on), else the
  most common race length at the track within a season either side.
* green-flag laps: the empirical distribution of (sum of fastest laps) / laps run (loop data).
* laps down: per finishing decile, the share of running cars on the lead lap and the mean
  laps down of those lapped.
* laps led: lambda (mean extra leader stints) and p (geometric rank of stint leaders) by
  matching the mean number of leaders and the mean share of the top leader, simulating the
  stints on the real orders and laps completed of the type's races (common random numbers).
* fastest laps: phi and psi by multinomial maximum likelihood of the real counts; sigma by
  matching the mean share of the top fastest-lap driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from engine.data.features import PRACTICE_RANKS
from engine.data.history import TRACK_TYPES, History
from engine.data.slates import derive_driver_params, newcomer_prior
from engine.model.draws import MAX_INCIDENTS, MAX_STINTS, poisson_icdf
from engine.model.field import pace_feature
from engine.model.leaders import allocate_fastest_laps, allocate_laps_led

FIT_SEASONS = tuple(range(2015, 2022))
MIN_RACES = 8
PARENT = {"dirt": "short", "large_oval": "intermediate"}
N_QUANTILES = 21
ASSUMPTIONS = {
    "aggression_spread": {
        "value": 0.4,
        "meaning": "noise scale multiplier exp(value * (aggression - 0.5)): aggression 1 widens the spread by 22%, 0 narrows it by 18%",
        "source": "analyst assumption (no data on driving style); incident involvement also scales with 0.5 + aggression",
    },
    "pit_strategy": {
        "STANDARD": {"utility_shift": 0.0, "noise_scale": 1.0},
        "AGGRESSIVE": {"utility_shift": -0.1, "noise_scale": 1.3},
        "CONSERVATIVE": {"utility_shift": -0.05, "noise_scale": 0.8},
        "source": "analyst assumption (no strategy data): aggressive trades mean for variance, conservative variance for a small mean cost",
    },
    "stage_cautions": {"road": 0, "other": 2, "source": "NASCAR rules since 2020: stage breaks are cautions on ovals, not on road courses"},
}


def _races(history: History, seasons: tuple[int, ...]) -> pd.DataFrame:
    idx = history.index[history.index["season"].isin(seasons)].copy()
    return idx.reset_index(drop=True)


def classify_dnfs(results: pd.DataFrame) -> pd.DataFrame:
    """Adds ``cluster`` (incident id within the race, -1 for none) and ``incident`` (in a
    multi-car incident) to the results: accident DNFs within one lap of each other cluster."""
    res = results.copy()
    acc = res[(~res["running"]) & res["status"].eq("accident")].sort_values(["race_id", "laps"])
    new = (acc["race_id"] != acc["race_id"].shift()) | (acc["laps"] - acc["laps"].shift() > 1)
    cid = new.cumsum()
    size = cid.map(cid.value_counts())
    res["cluster"] = -1
    res.loc[acc.index, "cluster"] = np.where(size >= 2, cid, -1)
    res["incident"] = res["cluster"] >= 0
    return res


def _quantiles(values, n: int = N_QUANTILES) -> list[float]:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return [0.0] * n
    return [round(float(x), 5) for x in np.quantile(v, np.linspace(0, 1, n))]


def scheduled_laps(index: pd.DataFrame) -> pd.Series:
    """Scheduled laps per race: the official figure where known, else the most common race
    length at the track within a season either side (overtime only adds laps)."""
    out = {}
    for row in index.itertuples():
        if not pd.isna(row.sch_laps):
            out[row.race_id] = int(row.sch_laps)
            continue
        near = index[(index["track_id"] == row.track_id) & ((index["season"] - row.season).abs() <= 1)]
        counts = near["race_laps"].astype(int).value_counts()
        out[row.race_id] = int(counts[counts == counts.max()].index.max())
    return pd.Series(out)


def _group(track_type: str, races: pd.DataFrame) -> list[str]:
    n = int((races["track_type"] == track_type).sum())
    if n >= MIN_RACES or track_type not in PARENT:
        return [track_type]
    return [track_type, PARENT[track_type]]


def _pl_negloglik(beta: np.ndarray, races: list[tuple[np.ndarray, np.ndarray]], offsets=None) -> float:
    total = 0.0
    for k, (X, _) in enumerate(races):
        u = X @ beta  # rows ordered by finish (running cars only)
        if offsets is not None:
            u = u + offsets[k]
        rev = np.logaddexp.accumulate(u[::-1])[::-1]
        total += float(np.sum(u - rev))
    return -total


def fit_pace(rows: list[tuple[np.ndarray, np.ndarray]], offsets: list[np.ndarray] | None = None) -> np.ndarray:
    """Plackett-Luce maximum likelihood of the pace coefficients (one per column of X), with an
    optional fixed part of each utility (``offsets``, one array per race)."""
    k = rows[0][0].shape[1]
    res = minimize(_pl_negloglik, x0=np.ones(k), args=(rows, offsets), method="L-BFGS-B")
    return res.x


def _stint_inputs(history: History, race_ids: list[str]) -> dict[str, np.ndarray]:
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
    for i, rid in enumerate(race_ids):
        r = res[res["race_id"] == rid].reset_index(drop=True)
        k = len(r)
        pad = np.arange(k, d)
        pace[i] = np.concatenate([r.sort_values("finish").index.to_numpy(), pad])
        start[i] = np.concatenate([r.sort_values("start").index.to_numpy(), pad])
        done[i, :k] = r["laps"].to_numpy()
        led[i, :k] = r["led"].to_numpy()
        fin_pct[i, :k] = 1.0 - (r["finish"].to_numpy() - 1) / max(k - 1, 1)
    return {"pace": pace, "start": start, "done": done, "led": led, "laps": laps.loc[race_ids].to_numpy(), "fin_pct": fin_pct}


def _lead_stats(led: np.ndarray, winner_col: np.ndarray | None = None) -> tuple[float, ...]:
    """Mean number of leaders, mean top-leader share (and the winner's mean share)."""
    total = np.maximum(led.sum(axis=1), 1)
    stats = (float((led > 0).sum(axis=1).mean()), float((led.max(axis=1) / total).mean()))
    if winner_col is None:
        return stats
    return stats + (float((led[np.arange(len(led)), winner_col] / total).mean()),)


def fit_stints(inp: dict[str, np.ndarray], reps: int = 8, seed: int = 7) -> dict[str, float]:
    """lambda, p and kappa matching the mean number of leaders, the top leader's mean share
    and the winner's mean share (common random numbers over the real races' orders)."""
    target = np.array(_lead_stats(inp["led"], inp["pace"][:, 0]))
    rng = np.random.default_rng(seed)
    n, d = inp["pace"].shape
    rep = lambda a: np.repeat(a, reps, axis=0)  # noqa: E731
    pace, start, done, laps = rep(inp["pace"]), rep(inp["start"]), rep(inp["done"]), rep(inp["laps"])
    m = n * reps
    u_k, u_l = rng.random(m), rng.random((m, MAX_STINTS))
    u_r, u_p = rng.random((m, MAX_STINTS)), rng.random((m, MAX_STINTS))

    def stats(theta) -> np.ndarray:
        lam, p, kappa = theta
        k = 1 + poisson_icdf(u_k, lam, MAX_STINTS - 1)
        led, _ = allocate_laps_led(laps, k, u_l, u_r, u_p, pace, start, done, p, kappa)
        return np.array(_lead_stats(led, pace[:, 0]))

    def loss(theta) -> float:
        lam, p, kappa = theta
        if not (0.5 <= lam <= MAX_STINTS - 2 and 0.05 <= p <= 0.95 and 0.0 <= kappa <= 3.0):
            return 1e9
        return float(np.sum(((stats(theta) - target) / target) ** 2))

    grid = [(lam, p, kap) for lam in np.geomspace(2.0, 90.0, 12) for p in np.linspace(0.1, 0.7, 7)
            for kap in (0.0, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0)]
    best = min(grid, key=loss)
    res = minimize(loss, x0=np.array(best), method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 300})
    theta = res.x if res.fun < loss(best) else np.array(best)
    fitted = stats(theta)
    return {"lead_lambda": round(float(theta[0]), 4), "lead_p": round(float(theta[1]), 4), "lead_kappa": round(float(theta[2]), 4),
            "_target": dict(zip(("leaders", "top_share", "winner_share"), target.tolist())),
            "_fitted": dict(zip(("leaders", "top_share", "winner_share"), fitted.tolist()))}


def fit_fastest(history: History, race_ids: list[str], reps: int = 8, seed: int = 11) -> dict[str, float]:
    """phi, psi by multinomial ML of real fastest-lap counts; sigma by the top share."""
    loop = history.loop[history.loop["race_id"].isin(race_ids)]
    race_ids = sorted(set(loop["race_id"]))
    if not race_ids:
        raise ValueError("no loop data in the fit seasons for this track type")
    inp = _stint_inputs(history, race_ids)
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


def check_fit_seasons(history: History, seasons: tuple[int, ...]) -> None:
    """Refuse, before fitting, seasons that cannot fit every track type: seasons without races,
    and track types without races or loop data (fastest laps) in them. ValueError naming them."""
    span = f"{history.seasons[0]}-{history.seasons[-1]}"
    missing = sorted(set(seasons) - set(history.seasons))
    if missing:
        raise ValueError(f"no races in season(s) {', '.join(map(str, missing))}; the history has {span}")
    races = _races(history, seasons)
    loop_races = set(history.loop["race_id"])
    loop_span = f"{int(history.loop['season'].min())}-{int(history.loop['season'].max())}" if len(history.loop) else "none"
    if not races["race_id"].isin(loop_races).any():
        raise ValueError(f"season(s) {', '.join(map(str, seasons))} have no loop data (fastest laps), which the fit needs; "
                         f"loop data covers {loop_span}: fit on seasons that include some of them")
    for t in (t for t in TRACK_TYPES if t in set(history.index["track_type"])):
        rr = races[races["track_type"].isin(_group(t, races))]
        if rr.empty:
            raise ValueError(f"no {t} races in season(s) {', '.join(map(str, seasons))}: every track type needs races to fit")
        if not rr["race_id"].isin(loop_races).any():
            raise ValueError(f"no loop data (fastest laps) for {t} races in season(s) {', '.join(map(str, seasons))}; "
                             f"loop data covers {loop_span}")


FIT_VERSION = "pitwall-skeleton-v3"  # changes whenever fit_model's method changes (part of the method hash)


@dataclass(frozen=True)
class FitSettings:
    """How a model is fitted (everything but the data). ``era_from``: the structure of races
    (incidents, DNFs, laps run, green laps, laps down, leaders, fastest laps) is fitted on the
    races from that season on when a track type has at least ``MIN_ERA_RACES`` of them in the
    fit seasons (the Next Gen car arrived in 2022), else on every fit season; the pace
    coefficients use every fit season. ``features``: pre-race information in the pace model
    (engine.data.features): "practice", "qualifying"; each has one coefficient for all track types."""

    era_from: int | None = 2022
    features: tuple[str, ...] = ("practice",)  # qualifying did not improve the 2022-2024 rolling-origin backtest
    practice_ranks: tuple[str, ...] = PRACTICE_RANKS

    def to_dict(self) -> dict:
        return {"era_from": self.era_from, "features": list(self.features), "practice_ranks": list(self.practice_ranks),
                "fit_version": FIT_VERSION}

    @classmethod
    def from_dict(cls, d: dict) -> "FitSettings":
        return cls(era_from=d.get("era_from"), features=tuple(d.get("features", ())),
                   practice_ranks=tuple(d.get("practice_ranks", PRACTICE_RANKS)))

    @property
    def method_hash(self) -> str:
        """Short sha256 of the settings: models fitted the same way on different seasons share it."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


MIN_ERA_RACES = 10
_SKILL_CACHE: dict[tuple[str, str], pd.DataFrame] = {}


def race_skills(history: History, race) -> pd.DataFrame:
    """Driver defaults of a race's grid from the races before it (cached: the same for every
    fit that includes the race, since it depends only on earlier races)."""
    key = (history.prefix_hashes[race.race_id], race.race_id)
    if key not in _SKILL_CACHE:
        grid = history.results[history.results["race_id"] == race.race_id]
        _SKILL_CACHE[key] = derive_driver_params(history.before(race.season, race.race), grid["driver_id"].tolist(), race.track_type)
    return _SKILL_CACHE[key]


def pace_rows(history: History, race, grid: pd.DataFrame, params: pd.DataFrame, settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """X (running cars by finish: logit skill, start percentile, then the enabled pre-race features) and the finish."""
    from engine.data.features import practice_ranks, qualifying_ranks, rank_feature

    f = len(grid)
    order = grid.sort_values("finish")
    cols = [pace_feature(params.loc[order["driver_id"], "skill"].to_numpy()), 1.0 - (order["start"].to_numpy() - 1) / (f - 1)]
    if "practice" in settings.features:
        ranks = practice_ranks(history.practice[history.practice["race_id"] == race.race_id], settings.practice_ranks)
        cols.append(rank_feature([ranks.get(d) for d in order["driver_id"]]))
    if "qualifying" in settings.features:
        ranks = qualifying_ranks(grid)
        cols.append(rank_feature([ranks.get(d) for d in order["driver_id"]]))
    X = np.column_stack(cols)
    running = order["running"].to_numpy()
    return X[running], order["finish"].to_numpy()[running]


def fit_model(history: History, seasons: tuple[int, ...] = FIT_SEASONS, progress: Callable[[float], None] | None = None,
              exclude: set[str] | frozenset[str] = frozenset(), settings: FitSettings | None = None) -> dict:
    """Fit every track type on ``seasons`` (see the module docstring); returns the JSON dict.
    ``exclude``: race ids held back from the fit (for out-of-sample checks)."""
    settings = settings or FitSettings()
    seasons = tuple(sorted(seasons))
    step = progress or (lambda f: None)
    races = _races(history, seasons)
    races = races[~races["race_id"].isin(exclude)].reset_index(drop=True)
    if races.empty:
        raise ValueError(f"no races in seasons {seasons}")
    res = classify_dnfs(history.results[history.results["race_id"].isin(races["race_id"])])
    res = res.merge(races[["race_id", "track_type", "race_laps"]], on="race_id")
    res["race_laps"] = res["race_laps"].astype(int)
    q_all = float((~res["running"]).mean())
    sched = scheduled_laps(history.index)
    races["delta"] = races["race_laps"].astype(int) - sched.loc[races["race_id"]].to_numpy()

    # skill of every driver in every fit race, from the races before it
    skill_rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    total = len(races)
    by_race = dict(tuple(res.groupby("race_id")))
    for i, race in enumerate(races.itertuples()):
        grid = by_race[race.race_id]
        params = race_skills(history, race)
        skill_rows.setdefault(race.track_type, []).append(pace_rows(history, race, grid, params, settings))
        step(0.6 * (i + 1) / total)

    # pre-race features: one coefficient each for every track type (fitted on every fit race;
    # per type, few races with practice would overfit), then skill and start per type with the
    # features' part of the utility held fixed
    n_feat = len([f for f in ("practice", "qualifying") if f in settings.features])
    shared = np.zeros(0)
    if n_feat:
        shared = fit_pace([row for rows in skill_rows.values() for row in rows])[2:]
    out_types = {}
    present = [t for t in TRACK_TYPES if t in set(history.index["track_type"])]
    era_note = {}
    for j, t in enumerate(present):
        group = _group(t, races)
        pace_group = [row for g in group for row in skill_rows.get(g, [])]
        rr = races[races["track_type"].isin(group)]
        if settings.era_from is not None and (rr["season"] >= settings.era_from).sum() >= MIN_ERA_RACES:
            rr = rr[rr["season"] >= settings.era_from]
            era_note[t] = f"{settings.era_from} on"
        rs = res[res["race_id"].isin(rr["race_id"])]
        clusters = rs[rs["incident"]].groupby("cluster").agg(race_id=("race_id", "first"), size=("driver_id", "size"),
                                                             lap=("laps", "max"), race_laps=("race_laps", "first"))
        per_race = clusters.groupby("race_id").size().reindex(rr["race_id"]).fillna(0).astype(int)
        count_p = np.bincount(np.minimum(per_race.to_numpy(), MAX_INCIDENTS), minlength=MAX_INCIDENTS + 1) / len(rr)
        sizes = clusters["size"].to_numpy()
        size_p = np.bincount(sizes - 2, minlength=1) / max(len(sizes), 1) if len(sizes) else np.array([1.0])
        own = rs[(~rs["running"]) & (~rs["incident"])]
        own_rate = len(own) / len(rs)
        running = rs[rs["running"]].copy()
        field = rs.groupby("race_id")["finish"].transform("size").loc[running.index]
        running["decile"] = np.minimum(((running["finish"] - 1) * 10) // field, 9)
        running["down"] = running["race_laps"] - running["laps"]
        lead_share = running.groupby("decile")["down"].apply(lambda x: float((x <= 0).mean())).reindex(range(10)).ffill().fillna(1.0)
        down_mean = running[running["down"] > 0].groupby("decile")["down"].mean().reindex(range(10)).ffill().bfill().fillna(1.0)
        loop_races = history.loop[history.loop["race_id"].isin(rr["race_id"])].groupby("race_id")["fastest_laps"].sum()
        green = (loop_races / rr.set_index("race_id")["race_laps"].astype(int).reindex(loop_races.index)).to_numpy()
        deltas = rr["delta"].value_counts(normalize=True).sort_index()
        if n_feat:
            coef = fit_pace([(X[:, :2], y) for X, y in pace_group], [X[:, 2:] @ shared for X, _ in pace_group])
        else:
            coef = fit_pace(pace_group)
        b_skill, b_start = float(coef[0]), float(coef[1])
        extra = dict(zip([f for f in ("practice", "qualifying") if f in settings.features], shared))
        stints = fit_stints(_stint_inputs(history, rr["race_id"].tolist()))
        fast = fit_fastest(history, rr["race_id"].tolist())
        params = {
            "b_skill": round(b_skill, 4),
            "b_start": round(b_start, 4),
            "own_dnf_ratio": round(own_rate / q_all, 4),
            "own_accident_share": round(float(own["status"].eq("accident").mean()) if len(own) else 0.0, 4),
            "own_dnf_lap_q": _quantiles(own["laps"] / own["race_laps"]),
            "incident_count_p": [round(float(x), 5) for x in count_p],
            "incident_size_p": [round(float(x), 5) for x in size_p],
            "incident_lap_q": _quantiles(clusters["lap"] / clusters["race_laps"]),
            "green_frac_q": _quantiles(green),
            "laps_delta_values": [int(v) for v in deltas.index],
            "laps_delta_p": [round(float(p), 5) for p in deltas.to_numpy()],
            "lead_lambda": stints["lead_lambda"],
            "lead_p": stints["lead_p"],
            "lead_kappa": stints["lead_kappa"],
            "fast_phi": fast["fast_phi"],
            "fast_psi": fast["fast_psi"],
            "fast_sigma": fast["fast_sigma"],
            "lead_lap_share": [round(float(x), 4) for x in lead_share],
            "laps_down_mean": [round(float(x), 3) for x in down_mean],
            "stage_cautions": ASSUMPTIONS["stage_cautions"]["road" if t == "road" else "other"],
            "b_prac": round(float(extra.get("practice", 0.0)), 4),
            "b_qual": round(float(extra.get("qualifying", 0.0)), 4),
        }
        out_types[t] = {
            "fitted_on": group,
            "races": int(len(rr)),
            "structure_seasons": era_note.get(t, "all fit seasons"),
            "pace_races": int(len(pace_group)),
            "loop_races": int(len(loop_races)),
            "params": params,
            "history": {
                "dnf_rate": round(float((~rs["running"]).mean()), 4),
                "incidents_per_race": round(float(per_race.mean()), 4),
                "incident_size": round(float(sizes.mean()) if len(sizes) else 0.0, 3),
                "leaders": round(stints["_target"]["leaders"], 3),
                "top_leader_share": round(stints["_target"]["top_share"], 4),
                "winner_share_of_laps_led": round(stints["_target"]["winner_share"], 4),
                "fastest_share_of_laps": round(float(np.mean(green)) if len(green) else float("nan"), 4),
                "top_fastest_share": round(fast["_target"]["top_share"], 4),
            },
            "moment_fit": {"leaders": round(stints["_fitted"]["leaders"], 3), "top_leader_share": round(stints["_fitted"]["top_share"], 4),
                           "winner_share_of_laps_led": round(stints["_fitted"]["winner_share"], 4),
                           "top_fastest_share": round(fast["_fitted"]["top_share"], 4)},
        }
        step(0.6 + 0.4 * (j + 1) / len(present))
    newcomer = newcomer_prior(history.before(seasons[-1] + 1, 1))
    return {
        "model": FIT_VERSION,
        "settings": settings.to_dict(),
        "method_hash": settings.method_hash,
        "data_fingerprint": history.seasons_before(seasons[-1] + 1).fingerprint(),
        "fit_seasons": list(seasons),
        "fitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "races": int(len(races)),
        "held_back": sorted(exclude),
        "league_dnf_rate": round(q_all, 5),
        "newcomer_skill": round(newcomer, 4),
        "types": out_types,
        "assumptions": ASSUMPTIONS,
    }


def _select(history: History, seasons: tuple[int, ...] | None, race_ids: list[str] | None) -> pd.DataFrame:
    idx = history.index
    if race_ids is not None:
        return idx[idx["race_id"].isin(race_ids)].reset_index(drop=True)
    return _races(history, tuple(seasons or ()))


def observed_statistics(history: History, seasons: tuple[int, ...] | None = None, race_ids: list[str] | None = None) -> pd.DataFrame:
    """Per track type, statistics of the real races of ``seasons`` (or ``race_ids``): DNF
    rate, multi-car incidents per race and their size, leaders, top leader share, fastest
    laps / laps, and the driver rows behind the DNF rate."""
    races = _select(history, seasons, race_ids)
    res = classify_dnfs(history.results[history.results["race_id"].isin(races["race_id"])])
    res = res.merge(races[["race_id", "track_type"]], on="race_id")
    loop = history.loop[history.loop["race_id"].isin(races["race_id"])].groupby("race_id")["fastest_laps"].sum()
    rows = {}
    for t, rs in res.groupby("track_type"):
        ids = rs["race_id"].unique()
        cl = rs[rs["incident"]].groupby("cluster").size()
        led = rs.pivot_table(index="race_id", columns="driver_id", values="led", fill_value=0).to_numpy()
        leaders, top = _lead_stats(led)
        per_race_top = led.max(axis=1) / np.maximum(led.sum(axis=1), 1)
        laps = races.set_index("race_id").loc[ids, "race_laps"].astype(int)
        fl = loop.reindex(ids).dropna()
        rows[t] = {
            "races": len(ids),
            "rows": len(rs),
            "dnf_rate": float((~rs["running"]).mean()),
            "incidents_per_race": len(cl) / len(ids),
            "incident_size": float(cl.mean()) if len(cl) else 0.0,
            "leaders": leaders,
            "leaders_sd": float((led > 0).sum(axis=1).std()),
            "top_leader_share": top,
            "top_leader_share_sd": float(per_race_top.std()),
            "fastest_share_of_laps": float((fl / laps.loc[fl.index]).mean()) if len(fl) else float("nan"),
        }
    return pd.DataFrame(rows).T


def simulated_statistics(history: History, seasons: tuple[int, ...] | None = None, model=None, n_per_race: int = 200, seed: int = 1,
                         progress: Callable[[float], None] | None = None, race_ids: list[str] | None = None) -> pd.DataFrame:
    """The same statistics from simulating each race's slate (engine.data.slates, no look-ahead)."""
    from engine.data.grid import SimulationError
    from engine.data.slates import build_slate
    from engine.model.field import prepare
    from engine.model.params import load_params
    from engine.model.scenarios import simulate

    model = model or load_params()
    races = _select(history, seasons, race_ids)
    acc: dict[str, dict[str, list]] = {}
    for i, race in enumerate(races.itertuples()):
        slate = build_slate(race.race_id, history)
        try:
            inputs = prepare(slate, model=model)
        except SimulationError:
            continue  # no race length before the track's first race in the history
        sims = simulate(inputs, n_per_race, seed + i)
        a = acc.setdefault(race.track_type, {k: [] for k in ("dnf", "inc", "size", "leaders", "top", "fast", "top_all", "leaders_all", "fast_all", "dnf_all")})
        a["dnf"].append(float((~sims.running).mean()))
        a["dnf_all"].append((~sims.running).mean(axis=1))
        multi = sims.incident_size >= 2
        a["inc"].append(float(multi.sum(axis=1).mean()))
        a["size"].extend(sims.incident_size[multi].tolist())
        led = sims.laps_led.astype(np.int64)
        leaders, top = _lead_stats(led)
        a["top_all"].append(led.max(axis=1) / np.maximum(led.sum(axis=1), 1))
        a["leaders_all"].append((led > 0).sum(axis=1))
        a["leaders"].append(leaders)
        a["top"].append(top)
        a["fast"].append(float((sims.green_laps / sims.laps_run).mean()))
        a["fast_all"].append(sims.green_laps / sims.laps_run)
        if progress:
            progress((i + 1) / len(races))
    rows = {
        t: {
            "races": len(a["dnf"]),
            "dnf_rate": float(np.mean(a["dnf"])),
            "dnf_rate_sd": float(np.concatenate(a["dnf_all"]).std()),
            "incidents_per_race": float(np.mean(a["inc"])),
            "incident_size": float(np.mean(a["size"])) if a["size"] else 0.0,
            "leaders": float(np.mean(a["leaders"])),
            "leaders_sd": float(np.concatenate(a["leaders_all"]).std()),
            "top_leader_share": float(np.mean(a["top"])),
            "top_leader_share_sd": float(np.concatenate(a["top_all"]).std()),
            "fastest_share_of_laps": float(np.mean(a["fast"])),
            "fastest_share_sd": float(np.concatenate(a["fast_all"]).std()),
        }
        for t, a in acc.items()
    }
    return pd.DataFrame(rows).T
