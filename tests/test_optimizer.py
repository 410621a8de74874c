"""One optimizer test suite, run on both solvers (bundled CBC and HiGHS)."""

import numpy as np
import pytest

from engine.core.contracts import Rule
from engine.data.slates import build_slate, shipped_salary_slate
from engine.dfs.constraints import ConstraintCompiler
from engine.dfs.lineups import OptimizerError
from engine.dfs.ontology.embedded import EmbeddedOntology
from engine.dfs.optimal import milp_optimum, optimal_lineups
from engine.dfs.portfolio import build_portfolio
from engine.jobs.pipeline import OptimizeSettings, run_optimize
from engine.model.field import prepare
from engine.model.scenarios import simulate

BRISTOL = "dk_2026-04-12_race08_bristol.csv"


@pytest.fixture(scope="module")
def repo():
    return EmbeddedOntology()


@pytest.fixture(scope="module")
def slate(history):
    return shipped_salary_slate(BRISTOL, history)


@pytest.fixture(scope="module")
def base(slate, repo):
    spec = ConstraintCompiler(repo).compile(slate, "dk")
    inputs = prepare(slate, spec=spec)
    sims = simulate(inputs, 4000, 11)
    cols = [inputs.driver_ids.index(d.driver_id) for d in spec.drivers]
    return spec, sims.points("dk")[:, cols]


@pytest.fixture(params=["cbc", "highs"])
def solver(request):
    return request.param


def compile_with(repo, slate, *rules, site="dk"):
    return ConstraintCompiler(repo).compile(slate, site, list(rules))


def lineup_ok(spec, members):
    sal = sum(spec.drivers[i].salary for i in members)
    return len(members) == spec.roster_size and sal <= spec.salary_cap


def test_mean_lineup_is_the_best_under_the_cap(base, solver):
    spec, P = base
    pf = build_portfolio(spec, P, 1, "mean", solver=solver)
    lu = pf.lineups[0]
    assert lineup_ok(spec, lu.members)
    mean = P.mean(axis=0)
    # no single swap improves it within the cap
    sal = np.array([d.salary for d in spec.drivers])
    best = mean[lu.members].sum()
    for out in lu.members:
        for inn in set(range(len(mean))) - set(lu.members):
            new = [i for i in lu.members if i != out] + [inn]
            if sal[new].sum() <= spec.salary_cap:
                assert mean[new].sum() <= best + 1e-6


def test_solvers_agree(base):
    spec, P = base
    a = build_portfolio(spec, P, 5, "mean", solver="cbc", min_unique=2)
    b = build_portfolio(spec, P, 5, "mean", solver="highs", min_unique=2)
    assert [round(x.mean, 4) for x in a.lineups] == [round(x.mean, 4) for x in b.lineups]


def test_listed_lineups_match_the_milp(repo, slate, base, solver):
    """Mean lineups picked from the list of every feasible lineup are the MILP's, lineup by lineup."""
    _, P = base
    spec = compile_with(repo, slate, Rule(rule_id="cap-elliott", kind="exposure", drivers=["chase-elliott"], max=0.5),
                        Rule(rule_id="deep", kind="min_starting_behind", position=25, k=1),
                        Rule(rule_id="two-per-team", kind="max_per_team", k=2))
    listed = build_portfolio(spec, P, 8, "mean", min_unique=2, solver=solver)
    solved = build_portfolio(spec, P, 8, "mean", min_unique=2, solver=solver, method="milp")
    assert [round(a.mean, 4) for a in listed.lineups] == [round(b.mean, 4) for b in solved.lineups]


def test_portfolio_uniqueness_and_determinism(base, solver):
    spec, P = base
    pf = build_portfolio(spec, P, 12, "mean", min_unique=3, solver=solver)
    ms = [set(x.members) for x in pf.lineups]
    assert all(lineup_ok(spec, list(m)) for m in ms)
    for i in range(len(ms)):
        for j in range(i):
            assert len(ms[i] - ms[j]) >= 3
    again = build_portfolio(spec, P, 12, "mean", min_unique=3, solver=solver)
    assert [x.members for x in again.lineups] == [x.members for x in pf.lineups]


def test_exposures_honoured_and_spread(repo, slate, base, solver):
    _, P = base
    spec = compile_with(repo, slate, Rule(rule_id="cap-elliott", kind="exposure", drivers=["chase-elliott"], max=0.5),
                        Rule(rule_id="some-zilisch", kind="exposure", drivers=["connor-zilisch"], min=0.4))
    n = 10
    pf = build_portfolio(spec, P, n, "mean", solver=solver)
    ids = list(pf.problem.ids)
    e, z = ids.index("chase-elliott"), ids.index("connor-zilisch")
    assert pf.exposures[e] <= 0.5 and pf.exposures[z] >= 0.4
    built = sorted(pf.lineups, key=lambda lu: lu.built)
    holds = [[i in lu.members for lu in built] for i in (e, z)]
    means = [lu.mean for lu in pf.lineups]
    assert means == sorted(means, reverse=True)  # shown best first
    # built spread, not front-loaded: each half of the build order has its share
    assert sum(holds[0][:5]) <= 3 and sum(holds[1][:5]) >= 2 and sum(holds[1][5:]) >= 2


def test_spec_rules_hold_in_every_lineup(repo, slate, base, solver):
    _, P = base
    spec = compile_with(repo, slate, Rule(rule_id="one-per-team", kind="max_per_team", k=1),
                        Rule(rule_id="deep", kind="min_starting_behind", position=25, k=2),
                        Rule(rule_id="lock", kind="lock", drivers=["ryan-blaney"]),
                        Rule(rule_id="no-larson", kind="exclude", drivers=["kyle-larson"]),
                        Rule(rule_id="jgr", kind="group", drivers=["denny-hamlin", "christopher-bell", "ty-gibbs"], min=1, max=1))
    pf = build_portfolio(spec, P, 6, "mean", min_unique=2, solver=solver)
    by = {d.driver_id: d for d in spec.drivers}
    for lu in pf.lineups:
        ids = [pf.problem.ids[i] for i in lu.members]
        teams = [by[x].team for x in ids if by[x].team]
        assert len(teams) == len(set(teams))
        assert sum(by[x].start_position >= 25 for x in ids) >= 2
        assert "ryan-blaney" in ids and "kyle-larson" not in ids
        assert sum(x in ("denny-hamlin", "christopher-bell", "ty-gibbs") for x in ids) == 1


@pytest.mark.parametrize("objective", ["ceiling", "cvar", "target"])
def test_scenario_objectives(base, objective, solver):
    spec, P = base
    mean_lu = build_portfolio(spec, P, 1, "mean", solver=solver).lineups[0]
    pf = build_portfolio(spec, P, 3, objective, solver=solver, seed=3, min_unique=1)
    lu = pf.lineups[0]
    assert all(lineup_ok(spec, x.members) for x in pf.lineups)
    score = lambda m: P[:, m].sum(axis=1)  # noqa: E731
    if objective == "cvar":
        value = lambda m: np.sort(score(m))[: int(0.2 * len(P))].mean()  # noqa: E731
    elif objective == "ceiling":
        value = lambda m: np.percentile(score(m), 90)  # noqa: E731
    else:
        assert pf.target == pytest.approx(np.percentile(score(mean_lu.members), 90))
        value = lambda m: (score(m) >= pf.target).mean()  # noqa: E731
    assert value(lu.members) >= value(mean_lu.members) - 1e-4
    assert value(pf.lineups[0].members) >= value(pf.lineups[1].members) - 1e-4
    assert any("candidate lineups" in n for n in pf.notes)
    if objective == "cvar":
        assert lu.p10 >= mean_lu.p10 - 1.0  # the downside lineup is not worse in the bad races
    else:
        assert lu.p90 >= mean_lu.p90 - 1.0


def test_sim_precision_diversifies_from_the_races(base, solver):
    spec, P = base
    pf = build_portfolio(spec, P, 6, "mean", solver=solver, sim_precision=True, seed=5, min_unique=0)
    assert len({tuple(x.members) for x in pf.lineups}) > 1
    again = build_portfolio(spec, P, 6, "mean", solver=solver, sim_precision=True, seed=5, min_unique=0)
    assert [x.members for x in again.lineups] == [x.members for x in pf.lineups]


def test_optimal_pct_equals_the_milp_per_scenario(repo, slate, base, solver):
    _, P = base
    for spec in (compile_with(repo, slate),
                 compile_with(repo, slate, Rule(rule_id="deep", kind="min_starting_behind", position=20, k=3),
                              Rule(rule_id="one-per-team", kind="max_per_team", k=1),
                              Rule(rule_id="lock", kind="lock", drivers=["william-byron"]))):
        opt = optimal_lineups(spec, P[:600], solver=solver)
        assert opt.lineups.shape == (600, 6) and abs(opt.optimal_pct.sum() - 6) < 1e-9
        for s in range(0, 600, 40):
            members, value = milp_optimum(spec, P[s], solver=solver)
            assert opt.scores[s] == pytest.approx(value, abs=1e-3), s
            assert lineup_ok(spec, list(opt.lineups[s]))
        top = opt.top_lineups(3)
        assert top[0][1] >= top[-1][1]


def test_infeasible_requests_name_the_conflict(repo, slate, base, solver):
    _, P = base
    spec = compile_with(repo, slate, Rule(rule_id="deep", kind="min_starting_behind", position=30, k=5),
                        Rule(rule_id="stars", kind="group", drivers=["kyle-larson", "denny-hamlin", "ryan-blaney"], min=2))
    with pytest.raises(OptimizerError) as exc:
        build_portfolio(spec, P, 1, "mean", solver=solver)
    msg = str(exc.value)
    assert "at least 5 drivers starting 30th or worse (rule deep)" in msg and "(rule stars)" in msg
    assert "salary cap" in msg
    with pytest.raises(OptimizerError, match="min_unique"):
        build_portfolio(compile_with(repo, slate, Rule(rule_id="l", kind="lock", drivers=["kyle-larson", "denny-hamlin", "ty-gibbs"])),
                        P, 3, "mean", min_unique=4, solver=solver)


def test_no_salaries_named(repo, history):
    spec = ConstraintCompiler(repo).compile(build_slate("2024-30", history), "dk")
    with pytest.raises(OptimizerError, match=r"no salary for 38 driver\(s\)"):
        build_portfolio(spec, np.zeros((10, 38)), 1)


def test_run_optimize_end_to_end(slate, repo):
    run = run_optimize(slate, OptimizeSettings(n_lineups=3, n_scenarios=2000, seed=4), repo)
    s = run.summary()
    assert len(s["lineups"]) == 3 and len(s["constraint_spec_hash"]) == 64
    assert s["scenario_diagnostics"]["n_scenarios_generated"] == 2000
    assert any("starting grid unknown" in e for e in s["estimated"])
    assert abs(sum(r["optimal_pct"] for r in s["optimal_pct"]) - 6) < 1e-6
    again = run_optimize(slate, OptimizeSettings(n_lineups=3, n_scenarios=2000, seed=4), repo).summary()
    assert again["lineups"] == s["lineups"] and again["constraint_spec_hash"] == s["constraint_spec_hash"]


def test_documented_example_fails_with_a_clear_reason(repo):
    """The contract's one-driver example parses, and the run fails: one driver cannot fill a lineup."""
    from engine.core.contracts import Slate, SlateDriver
    from engine.dfs.constraints import SpecError

    one = Slate(slate_id="test-slate", track_id="daytona", drivers=[SlateDriver(driver_id="d1", skill=0.75, aggression=0.6, shadow_risk=0.3, salary=9500)],
                race_length=200)
    with pytest.raises(SpecError, match="1 driver\\(s\\) cannot fill a 6-driver lineup"):
        ConstraintCompiler(repo).compile(one, "dk")


def test_global_exposure_bounds_every_driver(repo, slate, solver):
    """pydfs-style global bounds: every driver in at most 40% of the lineups; a locked driver in all."""
    locked = slate.model_copy(update={"drivers": [d.model_copy(update={"locked": d.driver_id == "kyle-larson"}) for d in slate.drivers]})
    spec = ConstraintCompiler(repo).compile(locked, "dk", max_exposure=0.4, min_exposure=0.1)
    larson = spec.driver("kyle-larson")
    assert larson.max_exposure == 1.0 and larson.min_exposure == 0.1
    assert all(d.max_exposure == 0.4 and d.exposure_rule == "global-exposure" for d in spec.drivers if d.driver_id != "kyle-larson")
    inputs = prepare(locked, spec=spec)
    sims = simulate(inputs, 1000, 4)
    pts = sims.points("dk")[:, [inputs.driver_ids.index(d.driver_id) for d in spec.drivers]]
    pf = build_portfolio(spec, pts, 10, min_unique=1, solver=solver)
    ids = list(pf.problem.ids)
    exp = dict(zip(ids, pf.exposures))
    assert exp["kyle-larson"] == 1.0 and max(v for k, v in exp.items() if k != "kyle-larson") <= 0.4 + 1e-9
    assert all(v >= 0.1 - 1e-9 for v in exp.values())
    assert "every driver in 10% to 40% of lineups" in " ".join(r.description for r in spec.rules_applied)


def test_exposures_no_portfolio_can_meet_are_named_before_solving(repo, slate, base, solver):
    spec, pts = base
    half = slate.model_copy(update={"drivers": [d.model_copy(update={"min_exposure": 0.5, "max_exposure": 0.5})
                                                if d.driver_id == "ryan-blaney" else d for d in slate.drivers]})
    spec = ConstraintCompiler(repo).compile(half, "dk")
    with pytest.raises(OptimizerError, match=r"Ryan Blaney: exposure 50% to 50% \(rule 'slate'\) of 3 lineups means 1.5 to 1.5 lineups"):
        build_portfolio(spec, pts, 3, solver=solver)
    build_portfolio(spec, pts, 4, solver=solver)  # 2 of 4 lineups: fine
    tight = ConstraintCompiler(repo).compile(slate, "dk", max_exposure=0.1)
    with pytest.raises(OptimizerError, match="maximum exposures allow 37 driver places, fewer than the 60 of 10 lineups of 6"):
        build_portfolio(tight, pts, 10, solver=solver)


def test_target_ties_are_broken_by_mean_points():
    """Lineups with the same probability of the target are ranked by mean points, not by position."""
    from engine.dfs.objectives import rank_order

    prob = np.array([0.2, 0.5, 0.5, 0.1, 0.5])
    mean = np.array([300.0, 210.0, 240.0, 250.0, 230.0])
    assert rank_order(prob, tiebreak=mean).tolist() == [2, 4, 1, 0, 3]
    assert rank_order(prob, top=2, tiebreak=mean).tolist() == [2, 4, 1]  # every lineup tied with the 2nd


def test_targets_outside_the_simulated_range_are_refused(base, solver):
    spec, pts = base
    with pytest.raises(OptimizerError, match="above every simulated lineup score"):
        build_portfolio(spec, pts, 1, "target", target=1e9, solver=solver)
    with pytest.raises(OptimizerError, match="at or below every score that matters"):
        build_portfolio(spec, pts, 1, "target", target=-5.0, solver=solver)


def test_lineup_bit_sets_match_the_members():
    """Lineups as bit sets (one word per 64 drivers): shared drivers counted from them equal the
    counts from the member lists, for a slate of 37 and one of 150 drivers."""
    from engine.dfs.portfolio import lineup_masks

    rng = np.random.default_rng(3)
    for n in (37, 150):
        lineups = np.sort(np.array([rng.choice(n, 6, replace=False) for _ in range(300)]), axis=1)
        masks = lineup_masks(lineups, n)
        assert masks.shape == (300, (n + 63) // 64)
        shared = np.bitwise_count(masks[:, None, :] & masks[None, :, :]).sum(axis=2)
        direct = np.array([[len(set(a) & set(b)) for b in lineups] for a in lineups])
        assert (shared == direct).all()


def test_portfolio_is_the_same_whatever_part_of_the_pool_is_ranked_first(base, monkeypatch):
    """Picks that go past the lineups ranked up front rank the whole pool: the same portfolio."""
    import engine.dfs.portfolio as portfolio

    spec, P = base
    want = build_portfolio(spec, P, 30, "mean", min_unique=3)
    monkeypatch.setattr(portfolio, "RANK_FIRST", 40)
    got = build_portfolio(spec, P, 30, "mean", min_unique=3)
    assert [x.members for x in got.lineups] == [x.members for x in want.lineups]
