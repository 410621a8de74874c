"""Compile the simulator's and the optimizer's numba kernels once, for the argument types the
runs use, so that the first simulation of the app, the API, the CLI or a test loads them from
numba's cache (next to engine/model/kernels.py and engine/dfs/kernels.py) instead of compiling
them for seconds. `make install` runs it: `python -m engine.jobs.warm`. A kind of run it does
not cover compiles its kernels on first use, once."""

from __future__ import annotations

import dataclasses
import time


def main() -> None:
    from engine.data.history import History
    from engine.data.slates import build_slate, shipped_salary_slate
    from engine.dfs.constraints import ConstraintCompiler
    from engine.dfs.ontology.embedded import EmbeddedOntology
    from engine.dfs.optimal import optimal_lineups
    from engine.model.field import prepare
    from engine.model.scenarios import simulate

    t = time.perf_counter()
    history = History.load(state_dir=False)
    compiler = ConstraintCompiler(EmbeddedOntology())
    # a race with a known grid, a salary slate whose grid is drawn, a pool larger than the field
    race = prepare(build_slate("2024-1", history))
    simulate(race, 1000, 0)
    simulate(dataclasses.replace(race, field=race.n_drivers - 2), 1000, 0)
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    spec = compiler.compile(slate, "dk")
    inputs = prepare(slate, spec=spec)
    sims = simulate(inputs, 1000, 0)
    optimal_lineups(spec, sims.points("dk")[:, [inputs.driver_ids.index(d.driver_id) for d in spec.drivers]])
    simulate(dataclasses.replace(inputs, field=inputs.n_drivers - 2), 1000, 0)
    print(f"numba kernels compiled and cached in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
