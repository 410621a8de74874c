"""Contest simulation speed and memory: 150 lineups against a 10,000-lineup field over 10,000
simulated races of the real 2026 Bristol DK slate (large-GPP payouts), against a reference
measured in the same run: scoring the same lineups in every race and ranking them with a full
numpy sort (no payouts, no ties), chunked over races the same way.

Prints seconds and peak traced memory (numpy allocations, tracemalloc) of: fitting and drawing
the field; the contest (exact scores, tie splits, payouts); the reference; and their ratio.
Targets: the contest <= 10 s and < 2 GB on the 2-core machine.

Run: .venv/bin/python bench/bench_contest.py [--races 10000] [--field 10000] [--lineups 150]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from engine.data.history import History
from engine.data.slates import shipped_salary_slate
from engine.dfs.contest.field import SALARY_FLOOR, default_ownership, legal_lineups, sample_field
from engine.dfs.contest.payouts import preset_payouts
from engine.dfs.contest.simulate import simulate_contest
from engine.model.field import prepare
from engine.model.scenarios import simulate


def timed(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    s = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, s, peak


def reference(points: np.ndarray, lineups: np.ndarray, chunk: int = 64) -> float:
    """Score every lineup in every race and sort each race's scores (what a contest needs at least)."""
    onehot = np.zeros((points.shape[1], len(lineups)))
    for j in range(lineups.shape[1]):
        onehot[lineups[:, j], np.arange(len(lineups))] = 1.0
    check = 0.0
    for lo in range(0, len(points), chunk):
        scores = points[lo : lo + chunk] @ onehot
        check += float(np.sort(scores, axis=1)[:, -1].sum())
    return check


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--races", type=int, default=10_000)
    ap.add_argument("--field", type=int, default=10_000)
    ap.add_argument("--lineups", type=int, default=150)
    args = ap.parse_args()
    history = History.load()
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    inputs = prepare(slate)
    cols = [inputs.driver_ids.index(d.driver_id) for d in slate.drivers]
    points = simulate(inputs, args.races, 1).points("dk")[:, cols]
    salary = np.array([d.salary for d in slate.drivers])
    racing = np.ones(len(salary), bool)
    size = args.field + args.lineups
    print(f"Bristol 2026 DK slate, {len(salary)} drivers; {len(points):,} simulated races; {args.lineups} lineups against a field of "
          f"{args.field:,} ({size:,} entries, large-GPP payouts)")

    def make_field():
        legal = legal_lineups(salary, racing, 6, 50_000, SALARY_FLOOR["dk"])
        own = default_ownership(points.mean(axis=0), salary, racing, 6, 50_000, SALARY_FLOOR["dk"], legal)
        return sample_field(own, salary, 6, 50_000, SALARY_FLOOR["dk"], args.field, seed=3, lineups=legal), len(legal)

    (fld, n_legal), field_s, field_mb = timed(make_field)
    print(f"field: {n_legal:,} legal lineups enumerated, weights fitted in {fld.iterations} iterations, {args.field:,} drawn "
          f"({len(fld.counts):,} different): {field_s:.2f} s, peak {field_mb:.0f} MiB; largest ownership gap "
          f"{np.abs(fld.realized - fld.target).max():.2f} points")
    rng = np.random.default_rng(9)
    user = fld.lineups[rng.choice(len(fld.lineups), args.lineups, replace=False)]
    pay = preset_payouts("large-gpp", size, 20)
    res, contest_s, contest_mb = timed(lambda: simulate_contest(points, user, fld, pay))
    print(f"contest (exact scores, DraftKings tie splits, payouts): {contest_s:.2f} s, peak {contest_mb:.0f} MiB "
          f"(targets <= 10 s, < 2 GB); prizes paid equal the payout total in every race: "
          f"{bool(np.abs(res.total_paid - pay.total).max() < 1e-6)}")
    everyone = np.concatenate([np.repeat(fld.lineups, fld.counts, axis=0), user])
    _, ref_s, ref_mb = timed(lambda: reference(points, everyone))
    print(f"reference (score {len(everyone):,} entries, full numpy sort of every race, no payouts): {ref_s:.2f} s, "
          f"peak {ref_mb:.0f} MiB")
    print(f"ratio contest / reference: {contest_s / ref_s:.2f}; field + contest / reference: {(field_s + contest_s) / ref_s:.2f}")


if __name__ == "__main__":
    main()
