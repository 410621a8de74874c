"""Optimizer speed on the real 2026 DraftKings Bristol slate (37 drivers).

(a) 150 lineups, mean objective, min-unique 3, exposure caps (every driver at most 40%,
    two drivers at least 20%): seconds per solver (target at most 10 s), and the same
    portfolio solved one MILP per lineup as a reference.
(b) optimal% over 10,000 scenarios (exact per-scenario optima by the DP) against solving
    the MILP per scenario with pulp on a sample, measured in the same run (target >= 50x),
    and the per-scenario optimum of the DP checked equal to pulp's on that sample.

Run: .venv/bin/python bench/bench_optimizer.py
"""

from __future__ import annotations

import time

import numpy as np

from engine.core.contracts import Rule
from engine.data.history import History
from engine.data.slates import shipped_salary_slate
from engine.dfs.constraints import ConstraintCompiler
from engine.dfs.ontology.embedded import EmbeddedOntology
from engine.dfs.optimal import milp_optimum, optimal_lineups
from engine.dfs.portfolio import build_portfolio
from engine.model.field import prepare
from engine.model.scenarios import simulate


def main() -> None:
    history = History.load()
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    repo = EmbeddedOntology()
    rules = [Rule(rule_id=f"cap-{d.driver_id}", kind="exposure", drivers=[d.driver_id], max=0.4) for d in slate.drivers]
    rules += [Rule(rule_id="min-bell", kind="exposure", drivers=["christopher-bell"], min=0.2, max=0.4),
              Rule(rule_id="min-byron", kind="exposure", drivers=["william-byron"], min=0.2, max=0.4)]
    rules = [r for r in rules if r.rule_id not in ("cap-christopher-bell", "cap-william-byron")]
    spec = ConstraintCompiler(repo).compile(slate, "dk", rules)
    inputs = prepare(slate, spec=spec)
    sims = simulate(inputs, 10_000, 7)
    cols = [inputs.driver_ids.index(d.driver_id) for d in spec.drivers]
    P = sims.points("dk")[:, cols]
    print(f"slate {slate.slate_id}: {len(spec.drivers)} drivers, {P.shape[0]:,} valid simulated races")
    for solver in ("cbc", "highs"):
        t = time.perf_counter()
        pf = build_portfolio(spec, P, 150, "mean", min_unique=3, solver=solver)
        el = time.perf_counter() - t
        top = max(pf.exposures)
        print(f"(a) 150 lineups, min-unique 3, exposure caps, solver {solver}: {el:.2f} s; max exposure {top:.0%}, "
              f"Bell {pf.exposures[pf.problem.ids.index('christopher-bell')]:.0%}, Byron {pf.exposures[pf.problem.ids.index('william-byron')]:.0%}")
    t = time.perf_counter()
    ref = build_portfolio(spec, P, 150, "mean", min_unique=3, solver="cbc", method="milp")
    el = time.perf_counter() - t
    same = [round(a.mean, 4) for a in ref.lineups] == [round(b.mean, 4) for b in pf.lineups]
    print(f"    reference: the same 150 lineups solved one MILP each (CBC): {el:.2f} s; same lineup values: {same}")
    plain = ConstraintCompiler(repo).compile(slate, "dk")
    t = time.perf_counter()
    opt = optimal_lineups(plain, P)
    dp = time.perf_counter() - t
    sample = np.random.default_rng(0).choice(P.shape[0], 40, replace=False)
    t = time.perf_counter()
    agree = 0
    for s in sample:
        _, value = milp_optimum(plain, P[s], solver="cbc")
        agree += abs(value - opt.scores[s]) < 1e-3
    per = (time.perf_counter() - t) / len(sample)
    est = per * P.shape[0]
    print(f"(b) optimal% over {P.shape[0]:,} scenarios: DP {dp:.2f} s ({opt.resolved_by_milp} re-solved by MILP); "
          f"pulp/CBC per scenario {1000 * per:.1f} ms -> {est:.1f} s for all; ratio {est / dp:.0f}x; "
          f"DP optimum equal to pulp's on {agree}/{len(sample)} sampled scenarios")
    names = plain.drivers
    distinct = len({tuple(r) for r in opt.lineups.tolist()})
    print(f"    {distinct:,} distinct optimal lineups in {P.shape[0]:,} races; the most frequent:")
    for lu, share in opt.top_lineups(3):
        print(f"    optimal in {round(share * P.shape[0])} races: {', '.join(names[i].name for i in lu)}")
    best = np.argsort(-opt.optimal_pct)[:6]
    print("    optimal%: " + ", ".join(f"{names[i].name} {opt.optimal_pct[i]:.1%}" for i in best))


if __name__ == "__main__":
    main()
