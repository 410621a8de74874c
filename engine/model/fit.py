"""Fit the race simulator's parameters from the real races of one series, by track type.

``fit_model(history, seasons)`` returns the JSON written to data/model_params.json by
`pitwall fit`, with the seasons used. Per track type (a type with fewer than MIN_RACES races
in the fit seasons is pooled with its parent type, e.g. dirt with short tracks):

* DNFs: a multi-car incident is a cluster of two or more "accident" DNFs whose laps
  completed are within one lap of each other; every other DNF is the driver's own. Fitted:
  the empirical distribution of incidents per race, of their sizes and laps (fraction of
  the race), the rate of own DNFs relative to the league DNF rate (the scale of
  shadow_risk), their laps, and the share of them that are accidents (cautions).
* pace: b_skill and b_start (per type) and the shared coefficients of pre-race features by the
  likelihood of the order of the cars running at the finish under the method's noise model
  (engine.model.pace: Plackett-Luce, or normal noise by pairwise composite likelihood), with
  u = b_skill * logit(skill) + b_start * start_pct, skill as engine.data.slates derives it from
  the races before each race (no look-ahead).
* laps run: the empirical distribution of laps run minus scheduled laps (overtime,
  shortened races); scheduled laps are the official figure where known (2022 on), else the
  most common race length at the track within a season either side.
* green-flag laps: the empirical distribution of (sum of fastest laps) / laps run (loop data).
* laps down: per finishing decile, the share of running cars on the lead lap and the mean
  laps down of those lapped.
* trouble while running (normal noise): its rate and cost by the likelihood of the running
  cars' positions (engine.model.pace.fit_trouble).
* the grid (``grid``): a qualifying model of skill and practice, fitted on the real grids
  (engine.model.pace.fit_grid), from which a race whose grid is unknown draws its own.
* laps led and fastest laps: engine.model.fit_leaders (the stints fitted on the orders the
  pace model draws, with the race's dominator).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd

from engine.core.series import CROSS_SERIES
from engine.data.features import PRACTICE_RANKS
from engine.data.form import newcomer_prior
from engine.data.history import TRACK_TYPES, History
from engine.model.draws import MAX_INCIDENTS
from engine.model.fit_leaders import (
    fit_fastest,
    fit_stints,
    lead_stats,
    simulated_orders,
    stint_inputs,
)
from engine.model.pace import (
    fit_grid,
    fit_pace,
    fit_trouble,
    grid_rows,
    pace_rows,
    race_skills,
)

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
    # chosen by the 2022-2025 rolling-origin backtest (docs/calibration.md; the candidates' figures are in issue 20's note):
    noise: str = "normal"  # the pace model's noise (engine.model.pace): "gumbel" (Plackett-Luce) or "normal"
    hetero: bool = False  # normal noise whose scale grows or shrinks with skill (sigma_i = exp(gamma logit skill_i))
    trouble: bool = True  # trouble while running (normal noise): a share of running cars lose a fixed amount of pace
    dominator: bool = True  # laps led: a share of the stints goes to the race's dominator (engine.model.leaders)
    grid: bool = True  # a qualifying model: an unknown grid is drawn in each simulated race (engine.model.field)
    # drivers new to the series take their skill from another series (engine.data.form); None: the series' default
    cross_series: bool | None = None

    def to_dict(self) -> dict:
        out = {"era_from": self.era_from, "features": list(self.features), "practice_ranks": list(self.practice_ranks),
               "fit_version": FIT_VERSION}
        if self.noise != "gumbel" or self.hetero:  # the settings of methods before these options keep their hash
            out.update(noise=self.noise, hetero=self.hetero)
        out.update({k: True for k in ("trouble", "dominator", "grid", "cross_series") if getattr(self, k)})
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "FitSettings":
        """The settings a model file records (a file of a method before these options: its Plackett-Luce defaults)."""
        return cls(era_from=d.get("era_from"), features=tuple(d.get("features", ())),
                   practice_ranks=tuple(d.get("practice_ranks", PRACTICE_RANKS)), noise=d.get("noise", "gumbel"),
                   hetero=bool(d.get("hetero", False)), trouble=bool(d.get("trouble", False)),
                   dominator=bool(d.get("dominator", False)), grid=bool(d.get("grid", False)),
                   cross_series=bool(d.get("cross_series", False)))

    def for_series(self, series: str) -> "FitSettings":
        """The settings with the series' defaults filled in (``cross_series``: CROSS_SERIES)."""
        return self if self.cross_series is not None else replace(self, cross_series=CROSS_SERIES[series])

    @property
    def method_hash(self) -> str:
        """Short sha256 of the settings: models fitted the same way on different seasons share it."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


MIN_ERA_RACES = 10


def fit_model(history: History, seasons: tuple[int, ...] = FIT_SEASONS, progress: Callable[[float], None] | None = None,
              exclude: set[str] | frozenset[str] = frozenset(), settings: FitSettings | None = None) -> dict:
    """Fit every track type on ``seasons`` (see the module docstring); returns the JSON dict.
    ``exclude``: race ids held back from the fit (for out-of-sample checks)."""
    settings = (settings or FitSettings()).for_series(history.series)
    history = replace(history, cross_series=settings.cross_series)
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
    rows_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    grid_of: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    total = len(races)
    by_race = dict(tuple(res.groupby("race_id")))
    for i, race in enumerate(races.itertuples()):
        grid = by_race[race.race_id]
        params = race_skills(history, race)
        rows_of[race.race_id] = pace_rows(history, race, grid, params, settings.features, settings.practice_ranks)
        skill_rows.setdefault(race.track_type, []).append(rows_of[race.race_id])
        if settings.grid:
            grid_of.setdefault(race.track_type, []).append(grid_rows(history, race, grid, params, settings.practice_ranks))
        step(0.6 * (i + 1) / total)

    # pre-race features: one coefficient each for every track type (fitted on every fit race;
    # per type, few races with practice would overfit), then skill and start per type with the
    # features' part of the utility held fixed
    n_feat = len([f for f in ("practice", "qualifying") if f in settings.features])
    shared = np.zeros(0)
    all_rows = [row for rows in skill_rows.values() for row in rows]
    coef_all, gamma = fit_pace(all_rows, noise=settings.noise, hetero=settings.hetero)  # gamma: one for every track type
    if n_feat:
        shared = coef_all[2:]
    present = [t for t in TRACK_TYPES if t in set(history.index["track_type"])]
    pace_coef = {}
    for t in present:
        group = _group(t, races)
        pace_group = [row for g in group for row in skill_rows.get(g, [])]
        if n_feat:
            pace_coef[t], _ = fit_pace([(X[:, :2], y) for X, y in pace_group], [X[:, 2:] @ shared for X, _ in pace_group],
                                       noise=settings.noise, gamma=gamma)
        else:
            pace_coef[t], _ = fit_pace(pace_group, noise=settings.noise, gamma=gamma)
    grid_coef = fit_grid(grid_of, {t: _group(t, races) for t in present}) if settings.grid else {}
    trouble = {"rate": 0.0, "drop": 0.0}
    if settings.trouble:
        utilities = [X[:, :2] @ pace_coef[t] + X[:, 2:] @ shared for t, rows in skill_rows.items() for X, _ in rows]
        scales = [np.exp(gamma * X[:, 0]) for rows in skill_rows.values() for X, _ in rows]
        trouble = fit_trouble(utilities, scales)
    out_types = {}
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
        b_skill, b_start = float(pace_coef[t][0]), float(pace_coef[t][1])
        extra = dict(zip([f for f in ("practice", "qualifying") if f in settings.features], shared))
        inp = stint_inputs(history, rr["race_id"].tolist())
        orders = None
        if settings.noise == "normal":  # fitted to the orders the pace model draws (engine.model.fit_leaders.simulated_orders)
            types = rr.set_index("race_id")["track_type"]
            utilities = [rows_of[rid][0][:, :2] @ pace_coef[types[rid]] + rows_of[rid][0][:, 2:] @ shared for rid in rr["race_id"]]
            orders = simulated_orders(inp, utilities, 8, trouble["rate"], trouble["drop"])
        stints = fit_stints(inp, dominator=settings.dominator, orders=orders)
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
            **({"lead_rho": stints["lead_rho"]} if settings.dominator else {}),
            "fast_phi": fast["fast_phi"],
            "fast_psi": fast["fast_psi"],
            "fast_sigma": fast["fast_sigma"],
            "lead_lap_share": [round(float(x), 4) for x in lead_share],
            "laps_down_mean": [round(float(x), 3) for x in down_mean],
            "stage_cautions": ASSUMPTIONS["stage_cautions"]["road" if t == "road" else "other"],
            "b_prac": round(float(extra.get("practice", 0.0)), 4),
            "b_qual": round(float(extra.get("qualifying", 0.0)), 4),
        }
        if settings.noise != "gumbel":
            params.update(noise=settings.noise, sigma_skill=round(float(gamma), 4), trouble_rate=trouble["rate"],
                          trouble_drop=trouble["drop"])
        if settings.grid:
            params.update(q_skill=grid_coef[t][0], q_prac=grid_coef[t][1])
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
                "second_leader_share": round(stints["_target"]["second_share"], 4),
                "fastest_share_of_laps": round(float(np.mean(green)) if len(green) else float("nan"), 4),
                "top_fastest_share": round(fast["_target"]["top_share"], 4),
            },
            "moment_fit": {"leaders": round(stints["_fitted"]["leaders"], 3), "top_leader_share": round(stints["_fitted"]["top_share"], 4),
                           "winner_share_of_laps_led": round(stints["_fitted"]["winner_share"], 4),
                           "second_leader_share": round(stints["_fitted"]["second_share"], 4),
                           "top_fastest_share": round(fast["_fitted"]["top_share"], 4)},
        }
        step(0.6 + 0.4 * (j + 1) / len(present))
    newcomer = newcomer_prior(history.before(seasons[-1] + 1, 1))
    with_loop = races[races["race_id"].isin(set(history.loop["race_id"]))]
    return {
        "model": FIT_VERSION,
        "series": history.series,
        "loop_data": {"races": int(len(with_loop)), "of": int(len(races)),
                      "seasons": sorted(int(x) for x in with_loop["season"].unique()),
                      "meaning": "green-flag laps and fastest laps are fitted on the fit races with loop "
                                 "data only (it starts in 2019 for NXS and Trucks in the shipped data)"},
        "settings": settings.to_dict(),
        "method_hash": settings.method_hash,
        "data_fingerprint": history.seasons_before(seasons[-1] + 1).fingerprint(),
        "fit_seasons": list(seasons),
        "fitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "races": int(len(races)),
        "held_back": sorted(exclude),
        "league_dnf_rate": round(q_all, 5),
        "pace_fit": {"noise": settings.noise, "sigma_skill": round(float(gamma), 4), "trouble": trouble},
        "newcomer_skill": round(newcomer, 4),
        "types": out_types,
        "assumptions": ASSUMPTIONS,
    }


def structure_races(history: History, raw: dict) -> list[str]:
    """The races each track type's race structure was fitted on (its fit seasons, from the era on
    where it says so): what the in-sample check of `pitwall fit` compares the model with, since a
    model of the Next Gen era's races is not meant to reproduce the races before it."""
    seasons = set(raw["fit_seasons"])
    era = raw.get("settings", {}).get("era_from")
    idx = history.index[history.index["season"].isin(seasons)]
    out = []
    for t, part in raw["types"].items():
        rr = idx[idx["track_type"] == t]
        if era is not None and str(part.get("structure_seasons", "")).startswith(str(era)):
            rr = rr[rr["season"] >= era]
        out += rr["race_id"].tolist()
    return out


def structure_note(raw: dict) -> str:
    """Which seasons each track type's structure was fitted on, in words."""
    by: dict[str, list[str]] = {}
    for t, part in raw["types"].items():
        by.setdefault(str(part.get("structure_seasons", "all fit seasons")), []).append(t)
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in by.items())


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
        leaders, top = lead_stats(led)
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

    model = model or load_params(series=history.series)
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
        leaders, top = lead_stats(led)
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
