"""DraftKings contest standings: import, review and the field model fitted on them, on files in
DraftKings' exact layout made from contests Pitwall simulated (tests/standings_maker.py), whose
truth (lineups, ownership, points) is known exactly."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli
from standings_maker import simulated_standings

from engine.data.slates import shipped_salary_slate
from engine.dfs.contest.field import FieldModel
from engine.dfs.contest.payouts import ContestError
from engine.dfs.contest.standings import load_contests, read_standings

ROOT = Path(__file__).resolve().parent
FIXTURE = ROOT / "fixtures" / "contest-standings-900000100.csv"
BRISTOL = "dk_2026-04-12_race08_bristol.csv"
TRUTH = FieldModel(sharpness=1.0, points_weight=0.2, strength=0.72, source="truth")  # far from the assumption (0.4, 0.5, 0.80)


def run(*args, state: Path):
    return run_cli(*args, env_extra={"PITWALL_STATE_DIR": str(state)})


@pytest.fixture(scope="module")
def slate():
    return shipped_salary_slate(BRISTOL)


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    """Five contests of the same known field model on the Bristol slate (sizes, seeds and results differ)."""
    folder = tmp_path_factory.mktemp("standings")
    out = []
    for k, (size, seed, outcome) in enumerate([(2500, 7, 0), (1500, 8, 1), (3000, 9, 2), (1200, 10, 3), (2000, 11, 4)]):
        text, truth = simulated_standings(BRISTOL, TRUTH, size, seed, outcome)
        path = folder / f"contest-standings-80000000{k + 1}.csv"
        path.write_bytes(text.encode())
        out.append((path, truth))
    return out


def test_the_maker_still_writes_the_fixture():
    text, _ = simulated_standings(BRISTOL, FieldModel(), 400, 21, 5, whales=1)
    assert text == FIXTURE.read_bytes().decode()


def test_draftkings_quirks_are_read(slate):
    raw = FIXTURE.read_bytes().decode()
    assert raw.startswith("\ufeffRank,EntryId,EntryName,TimeRemaining,Points,Lineup,,Player,Roster Position,%Drafted,FPTS")
    st = read_standings(raw, slate, FIXTURE.name, "900000100")
    _, truth = simulated_standings(BRISTOL, FieldModel(), 400, 21, 5, whales=1)
    assert st.size == 400 and st.users()["whale1"] == 150 and (st.entries["entry_n"] == 150).sum() == 150
    assert np.allclose(st.ownership, truth.ownership, atol=0.005)
    assert sorted(map(tuple, st.lineups.tolist())) == sorted(map(tuple, truth.lineups.tolist()))
    assert np.allclose(np.sort(st.entries["points"]), np.sort(truth.points))
    ties = st.entries.groupby("points").size()
    assert (ties > 1).any() and (st.entries.groupby("points")["rank"].nunique() == 1).all()  # tied entries share a rank
    drafted = int((truth.ownership > 0).sum())
    assert drafted < st.size and np.isnan(st.fpts).sum() == len(slate.drivers) - drafted  # the player list is shorter
    nemechek = next(k for k, d in enumerate(slate.drivers) if d.site_name == "John H. Nemechek")
    assert st.ownership[nemechek] == truth.ownership[nemechek] > 0


def test_import_is_exact_and_replaces(five, tmp_path):
    state = tmp_path / "state"
    path, truth = five[0]
    r = run("contest", "import", str(path), state=state)
    assert r.returncode == 0, r.stderr
    assert "imported contest 800000001 (cup, Food City 500): 2,500 entries" in r.stdout
    assert "1 imported contest(s), fewer than the 5 a fit needs" in r.stdout
    stored = load_contests(state)
    assert [c.standings.contest_id for c in stored] == ["800000001"]
    st = stored[0].standings
    assert np.allclose(st.ownership, truth.ownership, atol=0.005) and st.size == 2500
    uniq, counts = np.unique(truth.lineups, axis=0, return_counts=True)
    assert st.duplicates()["unique_lineups"] == len(uniq) and st.duplicates()["max_duplicates"] == counts.max()
    assert st.users().iloc[:3].tolist() == [150, 150, 150] and len(st.users()) == 2500 - 450 + 3
    assert stored[0].projection is not None and len(stored[0].projection) == 37
    r = run("contest", "import", str(path), state=state)  # again: replaced, not added
    assert r.returncode == 0 and len(load_contests(state)) == 1
    assert not list((state / "contests").glob(".*tmp"))


@pytest.mark.parametrize("change,message", [
    (lambda rows: rows.__setitem__(1, rows[1].replace(",D,", ",QB,", 1)), "row 2, Roster Position: 'QB'"),
    (lambda rows: rows.__setitem__(5, rows[5].replace("D Ryan Blaney", "D Max Verstappen")), "row 6, Lineup: 'Max Verstappen' not on the slate"),
    (lambda rows: rows.__setitem__(300, rows[300] + ",extra"), "row 301: 7 columns"),
    (lambda rows: rows.__setitem__(200, rows[200].rsplit(" D ", 1)[0]), "row 201, Lineup: 5 driver(s)"),
])
def test_bad_files_are_refused_naming_the_row_and_nothing_is_stored(tmp_path, change, message):
    rows = FIXTURE.read_bytes().decode().split("\r\n")
    change(rows)
    bad = tmp_path / "contest-standings-900000101.csv"
    bad.write_bytes("\r\n".join(rows).encode())
    r = run("contest", "import", str(bad), "--salaries", str(ROOT.parent / "data" / "salaries" / BRISTOL), state=tmp_path / "state")
    assert r.returncode == 1 and message in r.stderr and "nothing was imported" in r.stderr, r.stderr
    assert not (tmp_path / "state" / "contests").exists() or not list((tmp_path / "state" / "contests").iterdir())


def test_a_lineup_over_the_cap_is_refused(slate):
    rows = FIXTURE.read_bytes().decode().split("\r\n")
    rich = sorted(slate.drivers, key=lambda d: -d.salary)[:6]
    cells = rows[10].split(",")
    cells[5] = " ".join(f"D {d.site_name}" for d in rich)
    rows[10] = ",".join(cells)
    with pytest.raises(ContestError, match=r"row 11, Lineup: costs \$\d{2},\d{3}, above the \$50,000 cap"):
        read_standings("\r\n".join(rows), slate, "over-cap.csv")
    other_sport = "Rank,EntryId,EntryName,TimeRemaining,Points,Lineup,,Player,Roster Position,%Drafted,FPTS\r\n1,1,a,0,10,QB Josh Allen,,Josh Allen,QB,10%,10\r\n"
    with pytest.raises(ContestError, match="not a NASCAR DraftKings Classic contest"):
        read_standings(other_sport, slate, "nfl.csv")


def test_review_of_a_contest(five, tmp_path):
    state = tmp_path / "state"
    path, truth = five[1]
    out = tmp_path / "review.json"
    r = run("contest", "review", "--standings", str(path), "--user", "whale1", "--json", str(out), state=state)
    assert r.returncode == 0, r.stderr
    for line in ("contest 800000002 (cup, Food City 500, 2026-04-12): 1,500 entries", "largest ownership misses",
                 "field points: the real field's lineups and a simulated field", "duplicates: real", "your 150 entries: best rank",
                 "expected ROI"):
        assert line in r.stdout, line
    rev = json.loads(out.read_text())
    assert rev["contest"]["entries"] == 1500 and len(rev["mine"]["lineups"]) == 150
    assert rev["ownership"]["mae"] > 1.0  # the default assumption against a field of another model: a visible miss
    best = rev["mine"]["lineups"][0]
    assert best["real_points"] == max(truth.points[[k for k, u in enumerate(truth.users) if u == "whale1"]])
    assert 0 <= best["pre_race_percentile_of_real"] <= 100 and rev["mine"]["replay_vs_real_field"]["lineups"] == 150


def test_ownership_fit_recovers_the_field_and_beats_the_assumption_out_of_sample(five, tmp_path):
    state = tmp_path / "state"
    r = run("contest", "import", *[str(p) for p, _ in five], state=state)
    assert r.returncode == 0, r.stderr
    assert "field model fitted on 5 imported DraftKings contests" in r.stdout
    out = tmp_path / "fit.json"
    r = run("ownership", "fit", "--json", str(out), state=state)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert abs(rep["model"]["strength"] - TRUTH.strength) < 0.01
    loo = rep["leave_one_out_mean"]
    assert loo["fitted"] < 0.8 < loo["assumption"], loo  # at the sampling noise of the fields against a clear miss
    for sc in rep["field_scores"]:  # the real lineups and a field from the fitted model score alike over the same races
        assert all(abs(a - b) <= 0.03 * abs(a) + 3 for a, b in zip(sc["real_field"], sc["simulated_field"])), sc
    # every contest now uses the fitted model, and says so
    r = run("contest", "--salaries", str(ROOT.parent / "data" / "salaries" / BRISTOL), "--lineups", "3", "--contest-size", "500",
            "--scenarios", "1000", "--json", str(tmp_path / "c.json"), state=state)
    assert r.returncode == 0, r.stderr
    fs = json.loads((tmp_path / "c.json").read_text())["field_strength"]
    assert fs["source"] == "fitted" and fs["contests"] == 5 and fs["strength"] == rep["model"]["strength"]


def test_without_imports_the_assumption_is_named_with_its_effect(tmp_path):
    r = run("contest", "--salaries", str(ROOT.parent / "data" / "salaries" / BRISTOL), "--lineups", "5", "--contest-size", "500",
            "--scenarios", "1000", "--json", str(tmp_path / "c.json"), state=tmp_path / "state")
    assert r.returncode == 0, r.stderr
    assert "field model: an ASSUMPTION" in r.stdout and "portfolio ROI" in r.stdout and "against the untilted field" in r.stdout
    fs = json.loads((tmp_path / "c.json").read_text())["field_strength"]
    assert fs["source"] == "assumption" and fs["strength"] == 0.8 and fs["realized_strength"] > fs["untilted_strength"]
    assert "roi_without_tilt" in fs and fs["roi"] != fs["roi_without_tilt"]
    r = run("contest", "--salaries", str(ROOT.parent / "data" / "salaries" / BRISTOL), "--lineups", "5", "--contest-size", "500",
            "--scenarios", "1000", "--strength", "none", "--json", str(tmp_path / "n.json"), state=tmp_path / "state")
    fs = json.loads((tmp_path / "n.json").read_text())["field_strength"]
    assert r.returncode == 0 and fs["strength"] is None and "roi_without_tilt" not in fs


def test_ranks_must_follow_points(slate):
    rows = FIXTURE.read_bytes().decode().split("\r\n")
    cells = rows[3].split(",")
    cells[0] = "99"
    rows[3] = ",".join(cells)
    with pytest.raises(ContestError, match=r"Rank: entry \d+ is ranked 99 with [\d.]+ points, where the points rank it \d+"):
        read_standings("\r\n".join(rows), slate, "ranks.csv")
