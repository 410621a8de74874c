"""The contest simulator: a contest worked out by hand (winner-take-all, ties), prize
conservation in every simulated race, the field's ownership on the real Bristol slate,
determinism by seed, payout tables, and bad ownership files."""

import json

import numpy as np
import pytest
from helpers import ROOT
from helpers import run_cli as run

from engine.data.slates import shipped_salary_slate
from engine.dfs.contest.field import Field, default_ownership, field_notes, legal_lineups, read_ownership_csv, sample_field
from engine.dfs.contest.payouts import PRESETS, ContestError, Payouts, preset_payouts, read_payouts_csv
from engine.dfs.contest.simulate import simulate_contest
from engine.model.field import prepare
from engine.model.scenarios import simulate

BRISTOL = "dk_2026-04-12_race08_bristol.csv"


@pytest.fixture(scope="module")
def bristol(history):
    slate = shipped_salary_slate(BRISTOL, history)
    inputs = prepare(slate)
    sims = simulate(inputs, 2000, 5)
    cols = [inputs.driver_ids.index(d.driver_id) for d in slate.drivers]
    salary = np.array([d.salary for d in slate.drivers])
    names = [d.name for d in slate.drivers]
    lineups = legal_lineups(salary, np.ones(len(names), bool), 6, 50_000, 48_500)
    own = default_ownership(sims.points("dk")[:, cols].mean(axis=0), salary, np.ones(len(names), bool), 6, 50_000, 48_500, lineups)
    return {"slate": slate, "points": sims.points("dk")[:, cols], "salary": salary, "names": names, "own": own, "lineups": lineups}


def test_a_contest_worked_out_by_hand():
    """Three drivers, one-driver lineups: the user plays A against a field of B and C; three
    entries, entry fee 10, winner takes 27. Race 1: A wins alone (27). Race 2: B and C tie for
    first and split places 1-2 (13.50 each); A is third (0). Race 3: A and B tie for first and
    split 27 + 0 (13.50 each). Mean payout 13.50: profit 3.50, ROI 35%; the field got 0, 27
    and 13.50, so 6.75 a lineup on average, a profit of -3.25."""
    points = np.array([[10.0, 5.0, 5.0], [1.0, 8.0, 8.0], [8.0, 8.0, 1.0]])
    field = Field(lineups=np.array([[1], [2]]), counts=np.array([1, 1]), target=np.zeros(3), realized=np.zeros(3),
                  weights=np.zeros(3), iterations=0)
    pay = Payouts("winner-take-all", 3, 10.0, np.array([27.0, 0.0, 0.0]))
    r = simulate_contest(points, np.array([[0]]), field, pay)
    np.testing.assert_allclose(r.user_payout[:, 0], [27.0, 0.0, 13.5])
    m = r.lineup_metrics()[0]
    assert m["mean_profit"] == 3.5 and m["roi"] == 0.35 and m["win_pct"] == pytest.approx(66.67) and m["cash_pct"] == pytest.approx(66.67)
    assert m["avg_duplicates"] == 0
    assert r.field_mean_profit() == -3.25
    np.testing.assert_allclose(r.total_paid, 27.0)
    assert r.portfolio()["cash_prob"] == pytest.approx(2 / 3, abs=1e-4)


def test_prizes_paid_equal_the_payout_total_in_every_race(bristol):
    pay = preset_payouts("large-gpp", 2000, 20)
    field = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 1980, seed=1, names=bristol["names"],
                         lineups=bristol["lineups"])
    user = field.lineups[:20]
    r = simulate_contest(bristol["points"], user, field, pay)
    assert np.abs(r.total_paid - pay.total).max() < 1e-6
    assert np.abs(r.field_paid + r.user_payout.sum(axis=1) - pay.total).max() < 1e-6
    assert pay.total == pytest.approx(0.85 * 2000 * 20)


def test_field_ownership_is_within_two_points_of_target_on_bristol(bristol):
    target = bristol["own"]
    assert abs(target.sum() - 600) < 0.1 and target.max() < 90
    field = sample_field(target, bristol["salary"], 6, 50_000, 48_500, 10_000, seed=7, names=bristol["names"],
                         lineups=bristol["lineups"])
    assert field.size == 10_000 and np.abs(field.realized - target).max() <= 2.0 and field.notes == []
    sal = bristol["salary"][field.lineups].sum(axis=1)
    assert sal.min() >= 48_500 and sal.max() <= 50_000  # every lineup legal, above the floor
    assert field.counts.max() > 1  # chalk repeats
    # an edited target is met too: 10 points moved between two drivers of neighbouring salaries, and
    # the least-owned driver set to 0 with its share given to its salary neighbour (the salary the
    # targets imply stays inside the band, so a field can meet them)
    edited, sal = target.copy(), bristol["salary"]
    order = np.argsort(sal)
    pos = next(p for p in range(len(order) - 1) if edited[order[p + 1]] >= 12)
    edited[order[pos]] += 10
    edited[order[pos + 1]] -= 10
    k = int(np.argmin(np.where(edited > 0, edited, np.inf)))
    pk = int(np.flatnonzero(order == k)[0])
    m = int(order[pk + 1] if pk + 1 < len(order) else order[pk - 1])
    edited[m] += edited[k]
    edited[k] = 0.0
    assert 48_500 <= edited @ sal / 100 <= 50_000
    f2 = sample_field(edited, sal, 6, 50_000, 48_500, 10_000, seed=7, names=bristol["names"], lineups=bristol["lineups"])
    assert np.abs(f2.realized - edited).max() <= 2.0 and f2.realized[k] == 0 and f2.notes == []


def test_targets_that_cannot_be_met_are_reported_with_the_reason(bristol):
    target = bristol["own"].copy()
    target *= 700 / target.sum()
    field = sample_field(target, bristol["salary"], 6, 50_000, 48_500, 2000, seed=1, names=bristol["names"], lineups=bristol["lineups"])
    assert any("sum to 700.0%" in n for n in field.notes)
    cheap = np.full(len(target), 600 / len(target))
    cheap[np.argsort(bristol["salary"])[:6]] = 0  # the targets now imply more spend than the cap allows, or less than the floor
    cheap *= 600 / cheap.sum()
    f2 = sample_field(cheap, bristol["salary"], 6, 50_000, 48_500, 2000, seed=1, names=bristol["names"], lineups=bristol["lineups"])
    spend = cheap @ bristol["salary"] / 100
    if not 48_500 <= spend <= 50_000:
        assert any("average lineup salary" in n for n in f2.notes)


def test_a_small_fields_chance_misses_are_told_apart_from_unreachable_targets(bristol):
    """A 495-lineup field misses the targets by chance (its distribution meets them all): the
    note says so, with the expected spread, and blames no target; the same targets at 200,000
    entries give no note. A target no field can give is named as such."""
    kw = dict(names=bristol["names"], lineups=bristol["lineups"])
    small = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 495, seed=3, **kw)
    assert np.abs(small.realized - bristol["own"]).max() > 2.0  # off by chance somewhere (a random field of 495)
    assert len(small.notes) == 1 and small.notes[0].startswith("off the targets by chance, as a random field of 495 lineups is")
    assert "95% spread +/-" in small.notes[0] and "no set of legal lineups" not in small.notes[0]
    big = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 200_000, seed=3, **kw)
    assert big.notes == []
    # the rule itself: a driver whose best field distribution misses the target is unreachable, one
    # whose draw misses it is chance (with the spread of a field of that size)
    notes = field_notes(["A", "B", "C"], np.array([50.0, 30.0, 20.0]), np.array([44.0, 30.0, 20.0]),
                        np.array([44.5, 34.0, 20.2]), 400, np.ones(3, bool))
    assert notes[0] == ("A: the field can give 44.0% at best against a target of 50.0% (no set of legal lineups gives it its "
                        "target together with the others')")
    assert notes[1].endswith("B 34.0% for 30.0% (95% spread +/-4.6)") and len(notes) == 2


def test_same_seed_same_field_and_results(bristol):
    kw = dict(names=bristol["names"], lineups=bristol["lineups"])
    a = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 3000, seed=11, **kw)
    b = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 3000, seed=11, **kw)
    c = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 3000, seed=12, **kw)
    assert np.array_equal(a.lineups, b.lineups) and np.array_equal(a.counts, b.counts)
    assert not (len(a.lineups) == len(c.lineups) and np.array_equal(a.lineups, c.lineups))
    pay = preset_payouts("single-entry-gpp", 3010, 10)
    r1 = simulate_contest(bristol["points"], a.lineups[:10], a, pay, chunk=50)
    r2 = simulate_contest(bristol["points"], b.lineups[:10], b, pay, chunk=333)  # chunking does not change results
    assert np.array_equal(r1.user_payout, r2.user_payout) and r1.lineup_metrics() == r2.lineup_metrics()


def test_presets_and_payout_files():
    for name in PRESETS:
        p = preset_payouts(name, 1000, 5)
        assert np.all(np.diff(p.prizes) <= 1e-9) and p.prizes.min() >= 0 and 0.8 * 5000 <= p.total <= 0.9 * 5000, name
    big = preset_payouts("large-gpp", 10_000, 20)
    assert big.prizes[0] > 0.1 * big.total and big.prizes[big.paid_places - 1] == 40.0
    p = read_payouts_csv("place_from,place_to,prize\n1,1,100\n2,3,25\n4,10,5\n", 20, 10)
    assert p.total == 185 and p.paid_places == 10 and p.rows()[1] == {"place_from": 2, "place_to": 3, "prize": 25.0}
    for text, why in [("place_from,place_to,prize\n1,2,10\n2,3,5\n", "row 3: places 2-3 overlap an earlier row"),
                      ("place_from,place_to,prize\n1,30,10\n", "row 2: place 30 is beyond the contest size 20"),
                      ("place_from,place_to,prize\n1,1,5\n2,2,10\n", "place 2 pays more"),
                      ("place_from,place_to,prize\n1,1,ten\n", "row 2: place_from and place_to must be whole numbers"),
                      ("a,b\n1,2\n", "expected the columns place_from,place_to,prize")]:
        with pytest.raises(ContestError, match=why):
            read_payouts_csv(text, 20, 10)
    with pytest.raises(ContestError, match="unknown preset 'huge'"):
        preset_payouts("huge", 100, 5)


def test_an_ownership_file_with_bad_rows_is_refused_naming_each(bristol):
    slate = bristol["slate"]
    names = [d.name for d in slate.drivers]
    ids = [d.driver_id for d in slate.drivers]
    site_ids = [d.site_player_id for d in slate.drivers]
    good = read_ownership_csv(f"driver,ownership\n{names[0]},35%\n{site_ids[1] or names[1]},12.5\n", names, ids, site_ids)
    assert good == {0: 35.0, 1: 12.5}
    before = bristol["own"].copy()
    text = f"driver,ownership\nNobody Atall,10\n{names[0]},-5\n{names[1]},10\n{names[1]},11\n"
    with pytest.raises(ContestError) as exc:
        read_ownership_csv(text, names, ids, site_ids)
    msg = str(exc.value)
    assert "row 2: driver 'Nobody Atall' is not on the slate" in msg
    assert f"row 3: ownership -5% of {names[0]} is outside 0-100" in msg
    assert f"row 5: {names[1]} appears twice" in msg
    assert np.array_equal(bristol["own"], before)


def test_the_contest_command_writes_the_contest_json_and_refuses_a_bad_ownership_file(tmp_path):
    salaries = str(ROOT / "data" / "salaries" / BRISTOL)
    own = tmp_path / "own.csv"
    own.write_text("driver,ownership\nRyan Blaney,30\nChase Elliott,25%\n")
    out = tmp_path / "contest.json"
    r = run("contest", "--salaries", salaries, "--contest-size", "500", "--entry-fee", "5", "--payouts", "single-entry-gpp",
            "--lineups", "3", "--ownership", str(own), "--scenarios", "1000", "--seed", "2", "--json", str(out),
            env_extra={"PITWALL_STATE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["contest"]["size"] == 500 and res["contest"]["entry_fee"] == 5 and res["field"]["lineups"] == 497
    assert {"mean_profit", "roi", "cash_prob", "profit_p5", "profit_p50", "profit_p95"} <= set(res["portfolio"])
    assert {"drivers", "salary", "roi", "win_pct", "top1_pct", "top10_pct", "cash_pct", "avg_duplicates", "mean_profit"} <= set(res["lineups"][0])
    own_by_id = {o["driver_id"]: o for o in res["field"]["ownership"]}
    assert own_by_id["ryan-blaney"]["target"] == 30 and own_by_id["chase-elliott"]["target"] == 25
    assert abs(sum(o["target"] for o in res["field"]["ownership"]) - 600) < 0.5
    bad = tmp_path / "bad.csv"
    bad.write_text("driver,ownership\nRyan Blaney,30\nNobody Atall,5\nRyan Blaney,-2\n")
    r = run("contest", "--salaries", salaries, "--contest-size", "500", "--ownership", str(bad), "--json", str(tmp_path / "x.json"),
            env_extra={"PITWALL_STATE_DIR": str(tmp_path)})
    assert r.returncode == 1 and "row 3: driver 'Nobody Atall' is not on the slate" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_lineups_selected_for_the_contest_respect_exposure_and_beat_field_like_ones(bristol):
    from engine.dfs.contest.simulate import candidate_pool, select_lineups

    pay = preset_payouts("large-gpp", 2000, 20)
    field = sample_field(bristol["own"], bristol["salary"], 6, 50_000, 48_500, 1980, seed=4, names=bristol["names"],
                         lineups=bristol["lineups"])
    pool = candidate_pool(bristol["points"], field, np.zeros((0, 6), np.int64), seed=4, field_like=1000, race_optimal=200)
    assert len(pool) >= 1000
    chosen = select_lineups(bristol["points"], pool, field, pay, 20, max_exposure=0.5, races=1000, seed=4)
    picked = pool[chosen]
    assert len(set(chosen)) == 20 and np.bincount(picked.ravel(), minlength=len(bristol["salary"])).max() <= 10
    field_like = pool[np.random.default_rng(0).choice(len(pool), 20, replace=False)]
    sel = simulate_contest(bristol["points"], picked, field, pay).portfolio()["mean_profit"]
    rnd = simulate_contest(bristol["points"], field_like, field, pay).portfolio()["mean_profit"]
    assert sel > rnd
