"""Simulator speed and memory.

(a) 100,000 scenarios of a real 40-car slate (2024 Daytona 500) with every output and DK/FD
points: seconds, scenarios per second, and the ratio to a bare numpy Gumbel-argsort of the
same shape (rng.gumbel((N, 40)) then argsort) timed in the same process. Targets: at most
2 s on the 2-core machine, ratio at most 6.
(b) --million: 1,000,000 scenarios of the same slate, peak resident memory (target: about 2 GB).

Run: .venv/bin/python bench/bench_scenarios.py [--million]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from engine.data.history import History
from engine.data.slates import build_slate
from engine.model.field import prepare
from engine.model.scenarios import simulate


def best_of(k, fn):
    times = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    history = History.load()
    slate = build_slate("2024-1", history)
    inputs = prepare(slate)
    n, d = 100_000, inputs.n_drivers
    print(f"slate 2024-1 ({slate.race_name}), {d} drivers, track type {inputs.track_type}")
    simulate(inputs, 5_000, 0)  # warm up
    rng = np.random.default_rng(0)
    base = best_of(args.repeats, lambda: np.argsort(rng.gumbel(size=(n, d)), axis=1))
    print(f"reference: numpy Gumbel-argsort of ({n:,}, {d}): {base:.3f} s")
    for workers in (1, 2):
        t = best_of(args.repeats, lambda: simulate(inputs, n, 1, workers=workers))
        print(f"simulate {n:,} x {d}, workers={workers}: {t:.3f} s, {n / t:,.0f} scenarios/s, ratio to reference {t / base:.1f}")
    if args.million:
        t = time.perf_counter()
        sims = simulate(inputs, 1_000_000, 1, workers=2)
        el = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        size = sum(a.nbytes for a in sims.arrays.values()) / 1024**3
        print(f"simulate 1,000,000 x {d}, workers=2: {el:.2f} s; result arrays {size:.2f} GiB; peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
