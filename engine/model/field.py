"""The field of a simulated race: the slate's drivers as simulator inputs, and who starts each race.

* pace: utility u_i = b_skill * logit(skill_i) + b_start * start_pct_i + pit_shift_i with
  start_pct = 1 - (start - 1) / (F - 1) (engine.model.race draws the order from it);
* a pool larger than the field: the non-qualifiers of each simulated race are drawn by
  qualifying pace (``qualifiers``); drivers marked ``out`` never race."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.contracts import PitStrategy, ScenarioConfig, Slate
from engine.data.grid import (
    SimulationError,
    check_laps_led_bounds,
    estimate_starts,
    field_of,
)
from engine.model.params import ModelParams, TypeParams, load_params


@dataclass(frozen=True)
class SimInputs:
    """Per-driver arrays of one slate, ready to simulate.

    Columns are the slate's drivers, then ``fillers`` anonymous field cars. ``field`` cars
    start each simulated race: when more drivers can race than that (a salary pool before
    qualifying), the non-qualifiers of each race are drawn (``qualifying_draws``); drivers
    marked ``out`` never race. ``start`` is the grid of the drivers who can race (0 for those
    out); in a race with non-qualifiers the starters keep that order, renumbered 1..field.

    With a qualifying model (``grid_util``, a model fitted with one) and a grid that is not
    known for every car, each simulated race draws its own: the order of grid_util + Z, Z
    standard normal, fills the grid slots no known start takes, and, in a pool larger than the
    field, its slowest miss the race; ``start`` is then the expected order (for display and
    the lineup rules), and place differential varies with the grid as the finish does."""

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
    grid_util: np.ndarray | None = None  # the qualifying model's utility of each car, when the grid is drawn per race

    @property
    def grid_draw(self) -> bool:
        """Each simulated race draws its grid (a qualifying model, and cars without a known start)."""
        return self.grid_util is not None

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
        return self.n_field == self.n_drivers and not self.qualifying_draws and not self.grid_draw


def prepare(slate: Slate, config: ScenarioConfig | None = None, model: ModelParams | None = None,
            laps_led_bounds: dict[str, tuple[int, int | None]] | None = None, tracks: pd.DataFrame | None = None,
            spec=None) -> SimInputs:
    """Check a slate and a scenario config and turn them into simulator inputs.

    Refuses, before simulating: fewer than 2 cars, an unknown track, no race length, and
    laps-led bounds that cannot hold together (minimums summing above the race length, or a
    driver's minimum above it), naming the drivers. Missing starting positions are filled
    with the free grid slots in order of skill, and listed in ``estimated_starts``.
    ``laps_led_bounds`` (driver_id -> (min, max)) overrides the slate's own bounds. A
    ``spec`` (engine.dfs.constraints.ConstraintSpec) supplies the scenario constraints: its
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
    model = model or load_params(series=slate.series.value)
    if model.series != slate.series.value:
        raise SimulationError(f"the slate is a {slate.series.value} race and the model is the {model.series} series' "
                              f"(fit one with `pitwall fit --series {slate.series.value}`)")
    track_type = slate.track_type
    if config is not None and config.track_id and (track_type is None or config.track_id != slate.track_id):
        if tracks is None:
            from engine.data.history import load_tracks

            tracks = load_tracks(series=slate.series.value)
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
    pinned = np.array([s is not None for s in starts] + [False] * fillers)
    from engine.data.features import rank_feature

    practice = rank_feature([None if o else d.practice_rank for d, o in zip(drivers, out)] + [None] * fillers).astype(np.float32)
    grid_util = None
    order_by = skill
    if params.q_skill is not None and not pinned[racing].all():  # a qualifying model, and cars without a known start
        grid_util = (params.q_skill * pace_feature(skill) + params.q_prac * practice).astype(np.float32)
        order_by = grid_util
    grid, estimated_idx = estimate_starts([starts[i] if i < len(drivers) else None for i in racing], order_by[racing].tolist(),
                                          [ids[i] for i in racing], max(field_size, len(racing)))
    start = np.zeros(len(ids), dtype=np.int16)
    start[racing] = grid
    estimated = [ids[racing[i]] for i in estimated_idx if racing[i] < len(drivers)]
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
        practice=practice if practice.any() else None, qualifying=qualifying if qualifying.any() else None, grid_util=grid_util,
    )


def pace_feature(skill):
    """The skill term of the pace utility: logit(skill), skill clipped to [0.02, 0.98].

    skill is an expected finishing percentile; its logit spreads the strongest and weakest
    drivers apart the way a Plackett-Luce strength does (a percentile cannot exceed 1)."""
    s = np.clip(np.asarray(skill, dtype=np.float64), 0.02, 0.98)
    return np.log(s / (1.0 - s))


def drawn_grid(inp: SimInputs, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The starters of each simulated race and their grid, from the qualifying model: (columns
    that start, scenarios x field, ascending; their starting positions). ``z``: a standard normal
    per car and race. The order of grid_util + z fills the slots no known start takes (cars with
    a known start keep it); in a pool larger than the field the slowest miss the race."""
    n = z.shape[0]
    f = inp.n_field
    key = inp.grid_util[None, :] + z
    pinned = inp.pinned if inp.pinned is not None else np.zeros(inp.n_drivers, bool)
    key[:, pinned] = np.inf
    key[:, ~inp.racing] = -np.inf
    idx = np.sort(np.argpartition(-key, f - 1, axis=1)[:, :f], axis=1) if f < inp.n_drivers else np.broadcast_to(
        np.arange(inp.n_drivers), (n, f)).copy()
    rows = np.arange(n)[:, None]
    known = pinned[idx]
    start = np.where(known, inp.start[idx], 0).astype(np.int16)
    taken = np.zeros(f + 1, bool)
    taken[inp.start[pinned & inp.racing]] = True
    free = np.flatnonzero(~taken[1:]) + 1  # grid slots no known start takes, best first
    kk = np.where(known, -np.inf, np.take_along_axis(key, idx, axis=1))
    order = np.argsort(-kk, axis=1, kind="stable")[:, : f - int(known[0].sum())]
    start[rows, order] = free[None, : order.shape[1]].astype(np.int16)
    return idx, start


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
