"""Race simulator: N simulated races ("scenarios") of a slate, each a race skeleton plus
driver outcomes, vectorized over scenarios and drivers.

Skeleton of a scenario: laps run (scheduled laps plus the track type's overtime or
shortening), green-flag laps, multi-car incidents (lap, size, who), leader stints and the
number of cautions. Outcomes per driver: finishing position, status and laps completed,
laps led, fastest laps, place differential, DraftKings and FanDuel points.

The model (parameters per track type fitted by engine.fit from real races, data/model_params.json):

* pace: utility u_i = b_skill * logit(skill_i) + b_start * start_pct_i + pit_shift_i with
  start_pct = 1 - (start - 1) / (F - 1); the finishing order of the cars still running is
  the order of u_i + s_i * G_i with G_i standard Gumbel noise, i.e. a Plackett-Luce draw
  (Plackett 1975; Luce 1959) when s_i = 1, the scale in which b_skill and b_start are fitted
  by maximum likelihood. s_i = exp(a_aggr * (aggression_i - 0.5)) * pit_scale_i: aggression
  and an AGGRESSIVE pit strategy widen the spread; pit strategies trade mean against
  variance (analyst assumptions, listed in the parameters file).
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
  them, by laps completed.
* laps led: the laps run split into K ~ 1 + Poisson(lambda) leader stints; each stint's
  leader is the r-th car, r ~ Geometric(p), of the start order or of the pace order (the
  latter with probability equal to the race fraction reached), skipping cars out before
  the stint ends; stint lengths ~ Exponential * exp(-kappa * r) (front-runners hold the
  lead longer); the winner leads the last stint (and so the last lap). lambda, p and kappa
  are fitted to the type's number of leaders, top leader share and winner's share.
* fastest laps: the green-flag laps G = round(g * laps run), g from the type's empirical
  green fraction; shares proportional to laps_completed * exp(phi * finish_pct +
  psi * laps_led / laps + sigma * eps), allocated exactly (systematic rounding, capped at
  laps completed), so they sum to G, never above the laps run.

Reproducible: randomness is drawn per block of BLOCK scenarios from
``SeedSequence(seed).spawn``; chunks are groups of blocks, so the same seed gives the same
scenarios whatever the chunk size or the number of workers.
"""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.contracts import PitStrategy, ScenarioConfig, ScenarioDiagnostics, Slate
from engine.data import DATA_DIR
from engine.scoring import score

BLOCK = 1000
MAX_STINTS = 96
MAX_INCIDENTS = 8
PARAMS_FILE = DATA_DIR / "model_params.json"
PIT_CODES = {PitStrategy.STANDARD: 0, PitStrategy.AGGRESSIVE: 1, PitStrategy.CONSERVATIVE: 2}


class SimulationError(ValueError):
    """Inputs the simulator refuses before simulating; the message names drivers and fields."""


class Cancelled(RuntimeError):
    """The run was cancelled between chunks."""


# ----------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class TypeParams:
    """Fitted parameters of one track type (see engine.fit for how each is estimated)."""

    b_skill: float
    b_start: float
    own_dnf_ratio: float
    own_accident_share: float
    own_dnf_lap_q: tuple[float, ...]
    incident_count_p: tuple[float, ...]
    incident_size_p: tuple[float, ...]  # sizes 2, 3, ...
    incident_lap_q: tuple[float, ...]
    green_frac_q: tuple[float, ...]
    laps_delta_values: tuple[int, ...]
    laps_delta_p: tuple[float, ...]
    lead_lambda: float
    lead_p: float
    lead_kappa: float
    fast_phi: float
    fast_psi: float
    fast_sigma: float
    lead_lap_share: tuple[float, ...]  # per finishing decile, running cars
    laps_down_mean: tuple[float, ...]  # per finishing decile, given lapped
    stage_cautions: int
    b_prac: float = 0.0  # practice rank (centered percentile, engine.features)
    b_qual: float = 0.0  # qualifying speed rank


@dataclass(frozen=True)
class ModelParams:
    types: dict[str, TypeParams]
    league_dnf_rate: float
    newcomer_skill: float
    aggression_spread: float
    pit: dict[str, tuple[float, float]]  # strategy -> (utility shift, noise scale)
    fit_seasons: tuple[int, ...]
    raw: dict = field(repr=False, default_factory=dict)

    @cached_property
    def hash(self) -> str:
        """Short sha256 of the parameters (canonical JSON): which model produced a result."""
        import hashlib

        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def method_hash(self) -> str:
        """Which fitting method (settings) produced the model; models fitted the same way share it."""
        return str(self.raw.get("method_hash", "legacy"))

    @property
    def fit_span(self) -> str:
        return f"{self.fit_seasons[0]}-{self.fit_seasons[-1]}" if self.fit_seasons else "?"

    def for_type(self, track_type: str) -> TypeParams:
        if track_type not in self.types:
            raise SimulationError(f"no fitted parameters for track type {track_type!r}; known: {', '.join(sorted(self.types))}")
        return self.types[track_type]


def params_from_dict(raw: dict) -> ModelParams:
    types = {}
    for name, t in raw["types"].items():
        types[name] = TypeParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in t["params"].items()})
    a = raw["assumptions"]
    return ModelParams(
        types=types,
        league_dnf_rate=float(raw["league_dnf_rate"]),
        newcomer_skill=float(raw["newcomer_skill"]),
        aggression_spread=float(a["aggression_spread"]["value"]),
        pit={k: (float(v["utility_shift"]), float(v["noise_scale"])) for k, v in a["pit_strategy"].items() if isinstance(v, dict)},
        fit_seasons=tuple(raw["fit_seasons"]),
        raw=raw,
    )


@lru_cache(maxsize=4)
def _load_params(path: str, mtime: float) -> ModelParams:
    return params_from_dict(json.loads(Path(path).read_text()))


def active_params_file() -> Path:
    """The model in use: the one `pitwall fit` wrote to the state directory, else the shipped one."""
    from engine.settings import get_settings

    mine = Path(get_settings().state_dir) / "model_params.json"
    return mine if mine.exists() else PARAMS_FILE


def load_params(path: Path | str | None = None) -> ModelParams:
    """The fitted model: ``path``, else the active one (``active_params_file``)."""
    path = Path(path) if path is not None else active_params_file()
    if not path.exists():
        raise SimulationError(f"{path} is missing: run `pitwall fit`")
    return _load_params(str(path), path.stat().st_mtime)


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class SimInputs:
    """Per-driver arrays of one slate, ready to simulate.

    Columns are the slate's drivers, then ``fillers`` anonymous field cars. ``field`` cars
    start each simulated race: when more drivers can race than that (a salary pool before
    qualifying), the non-qualifiers of each race are drawn (``qualifying_draws``); drivers
    marked ``out`` never race. ``start`` is the grid of the drivers who can race (0 for those
    out); in a race with non-qualifiers the starters keep that order, renumbered 1..field."""

    driver_ids: tuple[str, ...]
    names: tuple[str, ...]
    start: np.ndarray  # 1-based grid positions; 0 for drivers out of the race
    skill: np.ndarray
    aggression: np.ndarray
    shadow: np.ndarray
    pit_shift: np.ndarray
    pit_scale: np.ndarray
    min_led: np.ndarray
    max_led: np.ndarray  # -1: no upper bound
    race_length: int
    track_type: str
    params: TypeParams
    model: ModelParams
    estimated_starts: tuple[str, ...] = ()
    fillers: int = 0
    field: int = 0  # cars that start each race (0: every column)
    out: np.ndarray | None = None  # drivers who never race
    pinned: np.ndarray | None = None  # drivers sure to start (their grid position is known)
    practice: np.ndarray | None = None  # centered practice-rank feature (0: none)
    qualifying: np.ndarray | None = None  # centered qualifying-rank feature (0: none)

    @property
    def n_drivers(self) -> int:
        return len(self.driver_ids)

    @property
    def n_field(self) -> int:
        return self.field or self.n_drivers

    @property
    def racing(self) -> np.ndarray:
        """Columns that can race (not out)."""
        return np.ones(self.n_drivers, bool) if self.out is None else ~self.out

    @property
    def qualifying_draws(self) -> bool:
        """More drivers can race than the field holds: who misses is drawn per race."""
        return int(self.racing.sum()) > self.n_field

    @property
    def every_column_races(self) -> bool:
        return self.n_field == self.n_drivers and not self.qualifying_draws


def field_of(slate: Slate, explicit: int | None = None) -> int:
    """Cars that start: an explicit field size (the API's scenario_config.field_size: fewer than
    the drivers means non-qualifiers, more means anonymous field cars), else the drivers who
    can race: all of them when each has a grid position, else at most the slate's field size,
    or when the slate has none the race's rule (data/field_sizes.csv: 40 cars, 41 at the
    Daytona 500)."""
    if explicit:
        return int(explicit)
    racing = [d for d in slate.drivers if not d.out]
    n_racing = len(racing)
    if all(d.start_position is not None for d in racing):  # a known grid says who starts; starters missing from
        return max(n_racing, slate.field_size or 0, max((d.start_position for d in racing), default=0))  # the pool: field cars
    limit = slate.field_size
    if limit is None:
        from engine.data import race_field_size

        limit, _ = race_field_size(slate.season, slate.track_id, slate.race, slate.race_name)
    return min(n_racing, int(limit))


def prepare(slate: Slate, config: ScenarioConfig | None = None, model: ModelParams | None = None,
            laps_led_bounds: dict[str, tuple[int, int | None]] | None = None, tracks: pd.DataFrame | None = None,
            spec=None) -> SimInputs:
    """Check a slate and a scenario config and turn them into simulator inputs.

    Refuses, before simulating: fewer than 2 cars, an unknown track, no race length, and
    laps-led bounds that cannot hold together (minimums summing above the race length, or a
    driver's minimum above it), naming the drivers. Missing starting positions are filled
    with the free grid slots in order of skill, and listed in ``estimated_starts``.
    ``laps_led_bounds`` (driver_id -> (min, max)) overrides the slate's own bounds. A
    ``spec`` (engine.constraints.ConstraintSpec) supplies the scenario constraints: its
    laps-led bounds, race length, field size and grid (estimated starts included).
    """
    if spec is not None:
        grid = {d.driver_id: None if d.start_estimated else d.start_position for d in spec.drivers}  # estimates: same again
        slate = slate.model_copy(update={
            "race_length": spec.race_length or slate.race_length,
            "track_type": spec.track_type or slate.track_type,
            "drivers": [d.model_copy(update={"start_position": grid.get(d.driver_id, d.start_position)}) for d in slate.drivers],
        })
        laps_led_bounds = {**{d.driver_id: (0, None) for d in slate.drivers}, **spec.laps_led_bounds()}
    model = model or load_params()
    track_type = slate.track_type
    if config is not None and config.track_id and (track_type is None or config.track_id != slate.track_id):
        if tracks is None:
            from engine.data import load_tracks

            tracks = load_tracks()
        t = tracks.set_index("track_id")
        if config.track_id not in t.index:
            raise SimulationError(f"scenario_config.track_id: unknown track {config.track_id!r}; known: {', '.join(sorted(t.index))}")
        track_type = str(t.loc[config.track_id, "track_type"])
        if config.race_length is None and slate.race_length is None:
            slate = slate.model_copy(update={"race_length": int(t.loc[config.track_id, "latest_race_laps"])})
    if track_type is None:
        raise SimulationError("the slate has no track: choose a track (it sets the track type and race length)")
    params = model.for_type(track_type)
    race_length = (config.race_length if config and config.race_length else None) or slate.race_length
    if not race_length:
        raise SimulationError("race length unknown: set scenario_config.race_length or the slate's race length")

    drivers = list(slate.drivers)  # excluded drivers still race; exclusion is a lineup rule
    out = [bool(d.out) for d in drivers]
    n_racing = len(drivers) - sum(out)
    explicit = config.field_size if config and config.field_size else (spec.field_size if spec is not None else None)
    field_size = field_of(slate, explicit)
    if field_size < 2:
        raise SimulationError(f"a race needs at least 2 cars ({n_racing} of the {len(drivers)} drivers can race)")
    fillers = max(0, field_size - n_racing)

    starts = [None if o else d.start_position for d, o in zip(drivers, out)]
    given = [s for s in starts if s is not None]
    dup = sorted({s for s in given if given.count(s) > 1})
    if dup:
        names = [d.name or d.driver_id for d in drivers if d.start_position in dup]
        raise SimulationError(f"start_position {dup} given to more than one driver: {', '.join(names)}")
    over = [d for d, s in zip(drivers, starts) if s is not None and s > field_size]
    if over:
        raise SimulationError(
            "start_position above the field size "
            f"{field_size}: " + ", ".join(f"{d.name or d.driver_id} ({d.start_position})" for d in over)
        )

    bounds = laps_led_bounds or {}
    mins, maxs = [], []
    for d in drivers:
        lo, hi = bounds.get(d.driver_id, (d.min_laps_led, d.max_laps_led))
        mins.append(int(lo or 0))
        maxs.append(-1 if hi is None else int(hi))
    check_laps_led_bounds([d.name or d.driver_id for d in drivers], mins, maxs, race_length)
    outs = [(d.name or d.driver_id) for d, o in zip(drivers, out) if o and mins[drivers.index(d)] > 0]
    if outs:
        raise SimulationError(f"min_laps_led set for driver(s) marked out of the race: {', '.join(outs)}")

    ids = [d.driver_id for d in drivers] + [f"field-car-{k + 1}" for k in range(fillers)]
    names = [d.name or d.driver_id for d in drivers] + [f"Field car {k + 1}" for k in range(fillers)]
    skill = np.array([d.skill for d in drivers] + [model.newcomer_skill] * fillers, dtype=np.float32)
    aggression = np.array([d.aggression for d in drivers] + [0.5] * fillers, dtype=np.float32)
    shadow = np.array([d.shadow_risk for d in drivers] + [model.league_dnf_rate] * fillers, dtype=np.float32)
    pit = [PitStrategy(d.pit_strategy).value for d in drivers] + ["STANDARD"] * fillers
    shift = np.array([model.pit[p][0] for p in pit], dtype=np.float32)
    scale = np.array([model.pit[p][1] for p in pit], dtype=np.float32)
    out_all = np.array(out + [False] * fillers)
    racing = np.flatnonzero(~out_all)
    grid, estimated_idx = estimate_starts([starts[i] if i < len(drivers) else None for i in racing], skill[racing].tolist(),
                                          [ids[i] for i in racing], max(field_size, len(racing)))
    start = np.zeros(len(ids), dtype=np.int16)
    start[racing] = grid
    estimated = [ids[racing[i]] for i in estimated_idx if racing[i] < len(drivers)]
    pinned = np.array([s is not None for s in starts] + [False] * fillers)
    from engine.features import rank_feature

    practice = rank_feature([None if o else d.practice_rank for d, o in zip(drivers, out)] + [None] * fillers).astype(np.float32)
    qualifying = rank_feature([None if o else d.qualifying_rank for d, o in zip(drivers, out)] + [None] * fillers).astype(np.float32)
    mins += [0] * fillers
    maxs += [-1] * fillers
    return SimInputs(
        driver_ids=tuple(ids), names=tuple(names), start=start, skill=skill,
        aggression=aggression, shadow=shadow, pit_shift=shift, pit_scale=scale,
        min_led=np.array(mins, dtype=np.int32), max_led=np.array(maxs, dtype=np.int32),
        race_length=int(race_length), track_type=track_type, params=params, model=model,
        estimated_starts=tuple(estimated), fillers=fillers, field=field_size,
        out=out_all if out_all.any() else None, pinned=pinned,
        practice=practice if practice.any() else None, qualifying=qualifying if qualifying.any() else None,
    )


def pace_feature(skill):
    """The skill term of the pace utility: logit(skill), skill clipped to [0.02, 0.98].

    skill is an expected finishing percentile; its logit spreads the strongest and weakest
    drivers apart the way a Plackett-Luce strength does (a percentile cannot exceed 1)."""
    s = np.clip(np.asarray(skill, dtype=np.float64), 0.02, 0.98)
    return np.log(s / (1.0 - s))


def estimate_starts(starts: list[int | None], skill: list[float], ids: list[str], field_size: int) -> tuple[list[int], list[int]]:
    """Fill missing grid positions with the free slots in order of skill (best first, ties
    by id); returns the full grid and the indices that were estimated."""
    given = {s for s in starts if s is not None}
    free = sorted(set(range(1, field_size + 1)) - given)
    missing = sorted((i for i, s in enumerate(starts) if s is None), key=lambda i: (-float(skill[i]), ids[i]))
    grid = list(starts)
    for i, pos in zip(missing, free):
        grid[i] = pos
    return [int(g) for g in grid], sorted(missing)


def check_laps_led_bounds(names: list[str], mins: list[int], maxs: list[int], race_length: int) -> None:
    """Refuse laps-led bounds that cannot hold together, naming the drivers (maxs: -1 = none)."""
    too_high = [(n, m) for n, m in zip(names, mins) if m > race_length]
    if too_high:
        raise SimulationError(
            f"min_laps_led above the race length ({race_length} laps): " + ", ".join(f"{n} ({m})" for n, m in too_high)
        )
    if sum(mins) > race_length:
        listing = " + ".join(f"{n} {m}" for n, m in zip(names, mins) if m > 0)
        raise SimulationError(f"minimum laps led add up to {sum(mins)} ({listing}), more than the {race_length} race laps")
    bad = [n for n, lo, hi in zip(names, mins, maxs) if hi >= 0 and lo > hi]
    if bad:
        raise SimulationError("min_laps_led above max_laps_led: " + ", ".join(bad))


# ----------------------------------------------------------------------------- randomness
def stint_slots(lam: float) -> int:
    """Stint slots drawn per scenario: 1 + the Poisson(lam) quantile at 1 - 1e-9 (the count is capped there)."""
    k, cdf, pk = 0, math.exp(-lam), math.exp(-lam)
    while cdf < 1 - 1e-9 and k < MAX_STINTS - 1:
        k += 1
        pk *= lam / k
        cdf += pk
    return k + 1


def _draw_layout(d: int, k: int, qualifying: bool = False) -> list[tuple[str, tuple[int, ...], type, str]]:
    """The randomness of one scenario: (name, shape, dtype, kind), drawn in this order (the
    qualifying draw last, so slates without non-qualifiers keep their scenarios)."""
    f32, f64 = np.float32, np.float64
    qual = [("qual", (d,), f32, "u")] if qualifying else []
    return [
        ("gumbel", (d,), f32, "u"), ("dnf", (d,), f32, "u"), ("laps", (), f64, "u"), ("green", (), f64, "u"),
        ("inc_count", (), f64, "u"), ("inc_size", (MAX_INCIDENTS,), f64, "u"), ("inc_lap", (MAX_INCIDENTS,), f64, "u"),
        ("inc_center", (MAX_INCIDENTS,), f64, "u"), ("inc_hit", (d,), f32, "u"), ("down", (d,), f32, "u"),
        ("stints", (), f64, "u"), ("stint_len", (k,), f32, "u"), ("rank", (k,), f32, "u"), ("phase", (k,), f32, "u"),
        ("fast_eps", (d,), f32, "n"), ("fast_u", (), f64, "u"),
    ] + qual


def _chunk_draws(gens: list[np.random.Generator], sizes: list[int], d: int, k: int, qualifying: bool = False) -> dict[str, np.ndarray]:
    """All the randomness of a chunk: each block's generator fills its rows of every array,
    in a fixed order and fixed shapes, so a block's draws do not depend on the chunking."""
    n = sum(sizes)
    layout = _draw_layout(d, k, qualifying)
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


def _inverse_cdf(u: np.ndarray, probs: tuple[float, ...]) -> np.ndarray:
    """Index k with P(X <= k - 1) <= u < P(X <= k) for a discrete distribution on 0..len-1."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0 + 1e-9
    return np.searchsorted(cdf, u, side="right")


def _quantile(u: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """Inverse of an empirical distribution stored as equally spaced quantiles (piecewise linear)."""
    grid = np.linspace(0.0, 1.0, len(q))
    return np.interp(u, grid, np.asarray(q))


def _poisson_icdf(u: np.ndarray, lam: float, kmax: int) -> np.ndarray:
    k = np.arange(kmax + 1)
    logp = k * math.log(max(lam, 1e-12)) - lam - np.array([math.lgamma(x + 1) for x in k])
    return np.minimum(_inverse_cdf(u, tuple(np.exp(logp) / np.exp(logp).sum())), kmax)


# ----------------------------------------------------------------------------- core
def allocate_laps_led(
    laps_run: np.ndarray, n_stints: np.ndarray, u_len: np.ndarray, u_rank: np.ndarray, u_phase: np.ndarray,
    pace_order: np.ndarray, start_order: np.ndarray, laps_completed: np.ndarray, lead_p: float, lead_kappa: float,
    return_leaders: bool = False,
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
    use_pace = u_phase < frac
    r = np.floor(np.log(np.maximum(u_rank, f32(1e-12))) * f32(1.0 / math.log(1.0 - lead_p)))
    np.minimum(r, f32(d - 1), out=r)
    use_pace |= last
    r[last] = 0
    weight = np.log(np.maximum(u_len, f32(1e-12)))  # minus a standard exponential; the sign cancels below
    if lead_kappa:
        weight *= np.exp(f32(-lead_kappa) * r)
    weight[~used] = 0
    cum = np.cumsum(weight, axis=1)
    cum /= cum[:, -1:]
    ends = (cum * L[:, None]).astype(np.int32)
    np.minimum(ends, (L - 1)[:, None], out=ends)
    tail = ~used | last
    ends[tail] = np.broadcast_to(L[:, None], ends.shape)[tail]
    np.maximum.accumulate(ends, axis=1, out=ends)
    lengths = np.diff(ends, axis=1, prepend=np.int32(0))
    # leaders only for the stints that hold laps (flat arrays from here on)
    nz = np.flatnonzero(lengths.ravel() > 0)
    row = (nz // kmax).astype(np.int64)
    ri = r.ravel()[nz].astype(np.int64)
    up = use_pace.ravel()[nz]
    stint_end = ends.ravel()[nz]
    start_order = np.asarray(start_order)
    per_row_start = start_order.ndim == 2

    def pick(rows, ranks, pace):
        from_start = start_order[rows, ranks] if per_row_start else start_order[ranks]
        return np.where(pace, pace_order.ravel()[rows * d + ranks], from_start)

    leader = pick(row, ri, up)
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


DRIVER_DRAWS = ("gumbel", "dnf", "inc_hit")  # follow the driver
POSITION_DRAWS = ("down", "fast_eps")  # by finishing position
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


def qualifiers(inp: SimInputs, u: np.ndarray) -> np.ndarray:
    """The columns that start each race (scenarios x field, ascending) when more drivers can
    race than the field holds. Stated rule: qualifying pace is a Plackett-Luce draw on the
    track type's skill term, b_skill * logit(skill) + Gumbel noise (``u`` uniform), and the
    ``field`` fastest start: the weakest by skill are likeliest to miss. Drivers with a known
    grid position always start; drivers out never do."""
    key = (inp.params.b_skill * pace_feature(inp.skill)).astype(np.float32) - np.log(-np.log(
        np.clip(u, np.float32(1e-12), np.float32(1 - 1e-7))))
    if inp.pinned is not None:
        key[:, inp.pinned] = np.inf
    key[:, ~inp.racing] = -np.inf
    f = inp.n_field
    return np.sort(np.argpartition(-key, f - 1, axis=1)[:, :f], axis=1)


def _simulate_chunk(inp: SimInputs, dr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One chunk of scenarios from its draws: every column races, or the field's cars are
    chosen (drivers out, non-qualifiers drawn by ``qualifiers``), raced, and written back,
    with zeros for the drivers not in the race and ``qualified`` / ``start`` per scenario."""
    if inp.every_column_races:
        return _race(_field(inp, slice(None), inp.start), dr)
    n, d = dr["gumbel"].shape
    f = inp.n_field
    rows = np.arange(n)[:, None]
    if inp.qualifying_draws:
        idx = qualifiers(inp, dr["qual"])
        grid = inp.start[idx]
        start = np.empty_like(grid)
        start[rows, np.argsort(grid, axis=1, kind="stable")] = np.arange(1, f + 1, dtype=grid.dtype)
        sub = {k: (np.take_along_axis(v, idx, axis=1) if k in DRIVER_DRAWS else v[:, :f] if k in POSITION_DRAWS else v)
               for k, v in dr.items() if k != "qual"}
        res = _race(_field(inp, idx, start), sub)
    else:
        cols = np.flatnonzero(inp.racing)
        sub = {k: (v[:, cols] if k in DRIVER_DRAWS else v[:, :f] if k in POSITION_DRAWS else v) for k, v in dr.items()}
        res = _race(_field(inp, cols, inp.start[cols]), sub)
        idx = np.broadcast_to(cols, (n, f))
        start = np.broadcast_to(inp.start[cols], (n, f))
    for k, empty in DRIVER_OUTPUTS.items():
        full = np.full((n, d), empty, dtype=res[k].dtype)
        full[rows, idx] = res[k]
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
    n, d = dr["gumbel"].shape
    rows = np.arange(n)[:, None]
    BIG = np.int32(2**30)

    # skeleton: laps run, green-flag laps
    delta = np.asarray(p.laps_delta_values)[_inverse_cdf(dr["laps"], p.laps_delta_p)]
    laps_run = np.maximum(inp.race_length + delta, 1).astype(np.int32)
    green = np.minimum(np.rint(_quantile(dr["green"], p.green_frac_q) * laps_run), laps_run).astype(np.int32)
    L = laps_run[:, None]

    # pace and the running order
    start_pct = 1.0 - (inp.start.astype(np.float32) - 1.0) / max(d - 1, 1)
    util = p.b_skill * pace_feature(inp.skill) + p.b_start * start_pct + inp.pit_shift
    if inp.practice is not None and p.b_prac:
        util = util + p.b_prac * inp.practice
    if inp.qualifying is not None and p.b_qual:
        util = util + p.b_qual * inp.qualifying
    util = util.astype(np.float32)
    scale = (np.exp(inp.model.aggression_spread * (inp.aggression - 0.5)) * inp.pit_scale).astype(np.float32)
    pace = -np.log(-np.log(np.clip(dr["gumbel"], np.float32(1e-12), np.float32(1 - 1e-7))))
    pace *= scale
    pace += util
    pace_order = np.argsort(-pace, axis=1).astype(np.int32)
    pace_rank = np.empty((n, d), np.int16)
    pace_rank[rows, pace_order] = np.arange(d, dtype=np.int16)

    # own DNFs; given a DNF, u / p_own is uniform: it picks accident or not, then the lap
    p_own = (1.0 - np.power(1.0 - np.clip(inp.shadow, 0.0, 1.0), p.own_dnf_ratio)).astype(np.float32)
    own_s, own_d = np.nonzero(dr["dnf"] < p_own)
    v = dr["dnf"][own_s, own_d] / np.broadcast_to(p_own, (n, d))[own_s, own_d]
    sh = p.own_accident_share
    is_acc = v < sh
    lap_u = np.where(is_acc, v / max(sh, 1e-9), (v - sh) / max(1.0 - sh, 1e-9))
    out_lap = np.full((n, d), BIG, np.int32)
    out_lap[own_s, own_d] = np.floor(_quantile(lap_u, p.own_dnf_lap_q) * laps_run[own_s]).astype(np.int32)
    accident = np.zeros((n, d), bool)
    accident[own_s[is_acc], own_d[is_acc]] = True

    # multi-car incidents, near each other in the running order of the moment
    n_inc = np.minimum(_inverse_cdf(dr["inc_count"], p.incident_count_p), MAX_INCIDENTS)
    sizes = 2 + _inverse_cdf(dr["inc_size"], p.incident_size_p)
    inc_frac = _quantile(dr["inc_lap"], p.incident_lap_q)
    start_rank = np.broadcast_to(inp.start.astype(np.float32) - 1.0, (n, d))
    reach = np.broadcast_to(np.float32(0.5) + inp.aggression, (n, d))
    involved_in = np.zeros((n, d), np.int8)
    inc_laps = np.full((n, MAX_INCIDENTS), -1, np.int32)
    inc_sizes = np.zeros((n, MAX_INCIDENTS), np.int16)
    for m in range(int(n_inc.max(initial=0))):
        act = np.flatnonzero(n_inc > m)
        f = inc_frac[act, m][:, None].astype(np.float32)
        lap = np.floor(inc_frac[act, m] * laps_run[act]).astype(np.int32)
        pos = (np.float32(1.0) - f) * start_rank[act] + f * pace_rank[act]
        center = (dr["inc_center"][act, m][:, None] * (d - 1)).astype(np.float32)
        jitter = dr["inc_hit"][act] + np.float32((0.6180339887 * (m + 1)) % 1.0)  # a fresh uniform per incident
        jitter -= jitter >= 1.0
        # the `size` cars still running nearest the centre (aggressive cars reach further)
        key = np.abs(pos - center) / reach[act] + np.float32(2.0) * jitter
        key[out_lap[act] <= lap[:, None]] = np.inf
        size = np.minimum(sizes[act, m], d)
        thr = np.take_along_axis(np.sort(key, axis=1), (size - 1)[:, None], axis=1)
        hit = (key <= thr) & np.isfinite(key)
        hs, hd = np.nonzero(hit)
        out_lap[act[hs], hd] = lap[hs]
        involved_in[act[hs], hd] = m + 1
        inc_laps[act, m] = lap
        inc_sizes[act, m] = hit.sum(axis=1)
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

    # classification: running cars by pace, then DNFs by laps completed
    seq_dnf = np.take_along_axis(dnf, pace_order, axis=1)
    key = np.arange(d, dtype=np.int32)[None, :].repeat(n, axis=0)
    ds, dk_ = np.nonzero(seq_dnf)
    if ds.size:
        out_seq = out_lap[ds, pace_order[ds, dk_]]
        key[ds, dk_] += d + (laps_run[ds] - np.minimum(out_seq, laps_run[ds])) * d
    order = np.take_along_axis(pace_order, np.argsort(key, axis=1, kind="stable"), axis=1)
    seq_running = ~np.take_along_axis(dnf, order, axis=1)

    # laps completed in finishing order: laps down of running cars per finishing decile
    # (lead-lap share, geometric laps down), monotone along the order; DNFs at their lap
    decile = np.minimum((np.arange(d) * 10) // d, 9)
    share = np.asarray(p.lead_lap_share, np.float32)[decile][None, :]
    log_keep = np.log(np.clip(1.0 - 1.0 / np.maximum(np.asarray(p.laps_down_mean, np.float32)[decile], 1.0001), 1e-6, 1 - 1e-6))[None, :]
    u = dr["down"]
    q = np.clip((u - share) / np.maximum(1.0 - share, 1e-6), 1e-7, 1.0)
    down = np.where(u >= share, 1 + np.floor(np.log(q) / log_keep), 0).astype(np.int32)
    down[:, 0] = 0
    down[~seq_running] = 0
    np.maximum.accumulate(down, axis=1, out=down)
    np.minimum(down, L - 1, out=down)
    seq_laps = L - down
    out_s, out_k = np.nonzero(~seq_running)
    seq_laps[out_s, out_k] = np.minimum(out_lap[out_s, order[out_s, out_k]], laps_run[out_s])

    # laps led from leader stints (driver columns)
    laps_done = np.empty((n, d), np.int32)
    laps_done[rows, order] = seq_laps
    slots = dr["rank"].shape[1]
    n_stints = 1 + _poisson_icdf(dr["stints"], p.lead_lambda, slots - 1)
    laps_led, _ = allocate_laps_led(laps_run, n_stints, dr["stint_len"], dr["rank"], dr["phase"], order,
                                    np.argsort(inp.start, axis=-1), laps_done, p.lead_p, p.lead_kappa)
    seq_led = np.take_along_axis(laps_led, order, axis=1)

    # fastest laps: exact allocation of the green-flag laps (finishing order)
    fin_pct = (1.0 - np.arange(d, dtype=np.float32) / max(d - 1, 1))[None, :]
    seq_fl = allocate_fastest_laps(green, laps_run, seq_laps, fin_pct, seq_led, dr["fast_eps"], dr["fast_u"],
                                   p.fast_phi, p.fast_psi, p.fast_sigma)

    seq_start = inp.start[order] if inp.start.ndim == 1 else np.take_along_axis(inp.start, order, axis=1)
    position = np.arange(1, d + 1, dtype=np.int16)[None, :]
    seq_dk = score("dk", seq_start, position, seq_led, seq_fl, seq_laps)
    seq_fd = score("fd", seq_start, position, seq_led, seq_fl, seq_laps)

    def to_drivers(seq: np.ndarray, dtype) -> np.ndarray:
        out = np.empty((n, d), dtype)
        out[rows, order] = seq
        return out

    finish = np.empty((n, d), np.int16)
    finish[rows, order] = position
    return {
        "finish": finish,
        "running": ~dnf,
        "laps_completed": laps_done.astype(np.int16),
        "laps_led": laps_led.astype(np.int16),
        "fastest_laps": to_drivers(seq_fl, np.int16),
        "dk": to_drivers(seq_dk, np.float32),
        "fd": to_drivers(seq_fd, np.float32),
        "incident": involved_in,
        "laps_run": laps_run,
        "green_laps": green,
        "cautions": (p.stage_cautions + (inc_sizes > 0).sum(axis=1) + accident.sum(axis=1)).astype(np.int16),
        "n_incidents": (inc_sizes > 0).sum(axis=1).astype(np.int16),
        "incident_lap": inc_laps,
        "incident_size": inc_sizes,
        "n_stints": n_stints.astype(np.int16),
    }


# ----------------------------------------------------------------------------- results
@dataclass
class ScenarioSet:
    """Simulated races: arrays (scenarios x drivers) plus the skeleton per scenario."""

    inputs: SimInputs
    seed: int
    arrays: dict[str, np.ndarray]
    valid: np.ndarray
    rejections: dict[str, int]

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def n(self) -> int:
        return int(self.valid.size)

    @property
    def n_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def driver_ids(self) -> tuple[str, ...]:
        return self.inputs.driver_ids

    @property
    def start(self) -> np.ndarray:
        """The slate's grid (drivers): known or estimated positions, 0 for drivers out."""
        return self.inputs.start

    @property
    def grid(self) -> np.ndarray:
        """Starting position in each scenario (scenarios x drivers), 0 when not in the race."""
        if "start" in self.arrays:
            return self.arrays["start"]
        return np.broadcast_to(self.inputs.start, self.arrays["finish"].shape)

    @property
    def qualified(self) -> np.ndarray:
        """Whether each driver started each scenario (non-qualifiers and drivers out did not)."""
        if "qualified" in self.arrays:
            return self.arrays["qualified"]
        return np.ones(self.arrays["finish"].shape, bool)

    @property
    def warning(self) -> str | None:
        """Plain statement when the constraints leave too few scenarios to trust."""
        if self.n_valid == 0:
            return f"no scenario of {self.n} satisfies the laps-led bounds: loosen them"
        if self.n_valid < 0.01 * self.n:
            return (
                f"only {self.n_valid} of {self.n} scenarios ({self.n_valid / self.n:.2%}) satisfy the laps-led bounds: "
                "statistics from so few races are not reliable; loosen the bounds or simulate more"
            )
        return None

    def points(self, site: str) -> np.ndarray:
        """Fantasy points of the valid scenarios (n_valid x drivers); 0 in races a driver missed."""
        return self.arrays["dk" if str(getattr(site, "value", site)) == "dk" else "fd"][self.valid]

    def diagnostics(self, drivers: list[int] | None = None) -> ScenarioDiagnostics:
        """ScenarioDiagnostics from the generated scenarios, over the drivers who started.

        avg_laps_led: mean laps led per starting driver over valid scenarios (of ``drivers``
        when given, e.g. a lineup); avg_position_differential: for the whole field the mean
        absolute start - finish (the signed mean is 0 by construction), for ``drivers`` the
        signed mean of start - finish (the place differential they gain).
        """
        v = self.valid
        nv = int(v.sum())
        led = diff = 0.0
        if nv:
            cols = slice(None) if drivers is None else drivers
            q = self.qualified[v][:, cols]
            if q.any():
                led = float(self.laps_led[v][:, cols][q].mean())
                d = (self.grid[v][:, cols].astype(np.float64) - self.finish[v][:, cols])[q]
                diff = float(np.abs(d).mean()) if drivers is None else float(d.mean())
        return ScenarioDiagnostics(
            n_scenarios_generated=self.n,
            n_valid=nv,
            rejection_rate=float(1.0 - nv / self.n),
            avg_laps_led=led,
            avg_position_differential=diff,
        )

    def summary(self) -> pd.DataFrame:
        """Per-driver summary over valid scenarios: DK points (mean, median, p10, p90; 0 in a
        race the driver missed), win / top-5 / top-10 / DNF / DNQ (did not start) rates,
        mean finishing position in the races started, mean laps led and fastest laps."""
        v = self.valid
        if not v.any():
            return pd.DataFrame({"driver_id": self.driver_ids, "name": self.inputs.names, "start": self.start})
        fin, dk, q = self.finish[v], self.dk[v], self.qualified[v]
        started = q.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            finish_mean = np.where(started > 0, (fin * q).sum(axis=0) / np.maximum(started, 1), np.nan)
        return pd.DataFrame(
            {
                "driver_id": self.driver_ids,
                "name": self.inputs.names,
                "start": self.start,
                "dk_mean": dk.mean(axis=0),
                "dk_median": np.median(dk, axis=0),
                "dk_p10": np.percentile(dk, 10, axis=0),
                "dk_p90": np.percentile(dk, 90, axis=0),
                "fd_mean": self.fd[v].mean(axis=0),
                "finish_mean": finish_mean,
                "win": (q & (fin == 1)).mean(axis=0),
                "top5": (q & (fin <= 5)).mean(axis=0),
                "top10": (q & (fin <= 10)).mean(axis=0),
                "dnf": (q & ~self.running[v]).mean(axis=0),
                "dnq": 1.0 - q.mean(axis=0),
                "laps_led": self.laps_led[v].mean(axis=0),
                "fastest_laps": self.fastest_laps[v].mean(axis=0),
            }
        )

    def skeleton(self) -> pd.DataFrame:
        """One row per scenario: laps run, green-flag laps, cautions, incidents, stints, leaders, valid."""
        return pd.DataFrame(
            {
                "scenario": np.arange(self.n),
                "laps_run": self.laps_run,
                "green_laps": self.green_laps,
                "cautions": self.cautions,
                "incidents": self.n_incidents,
                "stints": self.n_stints,
                "leaders": (self.laps_led > 0).sum(axis=1),
                "dnf": (self.qualified & ~self.running).sum(axis=1),
                "valid": self.valid,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (scenario, driver)."""
        n, d = self.finish.shape
        return pd.DataFrame(
            {
                "scenario": np.repeat(np.arange(n, dtype=np.int32), d),
                "driver_id": pd.Categorical.from_codes(np.tile(np.arange(d), n), categories=list(self.driver_ids)),
                "finish": self.finish.ravel(),
                "start": self.grid.ravel(),
                "status": pd.Categorical.from_codes(np.where(self.qualified, (~self.running).astype(np.int8), 2).ravel(),
                                                    categories=["running", "dnf", "dnq"]),
                "laps_completed": self.laps_completed.ravel(),
                "laps_led": self.laps_led.ravel(),
                "fastest_laps": self.fastest_laps.ravel(),
                "dk_points": self.dk.ravel(),
                "fd_points": self.fd.ravel(),
                "valid": np.repeat(self.valid, d),
            }
        )


def validate(inp: SimInputs, a: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
    """Check every scenario against the scenario constraints; returns (valid mask, rejection counts).

    Checked: finishing positions are a permutation; laps led sum to the laps run (conservation
    of laps); fastest laps sum to the green-flag laps, never above the laps run or a driver's
    laps completed; per-driver laps-led bounds. Only the bounds can reject a scenario the
    model generated; the other checks guard the generator itself.
    """
    n, d = a["finish"].shape
    f = inp.n_field if "qualified" in a else d
    expect = np.concatenate([np.zeros(d - f, dtype=np.int64), np.arange(1, f + 1)])  # 0: not in the race
    perm = np.sort(a["finish"], axis=1) == expect[None, :]
    ok_perm = perm.all(axis=1)
    ok_laps = a["laps_led"].sum(axis=1, dtype=np.int64) == a["laps_run"]
    fl = a["fastest_laps"]
    ok_fast = (fl.sum(axis=1, dtype=np.int64) == a["green_laps"]) & (a["green_laps"] <= a["laps_run"]) & (fl <= a["laps_completed"]).all(axis=1) & (fl >= 0).all(axis=1)
    led = a["laps_led"]
    ok_min = (led >= inp.min_led[None, :]).all(axis=1)
    ok_max = ((inp.max_led[None, :] < 0) | (led <= inp.max_led[None, :])).all(axis=1)
    valid = ok_perm & ok_laps & ok_fast & ok_min & ok_max
    return valid, {
        "permutation": int((~ok_perm).sum()),
        "laps_conservation": int((~ok_laps).sum()),
        "fastest_laps": int((~ok_fast).sum()),
        "min_laps_led": int((~ok_min).sum()),
        "max_laps_led": int((~ok_max).sum()),
    }


def block_plan(n_scenarios: int, chunk_size: int = 5_000) -> list[list[int]]:
    """The blocks of BLOCK scenarios a run of ``n_scenarios`` draws from, grouped in chunks of
    about ``chunk_size`` scenarios (whole blocks): the unit of work of one thread or one task."""
    if n_scenarios <= 0:
        raise SimulationError(f"n_scenarios must be positive (got {n_scenarios})")
    n_blocks = -(-n_scenarios // BLOCK)
    per_chunk = max(1, -(-int(chunk_size) // BLOCK))
    return [list(range(i, min(i + per_chunk, n_blocks))) for i in range(0, n_blocks, per_chunk)]


def simulate_blocks(inputs: SimInputs, n_scenarios: int, seed: int, blocks: list[int]) -> dict[str, np.ndarray]:
    """The scenarios of consecutive ``blocks`` of a run (seed, n_scenarios): each block's
    generator is SeedSequence(seed).spawn(number of blocks)[block], so a block's scenarios are
    the same whichever thread, process or machine draws them."""
    n_blocks = -(-n_scenarios // BLOCK)
    seqs = np.random.SeedSequence(int(seed)).spawn(n_blocks)
    sizes = [min(BLOCK, n_scenarios - b * BLOCK) for b in blocks]
    gens = [np.random.default_rng(seqs[b]) for b in blocks]
    return _simulate_chunk(inputs, _chunk_draws(gens, sizes, inputs.n_drivers, stint_slots(inputs.params.lead_lambda),
                                                inputs.qualifying_draws))


def assemble(inputs: SimInputs, n_scenarios: int, seed: int, parts: list[tuple[int, dict[str, np.ndarray]]]) -> ScenarioSet:
    """A ScenarioSet from the simulated blocks (first block, arrays) of a run, in any order."""
    out: dict[str, np.ndarray] | None = None
    for first, res in parts:
        if out is None:
            out = {k: np.empty((n_scenarios,) + v.shape[1:], v.dtype) for k, v in res.items()}
        lo = first * BLOCK
        m = next(iter(res.values())).shape[0]
        for k, v in res.items():
            out[k][lo : lo + m] = v
    assert out is not None
    valid, rejections = validate(inputs, out)
    return ScenarioSet(inputs=inputs, seed=int(seed), arrays=out, valid=valid, rejections=rejections)


def simulate(
    inputs: SimInputs,
    n_scenarios: int,
    seed: int,
    *,
    chunk_size: int = 5_000,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
) -> ScenarioSet:
    """Simulate ``n_scenarios`` races of ``inputs`` (see the module docstring).

    Randomness comes per block of BLOCK scenarios from SeedSequence(seed).spawn, so results
    do not depend on ``chunk_size`` (rounded up to whole blocks), ``workers``, or on the blocks
    being drawn by Dask tasks (``simulate_blocks`` and ``assemble``). ``progress`` gets the
    fraction done after each chunk; ``cancel`` (a callable or an Event) is checked between
    chunks and raises Cancelled.
    """
    chunks = block_plan(n_scenarios, chunk_size)
    is_cancelled = cancel.is_set if isinstance(cancel, threading.Event) else (cancel or (lambda: False))
    parts: list[tuple[int, dict[str, np.ndarray]]] = []
    done = 0
    lock = threading.Lock()

    def run(blocks: list[int]) -> tuple[int, dict[str, np.ndarray]]:
        if is_cancelled():
            raise Cancelled("cancelled")
        return blocks[0], simulate_blocks(inputs, n_scenarios, seed, blocks)

    def keep(part: tuple[int, dict[str, np.ndarray]]) -> None:
        nonlocal done
        parts.append(part)
        with lock:
            done += next(iter(part[1].values())).shape[0]
        if progress is not None:
            progress(done / n_scenarios)

    if workers <= 1:
        for blocks in chunks:
            keep(run(blocks))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run, blocks) for blocks in chunks]
            try:
                for f in futures:
                    keep(f.result())
            except Cancelled:
                for f in futures:
                    f.cancel()
                raise
    return assemble(inputs, n_scenarios, seed, parts)
