"""Three series (Cup, NXS, Truck) as one dimension of the data: shipped history, `data add`, salary
files, fit, simulate and optimize, the API and the ontology's rules, on the real data."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from engine.core.contracts import Rule, Slate
from engine.core.paths import DATA_DIR
from engine.core.series import SERIES, series_of_file
from engine.data.history import DataError, History, race_field_size
from engine.data.salaries import read_salary_file
from engine.data.slates import shipped_salary_slate
from engine.data.which_series import pick_series

PITWALL = str(Path(sys.executable).with_name("pitwall"))
FEED = Path(__file__).resolve().parent / "fixtures" / "truck_2025"  # the first three races of the 2025 Truck feed files
NXS_SLATE = DATA_DIR / "salaries" / "dk_2026-04-11_nxs_bristol.csv"
TRUCK_SLATE = DATA_DIR / "salaries" / "dk_2026-04-10_truck_bristol.csv"


def run(*args, state: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PITWALL_STATE_DIR": str(state), "COLUMNS": "250"}
    return subprocess.run([PITWALL, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def histories() -> dict[str, History]:
    return {s: History.load(state_dir=False, series=s) for s in SERIES}


def test_shipped_history_of_each_series(histories):
    counts = {s: (len(h.index), h.seasons[0], h.seasons[-1]) for s, h in histories.items()}
    assert counts == {"cup": (396, 2015, 2025), "nxs": (363, 2015, 2025), "truck": (254, 2015, 2025)}
    # one driver, one id, in every series: Kyle Larson's NXS and Truck starts are his
    for s in ("nxs", "truck"):
        assert "kyle-larson" in set(histories[s].results["driver_id"])
    # loop data (fastest laps) starts in 2019 for both series
    assert {s: int(h.loop["season"].min()) for s, h in histories.items()} == {"cup": 2019, "nxs": 2019, "truck": 2019}


def test_field_sizes_are_data_per_series():
    assert race_field_size(2024, series="nxs")[0] == 38 and race_field_size(2018, series="nxs")[0] == 40
    assert race_field_size(2024, series="truck")[0] == 36 and race_field_size(2019, series="truck")[0] == 32
    assert race_field_size(2024)[0] == 40
    nxs = History.load(state_dir=False, series="nxs")
    sizes = nxs.results[nxs.results["season"] >= 2022].groupby("race_id").size()
    assert sizes.max() <= 39 and (sizes == 38).mean() > 0.9  # the rule agrees with the real fields (39: Mexico City 2025)


def test_data_check_reports_each_series(tmp_path):
    out = run("data", "check", state=tmp_path / "state")
    assert out.returncode == 0, out.stderr
    assert "NASCAR Cup Series (cup)" in out.stdout and "O'Reilly Auto Parts Series" in out.stdout and "Craftsman Truck Series" in out.stdout
    assert "seasons 2015-2025: 363 races" in out.stdout and "seasons 2015-2025: 254 races" in out.stdout
    assert "integrity: ok" in out.stdout
    one = json.loads(run("data", "check", "--series", "truck", "--json", state=tmp_path / "state").stdout)
    assert one["series"] == "truck" and one["races"] == 254 and one["failures"] == [] and one["known_exceptions"] == ["2025-3"]


def test_series_from_file_names():
    assert [series_of_file(n) for n in ("cup-results.csv", "xfinity-misc.csv", "nxs-results.csv", "trucks-practice.csv",
                                        "truck-results.csv", "nxs_series_2025.csv", "truck_series_2015_2024.csv", "results.csv")] \
        == ["cup", "nxs", "nxs", "truck", "truck", "nxs", "truck", None]


def _truck_files(folder: Path, names: tuple[str, str] = ("trucks-results.csv", "trucks-misc.csv"), races: int = 3) -> list[Path]:
    """The first races of the real 2025 Truck season from the NASCAR feed, under the given names."""
    folder.mkdir(parents=True, exist_ok=True)
    res, misc = pd.read_csv(FEED / "trucks-results.csv"), pd.read_csv(FEED / "trucks-misc.csv")
    first = sorted(res["race_id"].unique())[:races]
    res[res["race_id"].isin(first)].to_csv(folder / names[0], index=False)
    misc[misc["race_id"].isin(first)].to_csv(folder / names[1], index=False)
    return [folder / n for n in names]


def test_data_add_takes_the_series_and_refuses_contradictions(tmp_path):
    state = tmp_path / "state"
    named = _truck_files(tmp_path / "named")
    r = run("data", "add", *map(str, named), "--series", "cup", state=state)
    assert r.returncode == 1 and "--series cup, but the file names say Truck (trucks-results.csv, trucks-misc.csv)" in r.stderr
    plain = _truck_files(tmp_path / "plain", ("results.csv", "misc.csv"))
    r = run("data", "add", *map(str, plain), "--series", "cup", state=state)
    assert r.returncode == 1, r.stdout
    assert "the files are not Cup races" in r.stderr and "drivers and tracks are the Truck schedule's" in r.stderr
    assert "give --series truck" in r.stderr
    assert not (state / "data").exists()  # nothing was written to the Cup's store
    r = run("data", "add", *map(str, named), "--replace", state=state)
    assert r.returncode == 0, r.stderr
    assert "series Truck (truck), from the file names" in r.stdout and "added 3 race(s) of 2025" in r.stdout
    assert (state / "series" / "truck" / "data").exists() and not (state / "data").exists()
    check = run("data", "check", "--series", "truck", state=state)
    assert "(3 added with `data add`)" in check.stdout and "integrity: ok" in check.stdout
    cup = run("data", "check", "--series", "cup", state=state)
    assert "added" not in cup.stdout.split("\n")[1]


def test_salary_file_series_from_its_date_and_drivers(histories, tmp_path):
    nxs = read_salary_file(NXS_SLATE)
    choice = pick_series(nxs, "2026-04-11", histories=histories)
    assert choice.series == "nxs" and "the only series racing on 2026-04-11" in choice.how
    # 2026-02-28: NXS at COTA and Trucks at St. Petersburg; the NXS drivers tell them apart
    choice = pick_series(nxs, "2026-02-28", histories=histories)
    assert choice.series == "nxs" and "2 series race on 2026-02-28" in choice.how and "the drivers decide" in choice.how
    # drivers who run both series do not: refused, naming the candidates, until --series says which
    both = set(histories["nxs"].results.query("season >= 2024")["driver"]) & set(histories["truck"].results.query("season >= 2024")["driver"])
    few = nxs.__class__(site=nxs.site, source=nxs.source, rows=[r for r in nxs.rows if r.name in both][:6], game_info=None)
    assert len(few.rows) >= 3
    with pytest.raises(DataError, match=r"2026-02-28 is ambiguous: NXS race 3 at Circuit of the Americas; Truck race 3 at "
                                        r"St. Petersburg Street Course.*give --series nxs or --series truck"):
        pick_series(few, "2026-02-28", histories=histories)
    assert pick_series(few, "2026-02-28", "truck", histories=histories).series == "truck"


def test_shipped_bristol_slates_of_nxs_and_trucks():
    nxs = shipped_salary_slate(NXS_SLATE.name)
    truck = shipped_salary_slate(TRUCK_SLATE.name)
    assert (nxs.series.value, nxs.race, nxs.track_id, nxs.race_length, nxs.field_size, len(nxs.drivers)) == ("nxs", 9, "bristol", 300, 38, 38)
    assert (truck.series.value, truck.race, truck.race_length, truck.field_size, len(truck.drivers)) == ("truck", 6, 250, 36, 36)
    # Cup regulars with no Truck start in the window: the Truck method does not borrow their Cup form (its backtest did
    # not keep it), so they get the newcomer prior and the note says why; NXS borrows (Truck form of NXS newcomers)
    stenhouse = next(d for d in truck.drivers if d.name == "Ricky Stenhouse Jr.")
    assert stenhouse.history_races == 0 and "skill" in stenhouse.estimated
    note = next(n for n in truck.notes if n.startswith("no earlier Truck races"))
    assert "Ricky Stenhouse Jr." in note and "does not borrow" in note
    note = next(n for n in nxs.notes if n.startswith("no earlier NXS races"))
    assert "Brent Crews (Truck" in note and "mapped onto NXS form" in note
    with_cup = shipped_salary_slate(TRUCK_SLATE.name, replace(History.load(series="truck"), cross_series=True))
    assert next(d for d in with_cup.drivers if d.name == "Ricky Stenhouse Jr.").skill > stenhouse.skill
    assert [u.split(" (")[0] for u in truck.unmatched] == ["Carson Ferguson", "Mini Tyrrell"]
    ids = [d.site_player_id for d in nxs.drivers]
    assert all(i.startswith("91") for i in ids)  # made-up ids, stated in the manifest
    assert "made up" in pd.read_csv(DATA_DIR / "salaries" / "manifest.csv").set_index("file").loc[NXS_SLATE.name, "source"]


def test_cli_optimize_and_simulate_each_series(tmp_path):
    state = tmp_path / "state"
    for f, label in ((NXS_SLATE, "NXS"), (TRUCK_SLATE, "Truck")):
        r = run("optimize", "--salaries", str(f), "--lineups", "2", "--scenarios", "300", "--seed", "1", "--json",
                str(tmp_path / f"{label}.json"), state=state)
        assert r.returncode == 0, r.stderr
        out = json.loads((tmp_path / f"{label}.json").read_text())
        assert out["series"] == label.lower() and len(out["lineups"]) == 2
    r = run("simulate", "--race", "2025-9", "--series", "nxs", "--scenarios", "200", state=state)
    assert r.returncode == 0 and "Sam Mayer" in r.stdout, r.stderr
    r = run("simulate", "--slate", str(NXS_SLATE), "--series", "truck", "--scenarios", "200", state=state)
    assert r.returncode == 1 and "--series truck: dk_2026-04-11_nxs_bristol.csv is a NXS slate" in r.stderr
    r = run("simulate", "--race", "2025-9", "--series", "f1", state=state)
    assert r.returncode == 1 and "unknown series 'f1'; known: cup, nxs, truck" in r.stderr


def test_model_files_name_their_series():
    from engine.data.grid import SimulationError
    from engine.model.field import prepare
    from engine.model.params import load_params, params_file

    for s in SERIES:
        assert load_params(series=s).series == s and load_params(params_file(s)).series == s
    with pytest.raises(SimulationError, match="is a model of the Cup series, not the NXS"):
        load_params(params_file("cup"), series="nxs")
    nxs = shipped_salary_slate(NXS_SLATE.name)
    with pytest.raises(SimulationError, match="the slate is a nxs race and the model is the cup series'"):
        prepare(nxs, model=load_params(series="cup"))
    raw = json.loads(params_file("nxs").read_text())
    assert raw["series"] == "nxs" and raw["loop_data"]["seasons"][0] == 2019 and raw["loop_data"]["races"] < raw["loop_data"]["of"]


def test_rules_scoped_to_a_series(tmp_path):
    from engine.dfs.constraints import ConstraintCompiler
    from engine.dfs.ontology.embedded import EmbeddedOntology

    repo = EmbeddedOntology(DATA_DIR / "ontology")
    rule = Rule(rule_id="truck-cap", kind="max_per_team", k=1, series="truck", description="one truck per team")
    truck = shipped_salary_slate(TRUCK_SLATE.name)
    nxs = shipped_salary_slate(NXS_SLATE.name)
    t = ConstraintCompiler(repo).compile(truck, "dk", [rule])
    n = ConstraintCompiler(repo).compile(nxs, "dk", [rule])
    assert any(a.rule_id == "truck-cap" for a in t.rules_applied) and not any(a.rule_id == "truck-cap" for a in n.rules_applied)
    assert t.series == "truck" and n.series == "nxs" and t.spec_hash != n.spec_hash
    # the teams come from the series' own facts: Kyle Busch drives his own trucks and RCR's Cup car
    busch = next(d for d in t.drivers if d.name == "Kyle Busch") if any(d.name == "Kyle Busch" for d in t.drivers) else None
    if busch is not None:
        assert busch.team != "Richard Childress Racing"


def test_slate_json_keeps_its_series(tmp_path):
    s = shipped_salary_slate(TRUCK_SLATE.name)
    again = Slate.model_validate_json(s.model_dump_json())
    assert again.series.value == "truck"


def _scrambled_others(h: History, day, before: bool) -> History:
    """``h`` whose other series' finishes (and ratings) on or after ``day`` (or before it) are shuffled."""
    import numpy as np

    rng = np.random.default_rng(5)
    others = {}
    for code, other in h.other_series().items():
        res = other.results.copy()
        dates = other.index.set_index("race_id")["date"]
        when = res["race_id"].map(dates)
        pick = when < day if before else when >= day
        res.loc[pick, "finish"] = rng.permutation(res.loc[pick, "finish"].to_numpy())
        res.loc[pick, "rating"] = rng.random(int(pick.sum())) * 150
        others[code] = replace(other, results=res, shared={})
    return replace(h, shared={"others": others})


def test_borrowed_form_has_no_look_ahead():
    """An NXS newcomer's skill from his Cup races uses only Cup races before the NXS race, and does use those."""
    from engine.data.slates import build_slate

    nxs = History.load(state_dir=False, series="nxs")
    rid = "2025-23"  # Michael McDowell's first NXS start in the window: his skill comes from the Cup
    day = nxs.race(rid)["date"]
    base = build_slate(rid, nxs)
    mcdowell = next(d for d in base.drivers if d.name == "Michael McDowell")
    assert mcdowell.history_races == 0 and any("Michael McDowell (Cup" in n for n in base.notes)
    assert build_slate(rid, _scrambled_others(nxs, day, before=False)).model_dump() == base.model_dump()
    changed = build_slate(rid, _scrambled_others(nxs, day, before=True))
    assert next(d for d in changed.drivers if d.name == "Michael McDowell").skill != mcdowell.skill
