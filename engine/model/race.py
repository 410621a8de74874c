"""One chunk of simulated races from its draws: the order, DNFs and multi-car incidents, laps
down, then laps led and fastest laps (engine.model.leaders) and fantasy points.

* order: the finishing order of the cars still running is the order of u_i + s_i * e_i -
  D * T_i, in the model's noise (engine.model.pace): e_i standard normal (Thurstone; the
  shipped method) or standard Gumbel (Plackett 1975; Luce 1959), the scale in which the pace
  coefficients were fitted; T_i ~ Bernoulli(q) is trouble while running (damage, a penalty, a
  bad stop), which costs D. s_i = exp(a_aggr * (aggression_i - 0.5)) * pit_scale_i:
  aggression and an AGGRESSIVE pit strategy widen the spread; pit strategies trade mean
  against variance (analyst assumptions, listed in the parameters file).
* own DNFs: P(DNF_i) = 1 - (1 - shadow_risk_i) ** r, r = (the track type's rate of DNFs
  outside multi-car incidents) / (the league DNF rate, the scale of shadow_risk); the lap
  of the DNF from the type's empirical distribution of DNF laps (fraction of the race).
* multi-car incidents: their number and sizes (cars out) and laps drawn from the type's
  empirical distributions (clusters of accident DNFs within one lap of each other); an
  incident of size S takes out the S cars still running nearest its centre in the running
  order of that moment (start order blended into the pace order as the race goes), with
  distances divided by 0.5 + aggression (aggressive cars get caught from further away) and
  a jitter of up to two positions.
* classification: running cars by pace, laps down drawn per finishing decile from the
  type's lead-lap share and mean laps down (monotone along the order); DNF cars behind
  them, by laps completed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.scoring import table
from engine.model.draws import MAX_INCIDENTS, inverse_cdf, poisson_icdf, quantile_interp
from engine.model.field import SimInputs, drawn_grid, pace_feature, qualifiers
from engine.model.kernels import (
    classify,
    fantasy_points,
    in_order,
    incidents,
    own_dnfs,
    ranks,
    to_drivers,
)
from engine.model.leaders import allocate_fastest_laps, allocate_laps_led, dominators
from engine.model.params import ModelParams, TypeParams

DRIVER_DRAWS = ("pace", "dnf", "inc_hit", "trouble")  # follow the driver
POSITION_DRAWS = ("down", "fast_eps")  # by finishing position
JITTER_SHIFT = np.array([(0.6180339887 * (m + 1)) % 1.0 for m in range(MAX_INCIDENTS)], np.float32)  # a fresh uniform per incident
DRIVER_OUTPUTS = {"finish": 0, "running": False, "laps_completed": 0, "laps_led": 0, "fastest_laps": 0, "dk": 0.0, "fd": 0.0,
                  "incident": 0}  # value for a driver not in the race


@dataclass(frozen=True)
class _Field:
    """The cars of the simulated races: per-driver arrays, (cars,) or (scenarios, cars)."""

    start: np.ndarray
    skill: np.ndarray
    aggression: np.ndarray
    shadow: np.ndarray
    pit_shift: np.ndarray
    pit_scale: np.ndarray
    race_length: int
    params: TypeParams
    model: ModelParams
    practice: np.ndarray | None = None
    qualifying: np.ndarray | None = None


def _field(inp: SimInputs, idx, start) -> _Field:
    return _Field(start=start, skill=inp.skill[idx], aggression=inp.aggression[idx], shadow=inp.shadow[idx],
                  pit_shift=inp.pit_shift[idx], pit_scale=inp.pit_scale[idx], race_length=inp.race_length,
                  params=inp.params, model=inp.model,
                  practice=None if inp.practice is None else inp.practice[idx],
                  qualifying=None if inp.qualifying is None else inp.qualifying[idx])


def simulate_chunk(inp: SimInputs, dr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One chunk of scenarios from its draws: every column races, or the field's cars are
    chosen (drivers out, non-qualifiers drawn by ``qualifiers``), raced, and written back,
    with zeros for the drivers not in the race and ``qualified`` / ``start`` per scenario."""
    if inp.every_column_races:
        return _race(_field(inp, slice(None), inp.start), dr)
    n, d = dr["pace"].shape
    f = inp.n_field
    rows = np.arange(n)[:, None]
    if inp.grid_draw or inp.qualifying_draws:  # each race its own cars
        if inp.grid_draw:
            idx, start = drawn_grid(inp, dr["qual"])
        else:
            idx = qualifiers(inp, dr["qual"])
            grid = inp.start[idx]
            start = np.empty_like(grid)
            start[rows, np.argsort(grid, axis=1, kind="stable")] = np.arange(1, f + 1, dtype=grid.dtype)
        sub = {k: (in_order(idx, v) if k in DRIVER_DRAWS else v[:, :f] if k in POSITION_DRAWS else v)
               for k, v in dr.items() if k != "qual"}
        res = _race(_field(inp, idx, start), sub)
    else:
        cols = np.flatnonzero(inp.racing)
        sub = {k: (v[:, cols] if k in DRIVER_DRAWS else v[:, :f] if k in POSITION_DRAWS else v) for k, v in dr.items()}
        res = _race(_field(inp, cols, inp.start[cols]), sub)
        idx = np.broadcast_to(cols, (n, f))
        start = np.broadcast_to(inp.start[cols], (n, f))
    idx = np.ascontiguousarray(idx)
    for k, empty in DRIVER_OUTPUTS.items():
        full = np.full((n, d), empty, dtype=res[k].dtype)
        to_drivers(idx, res[k], full)
        res[k] = full
    res["qualified"] = np.zeros((n, d), bool)
    res["qualified"][rows, idx] = True
    res["start"] = np.zeros((n, d), np.int16)
    res["start"][rows, idx] = start
    return res


def _race(inp: _Field, dr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The simulated races of one field from its draws (pure; see the module docstring).

    Per-driver inputs are (cars,) or, when each race has its own starters, (scenarios, cars).
    Arrays indexed by finishing position ("seq", column k = finished k + 1) avoid gathers:
    per-position constants broadcast, and results are scattered back to driver columns once.
    """
    p = inp.params
    n, d = dr["pace"].shape
    BIG = np.int32(2**30)

    # skeleton: laps run, green-flag laps
    delta = np.asarray(p.laps_delta_values)[inverse_cdf(dr["laps"], p.laps_delta_p)]
    laps_run = np.maximum(inp.race_length + delta, 1).astype(np.int32)
    green = np.minimum(np.rint(quantile_interp(dr["green"], p.green_frac_q) * laps_run), laps_run).astype(np.int32)
    L = laps_run[:, None]

    # pace and the running order
    start_pct = 1.0 - (inp.start.astype(np.float32) - 1.0) / max(d - 1, 1)
    util = p.b_skill * pace_feature(inp.skill) + p.b_start * start_pct + inp.pit_shift
    if inp.practice is not None and p.b_prac:
        util = util + p.b_prac * inp.practice
    if inp.qualifying is not None and p.b_qual:
        util = util + p.b_qual * inp.qualifying
    util = util.astype(np.float32)
    scale = np.exp(inp.model.aggression_spread * (inp.aggression - 0.5)) * inp.pit_scale
    if p.sigma_skill:
        scale = scale * np.exp(p.sigma_skill * pace_feature(inp.skill))
    scale = scale.astype(np.float32)
    if p.noise == "normal":
        pace = dr["pace"]  # standard normal draws (Thurstone), scaled in place (the draw is used only here)
        pace *= scale
        if p.trouble_rate:  # trouble while running
            np.subtract(pace, np.float32(p.trouble_drop), out=pace, where=dr["trouble"] < np.float32(p.trouble_rate))
    else:
        pace = -np.log(-np.log(np.clip(dr["pace"], np.float32(1e-12), np.float32(1 - 1e-7))))  # standard Gumbel (Plackett-Luce)
        pace *= scale
    pace += util
    pace_order = np.argsort(-pace, axis=1).astype(np.int32)
    pace_rank = ranks(pace_order)

    # own DNFs; given a DNF, u / p_own is uniform: it picks accident or not, then the lap
    p_own = (1.0 - np.power(1.0 - np.clip(inp.shadow, 0.0, 1.0), p.own_dnf_ratio)).astype(np.float32)
    sh = float(p.own_accident_share)
    own_s, own_d, is_acc, lap_u = own_dnfs(dr["dnf"], np.broadcast_to(p_own, (n, d)), np.float32(sh), np.float32(max(sh, 1e-9)),
                                           np.float32(max(1.0 - sh, 1e-9)))
    out_lap = np.full((n, d), BIG, np.int32)
    out_lap[own_s, own_d] = np.floor(quantile_interp(lap_u, p.own_dnf_lap_q) * laps_run[own_s]).astype(np.int32)
    accident = np.zeros((n, d), bool)
    accident[own_s[is_acc], own_d[is_acc]] = True

    # multi-car incidents, near each other in the running order of the moment
    n_inc = np.minimum(inverse_cdf(dr["inc_count"], p.incident_count_p), MAX_INCIDENTS)
    live = np.arange(MAX_INCIDENTS)[None, :] < n_inc[:, None]  # the incidents that happen (the rest are never read)
    sizes = np.zeros((n, MAX_INCIDENTS), np.int64)
    sizes[live] = 2 + inverse_cdf(dr["inc_size"][live], p.incident_size_p)
    inc_frac = np.zeros((n, MAX_INCIDENTS))
    inc_frac[live] = quantile_interp(dr["inc_lap"][live], p.incident_lap_q)
    start_rank = np.broadcast_to(inp.start.astype(np.float32) - 1.0, (n, d))
    reach = np.broadcast_to(np.float32(0.5) + inp.aggression, (n, d))
    involved_in = np.zeros((n, d), np.int8)
    inc_laps = np.full((n, MAX_INCIDENTS), -1, np.int32)
    inc_sizes = np.zeros((n, MAX_INCIDENTS), np.int16)
    incidents(n_inc, sizes, inc_frac, dr["inc_center"], dr["inc_hit"], JITTER_SHIFT, laps_run, start_rank, pace_rank, reach,
              out_lap, involved_in, inc_laps, inc_sizes)
    dnf = out_lap < L
    # a race ends with a car running: if every car is out, the last one out is classified running
    all_out = np.flatnonzero(dnf.all(axis=1))
    if all_out.size:
        key = out_lap[all_out].astype(np.int64) * (d + 1) + (d - pace_rank[all_out])
        last = np.argmax(key, axis=1)
        dnf[all_out, last] = False
        out_lap[all_out, last] = BIG
        involved_in[all_out, last] = 0
        accident[all_out, last] = False

    # classification: running cars by pace, then DNFs by laps completed; laps completed in
    # finishing order: laps down of running cars per finishing decile (lead-lap share,
    # geometric laps down), monotone along the order; DNFs at their lap
    decile = np.minimum((np.arange(d) * 10) // d, 9)
    share = np.asarray(p.lead_lap_share, np.float32)[decile][None, :]
    log_keep = np.log(np.clip(1.0 - 1.0 / np.maximum(np.asarray(p.laps_down_mean, np.float32)[decile], 1.0001), 1e-6, 1 - 1e-6))[None, :]
    u = dr["down"]
    q = np.clip((u - share) / np.maximum(1.0 - share, 1e-6), 1e-7, 1.0)
    down = np.where(u >= share, 1 + np.floor(np.log(q) / log_keep), 0).astype(np.int32)
    order, seq_running, seq_laps, laps_done = classify(pace_order, out_lap, laps_run, down)

    # laps led from leader stints (driver columns)
    slots = dr["rank"].shape[1]
    n_stints = 1 + poisson_icdf(dr["stints"], p.lead_lambda, slots - 1)
    dom = dominators(order, dr["dom"], p.lead_p) if p.lead_rho else None
    laps_led, _ = allocate_laps_led(laps_run, n_stints, dr["stint_len"], dr["rank"], dr["phase"], order,
                                    np.argsort(inp.start, axis=-1), laps_done, p.lead_p, p.lead_kappa, dominator=dom,
                                    lead_rho=p.lead_rho)
    seq_led = in_order(order, laps_led)

    # fastest laps: exact allocation of the green-flag laps (finishing order)
    fin_pct = (1.0 - np.arange(d, dtype=np.float32) / max(d - 1, 1))[None, :]
    seq_fl = allocate_fastest_laps(green, laps_run, seq_laps, fin_pct, seq_led, dr["fast_eps"], dr["fast_u"],
                                   p.fast_phi, p.fast_psi, p.fast_sigma)

    seq_start = in_order(order, np.ascontiguousarray(inp.start))
    points = {}
    for site in ("dk", "fd"):
        t = table(site)
        points[site] = np.empty((n, d), np.float32)
        fantasy_points(order, t.finish_points, t.place_differential, t.per_lap_led, t.per_fastest_lap, t.per_lap_completed,
                       seq_start, seq_led, seq_fl, seq_laps, points[site])

    fastest = np.empty((n, d), np.int16)
    to_drivers(order, seq_fl.astype(np.int16), fastest)
    return {
        "finish": ranks(order) + np.int16(1),
        "running": ~dnf,
        "laps_completed": laps_done.astype(np.int16),
        "laps_led": laps_led.astype(np.int16),
        "fastest_laps": fastest,
        "dk": points["dk"],
        "fd": points["fd"],
        "incident": involved_in,
        "laps_run": laps_run,
        "green_laps": green,
        "cautions": (p.stage_cautions + (inc_sizes > 0).sum(axis=1) + accident.sum(axis=1)).astype(np.int16),
        "n_incidents": (inc_sizes > 0).sum(axis=1).astype(np.int16),
        "incident_lap": inc_laps,
        "incident_size": inc_sizes,
        "n_stints": n_stints.astype(np.int16),
    }
