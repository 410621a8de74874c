"""Backtests: the simulator on real past races, scored against what happened, next to baselines.

For each race R: the slate is built exactly as engine.data.slates builds it (only races before R),
simulated with the current fitted model (fitted on seasons before the scored ones), and every
driver's real finish, DNF and DraftKings points are scored (engine.model.calibration). Baselines in
the same report: the uniform distribution over the field; the finish distribution given the
starting position and track type, estimated from the model's fit seasons only; and the
starting position as a point forecast.

Point forecasts of the model: the median simulated position (``mae``) and the full predicted
finishing order (``rank_mae``, comparable to published predicted orders): the permutation with
the least expected absolute error under the simulated distributions (``predicted_order``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.core.scoring import score
from engine.core.series import series_state_dir
from engine.data.grid import SimulationError
from engine.data.history import History, parse_race_id
from engine.data.slates import build_slate
from engine.model import calibration as C
from engine.model.field import prepare
from engine.model.params import ModelParams, load_params
from engine.model.scenarios import Cancelled, simulate

MIN_BASELINE_ROWS = 400
KERNEL_H = 0.06


@dataclass
class RaceForecast:
    """Simulated distributions for the drivers of one race (slate order)."""

    race_id: str
    track_type: str
    driver_ids: list[str]
    start: np.ndarray
    counts: np.ndarray  # drivers x field: simulated finishing positions
    dnf: np.ndarray  # P(DNF) per driver
    dk: np.ndarray  # drivers x scenarios (a sample) of DK points
    structure: dict | None = None  # the simulated races' DNF rate, incidents, leaders and top-leader share (means)
    grid_model: np.ndarray | None = None  # the qualifying model's predicted grid (None: the model has none)
    grid_skill: np.ndarray | None = None  # the grid in order of skill (what an unknown grid was before)

    @property
    def probs(self) -> np.ndarray:
        return self.counts / self.counts.sum(axis=1, keepdims=True)


def model_hash(model: ModelParams) -> str:
    """Short sha256 of the model's parameters (canonical JSON): which model a report scored."""
    return model.hash


def race_seed(seed: int, rid: str) -> int:
    season, race = parse_race_id(rid)
    return int(np.random.SeedSequence([seed, season, race]).generate_state(1)[0])


def forecast_race(rid: str, history: History, model: ModelParams, n: int, seed: int, dk_sample: int = 1000) -> RaceForecast:
    """The model's forecast of race ``rid`` from the races before it (no look-ahead)."""
    slate = build_slate(rid, history)
    inputs = prepare(slate, model=model)
    sims = simulate(inputs, n, race_seed(seed, rid))
    d = len(slate.drivers)
    counts = C.position_probs(sims.finish[:, :d], d) * sims.n
    dk = sims.dk[: min(dk_sample, sims.n), :d].T
    return RaceForecast(race_id=rid, track_type=str(slate.track_type), driver_ids=[x.driver_id for x in slate.drivers],
                        start=np.array([x.start_position for x in slate.drivers]), counts=counts,
                        dnf=(~sims.running[:, :d]).mean(axis=0), dk=dk, structure=simulated_structure(sims),
                        **predicted_grids(inputs, d))


def predicted_grids(inputs, d: int) -> dict:
    """The grid the qualifying model predicts for a race's drivers (in order of its utility,
    q_skill logit(skill) + q_prac practice) and the grid in order of skill, ties by driver id."""
    from engine.model.field import pace_feature

    ids = np.array(inputs.driver_ids[:d])

    def order(key):
        rank = np.lexsort((ids, -np.asarray(key)))
        out = np.empty(d, np.int64)
        out[rank] = np.arange(1, d + 1)
        return out

    p = inputs.params
    skill = inputs.skill[:d]
    out = {"grid_skill": order(skill)}
    if p.q_skill is not None:
        prac = inputs.practice[:d] if inputs.practice is not None else np.zeros(d)
        out["grid_model"] = order(p.q_skill * pace_feature(skill) + p.q_prac * prac)
    return out


STRUCTURE = ("dnf_rate", "incidents_per_race", "leaders", "top_leader_share")


def simulated_structure(sims) -> dict:
    """Means over the simulated races of one race: DNF rate of the starters, multi-car incidents,
    drivers leading a lap, the top leader's share of the laps led."""
    q = sims.qualified
    led = sims.laps_led.astype(np.int64)
    return {"dnf_rate": float((q & ~sims.running).sum() / q.sum()), "incidents_per_race": float((sims.incident_size >= 2).sum(axis=1).mean()),
            "leaders": float((led > 0).sum(axis=1).mean()), "top_leader_share": float((led.max(axis=1) / np.maximum(led.sum(axis=1), 1)).mean())}


def actual_structure(history: History, rid: str) -> dict:
    """The same statistics of the real race (incidents: clusters of accident DNFs within a lap, as the fit counts them)."""
    from engine.model.fit import classify_dnfs

    res = classify_dnfs(history.results[history.results["race_id"] == rid])
    led = res["led"].to_numpy()
    return {"dnf_rate": float((~res["running"]).mean()), "incidents_per_race": float(res.loc[res["incident"], "cluster"].nunique()),
            "leaders": float((led > 0).sum()), "top_leader_share": float(led.max() / max(led.sum(), 1))}


def actual_outcomes(rid: str, history: History, driver_ids: list[str]) -> pd.DataFrame:
    """Real finish, DNF and DraftKings points (NaN where fastest laps are unknown) of a race."""
    res = history.results[history.results["race_id"] == rid].set_index("driver_id").loc[driver_ids]
    fl = history.loop[history.loop["race_id"] == rid].set_index("driver_id")["fastest_laps"].reindex(driver_ids)
    dk = score("dk", res["start"].to_numpy(), res["finish"].to_numpy(), res["led"].to_numpy(), fl.fillna(0).to_numpy(), res["laps"].to_numpy())
    return pd.DataFrame({"finish": res["finish"].to_numpy(), "dnf": ~res["running"].to_numpy(),
                         "dk": np.where(fl.notna().to_numpy(), dk, np.nan)}, index=driver_ids)


def predicted_order(probs: np.ndarray) -> np.ndarray:
    """The forecast's predicted finishing order: the permutation r minimizing the expected
    total absolute error sum_i E|r_i - Y_i| = sum_i sum_k p_ik |r_i - k| under the simulated
    distributions (a linear assignment of drivers to positions, solved exactly with
    scipy.optimize.linear_sum_assignment). Ranking by expected position instead lets a
    driver's crash risk drag him back even though he most likely runs at the front; the
    assignment places each driver at his distribution's centre, as the median does for one."""
    from scipy.optimize import linear_sum_assignment

    f = probs.shape[1]
    k = np.arange(1, f + 1)
    cost = probs @ np.abs(k[:, None] - k[None, :])
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(probs), dtype=int)
    order[rows] = cols + 1
    return order


class StartBaseline:
    """P(finish | start, track type) from the training seasons: finishing percentiles of the
    drivers who started in the same tenth of the field at that track type, Gaussian-kernel
    smoothed (bandwidth 0.06 of the field), pooled over all types when a type has fewer than
    400 training rows."""

    def __init__(self, history: History, seasons: tuple[int, ...]):
        res = history.results[history.results["season"].isin(seasons)]
        res = res.merge(history.index[["race_id", "track_type"]], on="race_id")
        field = res.groupby("race_id")["finish"].transform("size")
        self.data = pd.DataFrame({
            "type": res["track_type"].to_numpy(),
            "start_bin": np.minimum(((res["start"] - 1) / (field - 1) * 10).astype(int), 9).to_numpy(),
            "finish_pct": ((res["finish"] - 1) / (field - 1)).to_numpy(),
        })
        self.seasons = seasons

    def _obs(self, track_type: str, start_bin: int) -> np.ndarray:
        d = self.data
        typed = d[d["type"] == track_type]
        use = typed if len(typed) >= MIN_BASELINE_ROWS else d
        return use.loc[use["start_bin"] == start_bin, "finish_pct"].to_numpy()

    def probs(self, start: np.ndarray, field: int, track_type: str) -> np.ndarray:
        pct = np.arange(field) / max(field - 1, 1)
        out = np.zeros((len(start), field))
        for j, s in enumerate(start):
            b = min(int((s - 1) / max(field - 1, 1) * 10), 9)
            obs = self._obs(track_type, b)
            dens = np.exp(-0.5 * ((pct[:, None] - obs[None, :]) / KERNEL_H) ** 2).sum(axis=1) + 1e-9
            out[j] = dens / dens.sum()
        return out


def _summary(rows: pd.DataFrame) -> dict:
    lv = {f"{int(round(100 * c))}": c for c in C.LEVELS}
    return {
        "races": int(rows["race_id"].nunique()),
        "rows": int(len(rows)),
        "model": {
            "crps": float(rows["crps"].mean()),
            "log_score": float(rows["log_score"].mean()),
            "mae": float(rows["ae_median"].mean()),
            "rank_mae": float(rows["ae_rank"].mean()),
            "coverage": {k: float(rows[f"cov_{k}"].mean()) for k in lv},
            "pit_coverage": {k: float(rows[f"pit_cov_{k}"].mean()) for k in lv},
            "dk_points_crps": float(rows["dk_crps"].mean()) if rows["dk_crps"].notna().any() else None,
            "dk_points_coverage": {k: float(rows[f"dk_cov_{k}"].dropna().mean()) for k in lv} if rows["dk_crps"].notna().any() else None,
        },
        "baselines": {
            "uniform": {"crps": float(rows["uni_crps"].mean()), "log_score": float(rows["uni_log"].mean())},
            "start": {"crps": float(rows["start_crps"].mean()), "log_score": float(rows["start_log"].mean()),
                      "mae": float(rows["start_ae"].mean())},
        },
    }


def check_backtest(history: History, seasons: tuple[int, ...], track_type: str | None = None,
                   model: ModelParams | None = None) -> pd.DataFrame:
    """The races a backtest of ``seasons`` scores, or ValueError saying why there are none:
    seasons not in the history, no season before them to fit on, seasons a given model was
    fitted on, or no race of the track type."""
    from engine.data.history import TRACK_TYPES

    span = f"{history.seasons[0]}-{history.seasons[-1]}"
    if not seasons:
        raise ValueError(f"no seasons given; the history has {span}")
    missing = sorted(set(seasons) - set(history.seasons))
    if missing:
        raise ValueError(f"no races in season(s) {', '.join(map(str, missing))}: the history has {span}")
    if track_type is not None and track_type not in TRACK_TYPES:
        raise ValueError(f"unknown track type {track_type!r}; known: {', '.join(TRACK_TYPES)}")
    if model is not None:
        fit_seasons = tuple(model.fit_seasons)
        if fit_seasons and min(seasons) <= max(fit_seasons):
            raise ValueError(f"seasons {min(seasons)}-{max(seasons)} overlap the model's fit seasons "
                             f"{fit_seasons[0]}-{fit_seasons[-1]}: score seasons after the fit")
    elif min(seasons) <= history.seasons[0]:
        raise ValueError(f"season {min(seasons)} has no season before it to fit a model on (the history starts "
                         f"{history.seasons[0]}): score {history.seasons[0] + 1} or later")
    races = history.index[history.index["season"].isin(seasons)]
    if track_type:
        races = races[races["track_type"] == track_type]
    if races.empty:
        raise ValueError(f"no {track_type} races in season(s) {', '.join(map(str, seasons))}")
    return races


def fitted_model(history: History, season: int, settings=None, state_dir: Path | None = None,
                 progress: Callable[[float], None] | None = None) -> ModelParams:
    """The model forecasting ``season`` out of sample: fitted on every season of ``history``
    before it, with ``settings``; cached under state_dir/fits by the data's fingerprint and
    the settings, so it is fitted once."""
    from engine.core.settings import get_settings
    from engine.model.fit import FitSettings, check_fit_seasons, fit_model
    from engine.model.params import params_from_dict

    settings = (settings or FitSettings()).for_series(history.series)
    h = history.seasons_before(season)
    seasons = tuple(h.seasons)
    if not seasons:
        raise ValueError(f"no season before {season} to fit on")
    cache = series_state_dir(state_dir or get_settings().state_dir, history.series) / "fits"
    path = cache / f"{settings.method_hash}-{seasons[0]}-{seasons[-1]}-{h.fingerprint()}.json"
    if path.exists():
        return params_from_dict(json.loads(path.read_text()))
    check_fit_seasons(h, seasons)
    raw = fit_model(h, seasons, progress=progress, settings=settings)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(raw, indent=1))
    tmp.replace(path)
    return params_from_dict(raw)


def score_race(history: History, race_id: str, season: int, model: ModelParams, baseline: "StartBaseline", n_scenarios: int,
               seed: int) -> dict:
    """Forecast one race with ``model`` and score it against what happened and the baselines:
    {"race_id", "season", "frame" (one row per driver), "pit", "events"}, or {"race_id",
    "skipped": reason} when the race cannot be simulated. Pure: the same inputs give the same
    result in any process (the seed is per race)."""
    try:
        fc = forecast_race(race_id, history, model, n_scenarios, seed)
    except SimulationError as exc:
        return {"race_id": race_id, "skipped": f"{race_id}: {exc}"}
    act = actual_outcomes(race_id, history, fc.driver_ids)
    y = act["finish"].to_numpy()
    f = fc.counts.shape[1]
    probs = fc.probs
    pit = C.randomized_pit(probs, y, np.random.default_rng(race_seed(seed + 1, race_id)).random(len(y)))
    rank = predicted_order(probs)
    uni = np.full((len(y), f), 1.0 / f)
    sb = baseline.probs(fc.start, f, fc.track_type)
    row = {
        "race_id": race_id, "season": season, "track_type": fc.track_type, "driver_id": fc.driver_ids, "finish": y,
        "crps": C.crps_positions(probs, y), "log_score": C.log_score_positions(fc.counts, y),
        "ae_median": np.abs(C.quantile_positions(probs, 0.5) - y), "ae_rank": np.abs(rank - y),
        "uni_crps": C.crps_positions(uni, y), "uni_log": np.log(uni[:, 0]),
        "start_crps": C.crps_positions(sb, y), "start_log": np.log(sb[np.arange(len(y)), y - 1]),
        "start_ae": np.abs(fc.start - y),
    }
    row["grid_skill_ae"] = np.abs(fc.grid_skill - fc.start)
    row["grid_model_ae"] = np.abs(fc.grid_model - fc.start) if fc.grid_model is not None else np.nan
    dk_known = act["dk"].notna().to_numpy()
    row["dk_crps"] = np.where(dk_known, C.crps_points(fc.dk, act["dk"].fillna(0).to_numpy()), np.nan)
    for c in C.LEVELS:
        k = f"{int(round(100 * c))}"
        row[f"cov_{k}"] = C.coverage_inclusive(probs, y, c)
        row[f"pit_cov_{k}"] = C.coverage_pit(pit, c)
        row[f"dk_cov_{k}"] = np.where(dk_known, C.coverage_points(fc.dk, act["dk"].fillna(0).to_numpy(), c), np.nan)
    cdf = np.cumsum(probs, axis=1)
    events = {name: (cdf[:, min(k, f) - 1], y <= k) for name, k in C.EVENTS.items()}
    events["dnf"] = (fc.dnf, act["dnf"].to_numpy())
    w = int(np.flatnonzero(y == 1)[0])
    n = fc.counts[w].sum()
    winner = {"model": float(np.log((fc.counts[w, 0] + C.LOG_SMOOTHING) / (n + C.LOG_SMOOTHING * f))), "start": float(np.log(sb[w, 0]))}
    structure = {"track_type": fc.track_type, "simulated": fc.structure, "real": actual_structure(history, race_id)}
    return {"race_id": race_id, "season": season, "frame": pd.DataFrame(row), "pit": pit, "events": events, "winner": winner,
            "structure": structure}


def grid_mae(rows: pd.DataFrame) -> dict:
    """The qualifying model's calibration: the mean absolute error of its predicted grid against
    the real one (None when the model has no qualifying model), next to the skill order's."""
    model = rows["grid_model_ae"]
    return {"model_mae": round(float(model.mean()), 3) if model.notna().any() else None,
            "skill_order_mae": round(float(rows["grid_skill_ae"].mean()), 3), "rows": int(len(rows))}


def reliability_numbers(done: list[dict]) -> dict:
    """Per event (win, top 3, 5, 10, 20, DNF) the reliability summary (calibration.reliability_summary),
    and the winner log-loss of the model against the start baseline's."""
    out = {k: C.reliability_summary(np.concatenate([r["events"][k][0] for r in done]), np.concatenate([r["events"][k][1] for r in done]))
           for k in [*C.EVENTS, "dnf"]}
    out["winner_log_loss"] = {"model": round(float(np.mean([r["winner"]["model"] for r in done])), 4),
                              "start": round(float(np.mean([r["winner"]["start"] for r in done])), 4), "races": len(done)}
    return out


def structure_by_type(done: list[dict]) -> dict:
    """Per track type: the real races' mean DNF rate, incidents, leaders and top-leader share against the simulated races'."""
    out: dict[str, dict] = {}
    for r in done:
        st = r["structure"]
        t = out.setdefault(st["track_type"], {"races": 0, **{k: {"real": 0.0, "simulated": 0.0} for k in STRUCTURE}})
        t["races"] += 1
        for k in STRUCTURE:
            t[k]["real"] += st["real"][k]
            t[k]["simulated"] += st["simulated"][k]
    for t in out.values():
        for k in STRUCTURE:
            t[k] = {w: round(v / t["races"], 4) for w, v in t[k].items()}
    return out


def summarize(scores: list[dict], fits: dict, settings, seasons: tuple[int, ...], track_type: str | None, n_scenarios: int,
              seed: int, rolling: bool, seconds: float, series: str = "cup") -> dict:
    """The backtest report from the scored races (in race order) and each season's model."""
    done = [r for r in scores if "skipped" not in r]
    skipped = [r["skipped"] for r in scores if "skipped" in r]
    if not done:
        raise ValueError("no race could be simulated: " + "; ".join(skipped))
    rows = pd.concat([r["frame"] for r in done], ignore_index=True)
    report = _summary(rows)
    report["by_track_type"] = {t: _summary(g) for t, g in rows.groupby("track_type")}
    report["by_season"] = {str(y): _summary(g) for y, g in rows.groupby("season")}
    report["pit_histogram"] = C.pit_histogram(np.concatenate([r["pit"] for r in done]))
    report["reliability"] = {k: C.reliability(np.concatenate([r["events"][k][0] for r in done]),
                                              np.concatenate([r["events"][k][1] for r in done]))
                             for k in [*C.EVENTS, "dnf"]}
    seasons_done = sorted({r["season"] for r in done})
    report["reliability_summary"] = {"pooled": reliability_numbers(done),
                                     "by_season": {str(y): reliability_numbers([r for r in done if r["season"] == y]) for y in seasons_done}}
    report["structure_by_track_type"] = structure_by_type(done)
    report["grid"] = {"pooled": grid_mae(rows), "by_season": {str(y): grid_mae(g) for y, g in rows.groupby("season")}}
    last = fits[str(max(int(y) for y in fits))]
    report["settings"] = {
        "series": series,
        "seasons": list(seasons), "track_type": track_type, "scenarios_per_race": n_scenarios, "seed": seed,
        "rolling_origin": rolling, "method": settings.to_dict(), "method_hash": settings.method_hash,
        "fits": fits, "model_fit_seasons": last["fit_seasons"], "model_hash": last["model_hash"],
        "baseline_seasons": "the fit seasons of each scored season's model", "log_score_smoothing": C.LOG_SMOOTHING,
    }
    report["skipped"] = skipped
    report["seconds"] = round(seconds, 1)
    return report


def fit_meta(model: ModelParams, races: int) -> dict:
    return {"fit_seasons": [int(model.fit_seasons[0]), int(model.fit_seasons[-1])], "model_hash": model.hash, "races": int(races)}


def backtest(
    history: History,
    seasons: tuple[int, ...],
    *,
    model: ModelParams | None = None,
    settings=None,
    n_scenarios: int = 2000,
    seed: int = 0,
    track_type: str | None = None,
    state_dir: Path | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict:
    """Score the simulator and the baselines on every race of ``seasons`` (optionally one track
    type), in this process. Returns the report (JSON-ready; see ``pitwall backtest``).

    Rolling origin (the default): each season is forecast by a model fitted only on the seasons
    before it (``fitted_model``, with ``settings``), and the start baseline is estimated on
    those seasons too, so every season reported is out of sample. Driver form always comes from
    the races before each race. With ``model`` given, that one model scores every season (which
    must all come after its fit seasons). engine.jobs.tasks runs the same steps as Dask tasks (a fit
    per season, a task per race) with the same result."""
    from engine.model.fit import FitSettings

    t0 = time.perf_counter()
    settings = (settings or (FitSettings.from_dict(model.raw["settings"]) if model is not None and "settings" in model.raw
                             else FitSettings())).for_series(history.series)
    history = replace(history, cross_series=settings.cross_series)
    races = check_backtest(history, seasons, track_type, model)
    step = progress or (lambda f: None)
    by_season = {int(y): g for y, g in races.groupby("season")}
    fit_share = 0.0 if model is not None else 0.5
    fits, scores = {}, []
    for k, (season, season_races) in enumerate(sorted(by_season.items())):
        m = model if model is not None else fitted_model(history, season, settings, state_dir,
                                                         progress=lambda f, k=k: step(fit_share * (k + f) / len(by_season)))
        fits[str(season)] = fit_meta(m, len(season_races))
        baseline = StartBaseline(history, tuple(m.fit_seasons))
        for race in season_races.itertuples():
            if cancel is not None and cancel():
                raise Cancelled("cancelled")
            scores.append(score_race(history, race.race_id, int(race.season), m, baseline, n_scenarios, seed))
            step(fit_share + (1 - fit_share) * len(scores) / len(races))
    return summarize(scores, fits, settings, seasons, track_type, n_scenarios, seed, model is None, time.perf_counter() - t0,
                     series=history.series)


def calibration_metrics(report: dict, track_type: str | None) -> dict:
    """The optimize contract's calibration_metrics from a backtest report: the track type's
    model CRPS, log score and (randomized PIT) coverage, or the overall ones when the type
    has no scored race."""
    part = report["by_track_type"].get(track_type) if track_type else None
    m = (part or report)["model"]
    return {"crps": m["crps"], "log_score": m["log_score"], "coverage_50": m["pit_coverage"]["50"],
            "coverage_80": m["pit_coverage"]["80"], "coverage_95": m["pit_coverage"]["95"]}


DEFAULT_SCENARIOS = 2000
DEFAULT_SEED = 0
SHIPPED_REPORT = Path(__file__).resolve().parents[2] / "docs" / "calibration.json"  # the Cup's


def shipped_report(series: str = "cup") -> Path:
    """The shipped rolling-origin report of a series: docs/calibration.json (Cup), docs/calibration_<code>.json."""
    return SHIPPED_REPORT if series == "cup" else SHIPPED_REPORT.with_name(f"calibration_{series}.json")


def report_path(state_dir: Path | None, report: dict) -> Path:
    """Where a rolling-origin report is kept in the state directory (read by ``cached_calibration``)."""
    from engine.core.settings import get_settings

    st = report["settings"]
    seasons = st["seasons"]
    name = (f"{st['method_hash']}-{min(seasons)}-{max(seasons)}-{st['track_type'] or 'all'}-{st['scenarios_per_race']}-"
            f"{st['seed']}.json")
    return series_state_dir(state_dir or get_settings().state_dir, st.get("series", "cup")) / "backtests" / name


def _read_report(path: Path) -> dict | None:
    """A kept report, parsed once per version of the file (the API reads them on every POST)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _parse_report(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _parse_report(path: str, mtime_ns: int, size: int) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def cached_calibration(track_type: str | None, model: ModelParams | None = None, state_dir: Path | None = None) -> tuple[dict | None, str]:
    """(calibration_metrics, what they are) for a track type: the rolling-origin backtest of the
    serving model's method (its fit settings) -- each scored season forecast by a model of that
    method fitted on the seasons before it -- from the shipped docs/calibration.json or a report
    `pitwall backtest` kept in the state directory, the newest covering the type. The metrics
    carry the serving model's hash and fit seasons and the seasons scored. None, with the
    reason, when no such backtest exists yet."""
    from engine.core.settings import get_settings

    model = model or load_params()
    method = model.method_hash
    candidates = []
    if shipped_report(model.series).exists():
        candidates.append(shipped_report(model.series))
    kept = series_state_dir(state_dir or get_settings().state_dir, model.series) / "backtests"
    if kept.exists():
        candidates += sorted(kept.glob("*.json"), key=lambda p: p.stat().st_mtime)
    best = None
    for path in candidates:
        rep = _read_report(path)
        if rep is None:
            continue
        st = rep.get("settings", {})
        if st.get("method_hash") != method or not st.get("rolling_origin") or st.get("series", "cup") != model.series:
            continue
        if track_type is not None and track_type not in rep.get("by_track_type", {}):
            continue
        if best is None or max(st["seasons"]) >= max(best["settings"]["seasons"]):
            best = rep
    if best is None:
        return None, (f"no rolling-origin backtest of this model's method ({method}) covers "
                      f"{track_type or 'these'} races yet: run `pitwall backtest`")
    st = best["settings"]
    out = calibration_metrics(best, track_type)
    out.update(model_hash=model.hash, fit_seasons=f"{model.fit_seasons[0]}-{model.fit_seasons[-1]}",
               scored_seasons=f"{min(st['seasons'])}-{max(st['seasons'])}", method_hash=method)
    return out, (f"calibration: rolling-origin backtest of seasons {out['scored_seasons']} (each forecast by this method fitted "
                 f"on the seasons before it); serving model {model.hash} fitted on {out['fit_seasons']}")


def save_report(report: dict, path) -> None:
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1)
