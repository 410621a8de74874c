"""Bad input, table-driven: every case a user (or an attacker) can cause gets one clear message
naming what was wrong, and nothing that was there before changes (no output file appears, the
shipped data and the state directory stay as they were, the loaded slate stays loaded).

The CLI runs in-process through its real entry point (``engine.interfaces.cli.main``, the console
script), so the messages are exactly what a user sees."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.interfaces.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
BRISTOL = DATA / "salaries" / "dk_2026-04-12_race08_bristol.csv"
DAYTONA_FD = DATA / "salaries" / "fd_2026-02-15_race01.csv"


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run `pitwall ARGS` through the console script's entry point; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["pitwall", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad (and awkward but valid) input files, built from the real shipped ones."""
    d = tmp_path_factory.mktemp("inputs")
    dk = pd.read_csv(BRISTOL, dtype=str, keep_default_na=False)
    f: dict[str, Path] = {}

    def write(name: str, df: pd.DataFrame, **kw) -> Path:
        f[name] = d / f"{name}.csv"
        df.to_csv(f[name], index=False, **kw)
        return f[name]

    huge = dk.copy()
    huge.loc[0, "Salary"] = "99999999999"
    write("salary_huge", huge)
    rows = [dk.iloc[i % len(dk)].to_dict() | {"Name": f"Driver {i}", "ID": str(1000 + i), "Name + ID": f"Driver {i} ({1000 + i})"}
            for i in range(64)]
    write("pool64", pd.DataFrame(rows))
    write("pool61", pd.DataFrame(rows[:61]))
    latin = dk.copy()
    write("latin1", latin, encoding="cp1252")
    f["latin1"].write_bytes(f["latin1"].read_bytes().replace(b"Daniel Suarez,", "Daniel Suárez,".encode("cp1252"))
                            .replace(b"Daniel Suarez (", "Daniel Suárez (".encode("cp1252")))
    f["bytes"] = d / "bytes.csv"
    f["bytes"].write_bytes(bytes(range(256)) * 8)
    f["empty"] = d / "empty.csv"
    f["empty"].write_bytes(b"")
    f["dir"] = d / "a_folder"
    f["dir"].mkdir()
    f["csv_as_parquet"] = d / "results.parquet"
    f["csv_as_parquet"].write_bytes(BRISTOL.read_bytes())
    # a real season in nascaR.data's layout (2025), relabelled 2027: a season no schedule or shipped data holds
    season = pd.read_csv(ROOT / "tests" / "fixtures" / "season_2025" / "cup_series_2025.csv")
    season["Season"] = 2027
    bad_race = season.copy().astype({"Race": object})
    bad_race.loc[bad_race.index[3], "Race"] = "three"
    write("race_not_numeric", bad_race)
    broken = season.copy()
    broken["Finish"] = 1
    broken["Led"] = 9999
    write("broken_results", broken)
    write("season_2027", season)

    from engine.data.history import History
    from engine.data.slates import shipped_salary_slate

    slate = shipped_salary_slate(BRISTOL.name, History.load())
    payload = slate.model_dump(mode="json")

    def slate_json(name: str, data: dict, encoding: str = "utf-8") -> None:
        f[name] = d / f"{name}.json"
        f[name].write_bytes(json.dumps(data).encode(encoding))

    half = json.loads(json.dumps(payload))
    half["drivers"][0].update(min_exposure=0.5, max_exposure=0.5)
    slate_json("exposure_half", half)
    slate_json("cap_negative", {**payload, "salary_cap": -1})
    slate_json("track_moon", {**payload, "track_id": "moon"})
    slate_json("race_length_negative", {**payload, "race_length": -5})
    slate_json("slate_utf16", payload, "utf-16")
    rules = [{"rule_id": "lock-larson", "kind": "lock", "drivers": ["kyle-larson"]}]
    f["rules_utf16"] = d / "rules16.json"
    f["rules_utf16"].write_bytes(json.dumps(rules).encode("utf-16"))
    f["rules_bad_kind"] = d / "rules_bad.json"
    f["rules_bad_kind"].write_text(json.dumps([{"rule_id": "x", "kind": "lockk", "drivers": ["kyle-larson"]},
                                               {"rule_id": "y", "kind": "max_per_team", "k": "two"}]))
    f["rules_unknown_team"] = d / "rules_team.json"
    f["rules_unknown_team"].write_text(json.dumps([{"rule_id": "no-such-team", "kind": "max_per_team", "team": "Moon Racing", "k": 1}]))
    f["entries_cp1252"] = d / "DKEntries.csv"
    f["entries_cp1252"].write_bytes("Entry ID,Contest Name,Contest ID,Entry Fee,D,D,D,D,D,D\n"
                                    "4000001,Carrera Suárez $5,170001,$5,,,,,,\n".encode("cp1252"))
    f["out"] = d / "outputs"
    f["out"].mkdir()
    # files that are not what they claim: another sport's DraftKings file, a Showdown file
    nfl = dk.head(8).copy()
    nfl["Position"] = ["QB", "RB", "WR", "TE", "DST", "WR", "RB", "QB"]
    nfl["Roster Position"] = ["QB", "RB/FLEX", "WR/FLEX", "TE/FLEX", "DST", "WR/FLEX", "RB/FLEX", "QB"]
    write("nfl", nfl)
    cpt = dk.head(8).assign(**{"Roster Position": "CPT"})
    cpt["Salary"] = (cpt["Salary"].astype(int) * 3 // 2).astype(str)
    write("showdown", pd.concat([cpt, dk.head(8).assign(**{"Roster Position": "FLEX"})]))
    write("dk_off_schedule", dk.assign(**{"Game Info": dk["Game Info"].str.replace("04/12/2026", "04/13/2026")}))
    f["fd_undated"] = d / "FanDuel-NASCAR-players-list.csv"
    f["fd_undated"].write_bytes(DAYTONA_FD.read_bytes())
    feed = pd.read_csv(ROOT / "tests" / "fixtures" / "season_2025" / "cup-results.csv")
    feed.loc[feed.index[feed["finishing_status"].eq("Running")][3], "laps_completed"] = -3
    write("feed_negative_laps", feed)
    return f


# (case id, command line with {file} placeholders, exit code, message expected on stderr)
CLI_CASES = [
    ("salary-too-big", "simulate --slate {salary_huge} --track bristol --scenarios 100", 1,
     "line 2 (Kyle Larson): Salary 99,999,999,999 is above $100,000"),
    ("pool-64", "simulate --slate {pool64} --track bristol --scenarios 100", 1,
     "64 drivers: one race's pool holds at most 60"),
    ("pool-61", "optimize --salaries {pool61} --track bristol --scenarios 100", 1, "61 drivers: one race's pool holds at most 60"),
    ("exposure-not-whole-cbc", "optimize --slate {exposure_half} --lineups 3 --scenarios 100 --solver cbc", 1,
     "Kyle Larson: exposure 50% to 50% (rule 'slate') of 3 lineups means 1.5 to 1.5 lineups, and no whole number"),
    ("exposure-not-whole-highs", "optimize --slate {exposure_half} --lineups 3 --scenarios 100 --solver highs", 1,
     "Kyle Larson: exposure 50% to 50% (rule 'slate') of 3 lineups means 1.5 to 1.5 lineups, and no whole number"),
    ("date-month-13", "optimize --salaries {bristol} --date 2026-13-45", 1, "date '2026-13-45' is not a calendar date written YYYY-MM-DD"),
    ("date-word", "optimize --salaries {bristol} --date yesterday", 1, "date 'yesterday' is not a calendar date written YYYY-MM-DD"),
    ("date-far-future", "optimize --salaries {bristol} --date 2999-01-01", 1, "date 2999-01-01 is more than a year after"),
    ("scenarios-zero", "simulate --race 2024-30 --scenarios 0", 2, "Invalid value for '--scenarios'"),
    ("scenarios-negative", "simulate --race 2024-30 --scenarios -5", 2, "Invalid value for '--scenarios'"),
    ("scenarios-one", "optimize --salaries {bristol} --scenarios 1", 2, "greater than or equal to 10"),
    ("seed-negative", "simulate --race 2024-30 --seed -1", 2, "Invalid value for '--seed'"),
    ("out-missing-folder", "simulate --race 2024-30 --scenarios 100 --out /nonexistent/x.parquet", 1,
     "--out /nonexistent/x.parquet: the folder /nonexistent does not exist"),
    ("json-missing-folder", "optimize --salaries {bristol} --scenarios 100 --json /nonexistent/s.json", 1,
     "--json /nonexistent/s.json: the folder /nonexistent does not exist"),
    ("out-is-a-folder", "optimize --salaries {bristol} --scenarios 100 --out {dir}", 1, "is a directory; give a file name"),
    ("entries-missing", "optimize --salaries {bristol} --scenarios 100 --entries /nonexistent/DKEntries.csv", 1,
     "--entries /nonexistent/DKEntries.csv: file not found"),
    ("entries-binary", "optimize --salaries {bristol} --scenarios 100 --entries {bytes}", 1, "is not valid UTF-8); save it as UTF-8"),
    ("fit-no-races", "fit --seasons 2030", 1, "no races in season(s) 2030; the history has 2015-2025"),
    ("fit-no-loop-data", "fit --seasons 2015", 1, "season(s) 2015 have no loop data (fastest laps), which the fit needs"),
    ("add-nothing", "data add", 2, "Missing argument"),
    ("add-empty", "data add {empty}", 1, "empty.csv: the file is empty"),
    ("add-bytes", "data add {bytes}", 1, "bytes.csv: not a text file in UTF-8, UTF-16 or Windows-1252"),
    ("add-folder", "data add {dir}", 1, "a_folder: is a directory, not a file"),
    ("add-csv-named-parquet", "data add {csv_as_parquet}", 1,
     "results.parquet: not a readable parquet file (it looks like text: name a CSV file .csv)"),
    ("add-race-not-numeric", "data add {race_not_numeric}", 1, "column 'Race' is not a whole number on row(s) [5] (e.g. ['three'])"),
    ("add-broken-results", "data add {broken_results}", 1, "nothing was added"),
    ("add-unknown-header", "data add {salary_huge}", 1, "the header matches no layout `data add` reads"),
    ("add-bad-track-type", "data add {season_2027} --track-type Moon=ice", 1, "'ice' is not one of superspeedway"),
    ("site-fd-for-dk-file", "constraints --slate {bristol} --site fd", 1,
     "--site fd: the slate's salaries and player ids are from DraftKings"),
    ("site-dk-for-fd-file", "optimize --salaries {daytona_fd} --site dk --scenarios 100", 1,
     "--site dk: the slate's salaries and player ids are from FanDuel"),
    ("target-nan", "optimize --salaries {bristol} --scenarios 100 --objective target --target nan", 1,
     "target: must be a finite number (got nan)"),
    ("target-huge", "optimize --salaries {bristol} --scenarios 500 --lineups 2 --objective target --target 1e9", 1,
     "target 1e+09 is above every simulated lineup score"),
    ("target-negative", "optimize --salaries {bristol} --scenarios 500 --lineups 2 --objective target --target -5", 1,
     "target -5 is at or below every score that matters: the mean-optimal lineup reaches it in"),
    ("target-without-objective", "optimize --salaries {bristol} --target 300", 1, "--target is for --objective target"),
    ("rule-unknown-team", "constraints --slate {bristol} --rules {rules_unknown_team}", 1,
     "rule 'no-such-team' names team 'Moon Racing', which no driver on this slate has"),
    ("slate-cap-negative", "constraints --slate {cap_negative}", 1, "salary_cap: must be above 0 (got -1)"),
    ("slate-track-moon", "constraints --slate {track_moon}", 1, "track_id 'moon' is not a known track"),
    ("slate-race-length-negative", "constraints --slate {race_length_negative}", 1, "race_length: must be above 0 (got -5)"),
    ("rules-readable", "constraints --slate {bristol} --rules {rules_bad_kind}", 1,
     "rule 1 ('x'): kind: must be one of 'min_starting_behind'"),
    ("seasons-reversed", "backtest --seasons 2021-2019", 1, "the first season 2021 is after the last 2019 (write 2019-2021)"),
    ("seasons-unknown", "backtest --seasons 1999", 1, "no races in season(s) 1999: the history has 2015-2025"),
    ("max-exposure-out-of-range", "optimize --salaries {bristol} --max-exposure 2", 1, "a share of lineups lies between 0 and 1"),
    ("objective-unknown", "optimize --salaries {bristol} --objective max", 1,
     "objective: must be one of 'mean', 'ceiling', 'cvar' or 'target' (got 'max')"),
    ("out-and-json-same-file", "optimize --salaries {bristol} --out {out}/x.csv --json {out}/x.csv", 1,
     "--json and --out name the same file"),
    ("contest-json-and-out-same-file", "contest --salaries {bristol} --out {out}/c.json --json {out}/c.json", 1,
     "--out and --json name the same file"),
    ("nfl-salary-file", "optimize --salaries {nfl} --scenarios 100", 1,
     "not a NASCAR salary file: its positions are DST, QB, RB, RB/FLEX, TE, TE/FLEX, WR, WR/FLEX"),
    ("showdown-salary-file", "optimize --salaries {showdown} --scenarios 100", 1,
     "a DraftKings Showdown (Captain Mode) file: each driver is listed as CPT and again as FLEX"),
    ("fd-file-without-date", "optimize --salaries {fd_undated} --scenarios 100", 1,
     "the salary file carries no race date (FanDuel player lists have none), so its race and track are unknown: give --date"),
    ("dk-date-off-schedule", "simulate --slate {dk_off_schedule} --scenarios 100", 1,
     "no race on the schedule on 2026-04-13 (nearest: 2026-04-12 Food City 500 at Bristol Motor Speedway (race 8 of 2026)"),
    ("add-negative-laps", "data add {feed_negative_laps}", 1, "line(s) [9], column 'laps_completed': below 0 (a count of laps)"),
    ("add-track-alias-unknown-id", "data add {season_2027} --track-alias Moon=moon_oval", 1,
     "--track-alias 'Moon=moon_oval': 'moon_oval' is not a known track id"),
]


@pytest.mark.parametrize("case, command, code, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_with_a_clear_message(case, command, code, message, files, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PITWALL_STATE_DIR", str(tmp_path / "state"))
    names = {k: str(v) for k, v in files.items()} | {"bristol": str(BRISTOL), "daytona_fd": str(DAYTONA_FD)}
    before_data, before_out = tree_digest(DATA), sorted(files["out"].iterdir())
    rc, out, err = cli(capsys, monkeypatch, *command.format(**names).split())
    assert rc == code, (out, err)
    assert message in err, err
    text = out + err
    for jargon in ("Traceback", "validation error for", "errors.pydantic.dev", "function-after", "Input should be a valid"):
        assert jargon not in text
    assert tree_digest(DATA) == before_data and sorted(files["out"].iterdir()) == before_out
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.sqlite"))


def test_usage_errors_are_one_line(files, capsys, monkeypatch):
    rc, _, err = cli(capsys, monkeypatch, "simulate", "--race", "2024-30", "--scenarios", "0")
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: Invalid value for '--scenarios'")


def test_awkward_but_valid_files_are_read(files, capsys, monkeypatch):
    """UTF-16 rules and slates, a Windows-1252 salary file and DKEntries: read, and said so."""
    rc, out, err = cli(capsys, monkeypatch, "constraints", "--slate", files["slate_utf16"], "--rules", files["rules_utf16"])
    assert rc == 0, err
    assert "lock Kyle Larson (lock-larson)" in out
    rc, out, err = cli(capsys, monkeypatch, "simulate", "--slate", files["latin1"], "--track", "bristol", "--scenarios", "100")
    assert rc == 0, err
    assert "not valid UTF-8, read as Windows-1252 (cp1252)" in out and "Daniel Suarez" in out
    assert "not matched to Cup history" not in out  # "Suárez" is the history's Daniel Suarez, not a newcomer


def test_a_pool_larger_than_the_field_has_non_qualifiers(capsys, monkeypatch):
    """The real FanDuel Daytona 500 file: 44 drivers for 41 starters."""
    rc, out, err = cli(capsys, monkeypatch, "simulate", "--slate", DAYTONA_FD, "--scenarios", "2000")
    assert rc == 0, err
    assert "44 drivers in the salary file for a field of 41" in out
    assert "field: 41 cars start each simulated race; 3 of the 44 drivers who can race miss each one" in out
    assert "DNQ %" in out


# ----------------------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from fastapi.testclient import TestClient

    from engine.core.settings import Settings
    from engine.interfaces.api import create_app

    state = tmp_path_factory.mktemp("api-state")
    with TestClient(create_app(Settings(state_dir=state, rate_limit_per_minute=10_000))) as c:
        yield c, state


EXAMPLE = {"slate_id": "s", "drivers": [{"driver_id": "d1", "skill": 0.75, "aggression": 0.6, "shadow_risk": 0.3}],
           "scenario_config": {"track_id": "daytona", "n_scenarios": 100}, "random_seed": 42}
API_CASES = [
    ("webhook-private-10", {**EXAMPLE, "webhook_url": "http://10.1.2.3/hook"}, "10.1.2.3 is a private network address"),
    ("webhook-private-192", {**EXAMPLE, "webhook_url": "http://192.168.1.10:8080/x"}, "192.168.1.10 is a private network address"),
    ("webhook-metadata", {**EXAMPLE, "webhook_url": "http://169.254.169.254/latest/meta-data"}, "169.254.169.254 is a link-local address"),
    ("webhook-localhost-redis", {**EXAMPLE, "webhook_url": "http://localhost:6379/"}, "is a loopback address"),
    ("webhook-ipv6-loopback", {**EXAMPLE, "webhook_url": "http://[::1]:22/"}, "::1 is a loopback address"),
    ("webhook-own-api", {**EXAMPLE, "webhook_url": "http://127.0.0.1:8000/api/v1/optimize"}, "127.0.0.1 is a loopback address"),
    ("webhook-unresolvable", {**EXAMPLE, "webhook_url": "http://no-such-host.invalid/x"}, "does not resolve"),
    ("driver-id-100k", {**EXAMPLE, "drivers": [{**EXAMPLE["drivers"][0], "driver_id": "x" * 100_000}]},
     "driver_id: is 100000 characters long; at most 64 are allowed"),
    ("name-too-long", {**EXAMPLE, "drivers": [{**EXAMPLE["drivers"][0], "name": "n" * 500}]}, "name: is 500 characters long"),
    ("scenarios-one", {**EXAMPLE, "scenario_config": {"track_id": "daytona", "n_scenarios": 1}},
     "scenario_config.n_scenarios: must be at least 10 (got 1)"),
    ("global-exposure-crossed", {**EXAMPLE, "min_exposure": 0.6, "max_exposure": 0.4}, "min_exposure 60% is above max_exposure 40%"),
    ("start-position-twice", {**EXAMPLE, "drivers": [{**EXAMPLE["drivers"][0], "start_position": 3},
                                                     {**EXAMPLE["drivers"][0], "driver_id": "d2", "start_position": 3}]},
     "drivers: start_position 3 is given to more than one driver: 'd1', 'd2'"),
    ("objective-unknown", {**EXAMPLE, "objective": "max"}, "objective: must be one of 'mean', 'ceiling', 'cvar' or 'target'"),
    ("work-too-big", {**EXAMPLE, "scenario_config": {"track_id": "daytona", "n_scenarios": 1_000_000},
                      "drivers": [{**EXAMPLE["drivers"][0], "driver_id": f"d{k}"} for k in range(60)]},
     "scenario_config.n_scenarios: 1,000,000 simulated races of 60 cars are 60,000,000 driver results, above this server's "
     "limit of 40,000,000 per run (setting PITWALL_MAX_SIMULATED_CELLS): simulate at most 666,666 races"),
]


@pytest.mark.parametrize("case, body, message", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_with_a_clear_message(case, body, message, api):
    from engine.jobs.store import JobStore

    client, state = api
    before = JobStore(state / "jobs.sqlite").list(limit=1000)
    r = client.post("/api/v1/optimize", json=body)
    assert r.status_code == 422, r.text
    detail = " ".join(r.json()["detail"])
    assert message in detail and len(r.text) < 3000  # a 100,000-character id is not echoed back
    assert JobStore(state / "jobs.sqlite").list(limit=1000) == before  # no job was created


def _contest_body(history) -> dict:
    from engine.data.slates import shipped_salary_slate

    slate = shipped_salary_slate(BRISTOL.name, history)
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary"}
    return {"slate_id": "b", "drivers": [{k: v for k, v in d.model_dump(mode="json").items() if k in keep} for d in slate.drivers],
            "scenario_config": {"track_id": "bristol", "n_scenarios": 100, "race_length": 500}, "random_seed": 1, "n_lineups": 5,
            "contest_size": 100, "entry_fee": 5, "payouts": "double-up"}


CONTEST_CASES = [  # accepted and then failed as jobs before: now refused at the door, naming the field
    ("size-below-lineups", {"contest_size": 5}, "contest_size 5 leaves no field for n_lineups 5"),
    ("max-entries-below-lineups", {"max_entries": 2}, "max_entries 2 is below n_lineups 5"),
    ("floor-above-cap", {"salary_floor": 60_000}, "salary_floor 60,000 is above the salary_cap 50,000"),
    ("million-by-million", {"contest_size": 1_000_000, "scenario_config": {"track_id": "bristol", "n_scenarios": 1_000_000}},
     "contest_size: 1,000,000 entries over 1,000,000 simulated races are 1,000,000,000,000 entry-races, above this server's "
     "limit of 2,000,000,000 per contest (setting PITWALL_MAX_CONTEST_WORK)"),
    ("overlay", {"payout_table": [{"place_from": 1, "place_to": 50, "prize": 70}]},
     "payout_table: the payout table pays $3,500.00 in all, more than the $500.00 that 100 entries at $5 pay in (7.0x)"),
]


@pytest.mark.parametrize("case, change, message", CONTEST_CASES, ids=[c[0] for c in CONTEST_CASES])
def test_api_contest_refuses_at_the_door(case, change, message, api, history):
    from engine.jobs.store import JobStore

    client, state = api
    before = JobStore(state / "jobs.sqlite").list(limit=1000)
    r = client.post("/api/v1/contest", json={**_contest_body(history), **change})
    assert r.status_code == 422, r.text
    assert message in " ".join(r.json()["detail"]), r.text
    assert JobStore(state / "jobs.sqlite").list(limit=1000) == before


def test_api_overlay_is_taken_when_the_request_says_so(api, history):
    client, _ = api
    body = {**_contest_body(history), "payout_table": [{"place_from": 1, "place_to": 50, "prize": 70}], "allow_overlay": True}
    r = client.post("/api/v1/contest", json=body)
    assert r.status_code == 202, r.text
    client.delete(f"/api/v1/contest/{r.json()['run_id']}")


def test_api_backtest_names_the_track_type_field(api):
    client, _ = api
    r = client.post("/api/v1/backtest", json={"seasons": [2024], "track_type": "moon"})
    assert r.status_code == 422
    assert any(d.startswith("track_type: must be one of 'superspeedway'") for d in r.json()["detail"]), r.text


def test_api_limits_runs_in_flight_per_client(tmp_path, history):
    from fastapi.testclient import TestClient

    from engine.core.settings import Settings
    from engine.interfaces.api import create_app

    body = {**_contest_body(history), "scenario_config": {"track_id": "bristol", "n_scenarios": 200_000, "race_length": 500}}
    body = {k: v for k, v in body.items() if k not in ("contest_size", "entry_fee", "payouts")}
    with TestClient(create_app(Settings(state_dir=tmp_path, rate_limit_per_minute=10_000, max_jobs_per_client=1))) as c:
        first = c.post("/api/v1/optimize", json=body)
        assert first.status_code == 202
        r = c.post("/api/v1/optimize", json=body)
        assert r.status_code == 429 and "1 of your runs are pending or running, the most one client may have" in r.json()["detail"]
        c.delete(f"/api/v1/optimize/{first.json()['run_id']}")


def test_ownership_in_the_salary_sites_spelling_is_matched(history):
    from engine.data.slates import shipped_salary_slate
    from engine.dfs.contest.field import read_ownership_csv

    s = shipped_salary_slate(BRISTOL.name, history)
    got = read_ownership_csv("Player,%Drafted\nJohn H. Nemechek,12.5%\nKyle Larson,40\n", [d.name for d in s.drivers],
                             [d.driver_id for d in s.drivers], [d.site_player_id for d in s.drivers],
                             site_names=[d.site_name for d in s.drivers])
    assert {s.drivers[k].name: v for k, v in got.items()} == {"John Hunter Nemechek": 12.5, "Kyle Larson": 40.0}


def test_contest_payouts_above_the_fees_are_warned_about(files, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PITWALL_STATE_DIR", str(tmp_path / "state"))
    table = tmp_path / "payouts.csv"
    table.write_text("place_from,place_to,prize\n1,50,70\n")
    rc, out, err = cli(capsys, monkeypatch, "contest", "--salaries", BRISTOL, "--contest-size", "100", "--entry-fee", "5",
                       "--payouts", table, "--lineups", "2", "--scenarios", "200")
    assert rc == 0, err
    assert "warning: the payout table pays $3,500.00 in all, more than the $500.00 that 100 entries at $5 pay in (7.0x)" in err


def test_api_on_a_busy_port_is_one_error_line(tmp_path):
    import socket

    from helpers import run_cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("api", "--port", str(port), env_extra={"PITWALL_STATE_DIR": str(tmp_path / "state")})
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}"), r.stderr
    assert not (tmp_path / "state" / "dask-cluster.json").exists()  # nothing was started


def test_ctrl_c_says_what_was_stopped_and_that_nothing_was_written(tmp_path):
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "sims.parquet"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("pitwall")), "simulate", "--race", "2024-30", "--scenarios", "1000000",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PITWALL_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"},
                            # as a terminal delivers Ctrl-C: a test run started in the background (SIGINT ignored, which
                            # children inherit and Python then keeps) must not make the command deaf to it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:  # the slate is loaded and printed: the simulation (over 10 s of work) starts now
        if line.startswith("slate:"):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C): stopped `pitwall simulate`; nothing was written" in err and "Traceback" not in err
    assert not out.exists()


def test_api_malformed_json_gives_line_and_column(api):
    client, _ = api
    r = client.post("/api/v1/optimize", content=b'{\n  "slate_id": "s",\n  "drivers": [}\n}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0].startswith("malformed JSON at line 3, column 15")


def test_app_slate_json_with_an_unknown_track_keeps_the_slate(history):
    """What the Slate page's 'Open slate JSON' calls: refused, naming the field; the loaded slate is untouched."""
    from engine.data.history import DataError
    from engine.data.slates import check_slate, shipped_salary_slate

    loaded = shipped_salary_slate(BRISTOL.name, history)
    before = loaded.model_dump()
    with pytest.raises(DataError, match="track_id 'moon' is not a known track"):
        check_slate(loaded.model_copy(update={"track_id": "moon"}), history)
    assert loaded.model_dump() == before


def test_ctrl_c_inside_a_compiled_kernel_is_an_interrupt(monkeypatch, capsys):
    """Ctrl-C landing while numba's dispatcher is being called comes back as a SystemError
    caused by the KeyboardInterrupt (seen once in a full run of the real-signal test above):
    the CLI treats it as the interrupt it is."""
    import engine.interfaces.cli as cli

    def interrupted_kernel(**kw):  # as CPython reports it: SystemError from the pending KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(<function own_dnfs>) returned a result with an exception set") from exc

    def interrupted_compile(**kw):  # the interrupt as the context of an error raised while compiling
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("compilation stopped") from None

    monkeypatch.setattr(sys, "argv", ["pitwall", "simulate", "--race", "2024-30"])
    for fake in (interrupted_kernel, interrupted_compile):
        monkeypatch.setattr(cli, "app", fake)
        with pytest.raises(SystemExit) as stop:
            cli.main()
        assert stop.value.code == 130
        assert "interrupted (Ctrl-C): stopped `pitwall simulate`; nothing was written" in capsys.readouterr().err
