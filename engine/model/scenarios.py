"""Race simulator: N simulated races ("scenarios") of a slate, each a race skeleton plus driver
outcomes, vectorized over scenarios and drivers.

Skeleton of a scenario: laps run (scheduled laps plus the track type's overtime or
shortening), green-flag laps, multi-car incidents (lap, size, who), leader stints and the
number of cautions. Outcomes per driver: finishing position, status and laps completed,
laps led, fastest laps, place differential, DraftKings and FanDuel points. The model:
engine.model.field (who races, pace), engine.model.race (order, DNFs, incidents),
engine.model.leaders (laps led, fastest laps), with parameters per track type fitted by
engine.model.fit from real races (engine.model.params).

Reproducible: randomness is drawn per block of BLOCK scenarios from
``SeedSequence(seed).spawn``; chunks are groups of blocks, so the same seed gives the same
scenarios whatever the chunk size or the number of workers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from engine.core.contracts import ScenarioDiagnostics
from engine.data.grid import SimulationError
from engine.model.draws import chunk_draws, stint_slots
from engine.model.field import SimInputs
from engine.model.kernels import permutations_ok, rows_ok
from engine.model.race import simulate_chunk

BLOCK = 1000


class Cancelled(RuntimeError):
    """The run was cancelled between chunks."""


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
    ok_perm = permutations_ok(a["finish"], f)  # 1..field once each, 0: not in the race
    ok_laps, ok_fast, ok_min, ok_max = rows_ok(a["laps_led"], a["laps_run"], a["fastest_laps"], a["green_laps"],
                                               a["laps_completed"], inp.min_led, inp.max_led)
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
    return simulate_chunk(inputs, chunk_draws(gens, sizes, inputs.n_drivers, stint_slots(inputs.params.lead_lambda),
                                                inputs.qualifying_draws, "n" if inputs.params.noise == "normal" else "u",
                                                inputs.params.trouble_rate > 0, inputs.params.lead_rho > 0, inputs.grid_draw))


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
