import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli as run

PITWALL = str(Path(sys.executable).with_name("pitwall"))


def test_data_check_reports_coverage():
    out = run("data", "check")
    assert out.returncode == 0, out.stderr
    assert "seasons 2015-2025: 396 races" in out.stdout
    assert "loop data (fastest laps): 2019-2025; practice: 119 races" in out.stdout
    assert "integrity: ok" in out.stdout
    assert out.stderr == ""  # no progress bar frames in a pipe


def test_progress_bar_on_a_terminal_ends_at_100():
    """On a terminal the bar is drawn (and ends at 100%, even where the last callback said 95%)."""
    import pty

    main, side = pty.openpty()
    proc = subprocess.run([PITWALL, "data", "check"], stdin=side, stdout=subprocess.PIPE, stderr=side, timeout=120,
                          env={**os.environ, "COLUMNS": "120"})
    os.close(side)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    bar = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and "Checking races" in bar and "100.0%" in bar


def test_data_check_json():
    out = run("data", "check", "--json")
    assert set(json.loads(out.stdout)) == {"cup", "nxs", "truck"}
    out = run("data", "check", "--series", "cup", "--json")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["seasons"] == "2015-2025" and report["rows"]["results"] == 15341 and report["failures"] == []
    assert report["laps_led_slips"] == ["2016-18 (-1)", "2023-19 (+1)", "2024-16 (+1)", "2025-1 (+1)"]


def test_simulate_race_writes_scenarios(tmp_path):
    out = tmp_path / "sims.parquet"
    r = run("simulate", "--race", "2024-30", "--scenarios", "2000", "--seed", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Kyle Larson" in r.stdout and "diagnostics: generated 2,000, valid 2,000, rejection rate 0.000" in r.stdout
    assert "Simulating" not in r.stderr  # no progress bar frames in a pipe
    df = pd.read_parquet(out)
    assert list(df.columns) == ["scenario", "driver_id", "finish", "start", "status", "laps_completed", "laps_led",
                                "fastest_laps", "dk_points", "fd_points"]
    assert len(df) == 2000 * 38
    per = df.groupby("scenario")
    assert (per["finish"].nunique() == 38).all()
    again = tmp_path / "again.parquet"
    run("simulate", "--race", "2024-30", "--scenarios", "2000", "--seed", "3", "--out", str(again), "--workers", "2", "--chunk-size", "1000")
    pd.testing.assert_frame_equal(df, pd.read_parquet(again))


def test_simulate_salary_file_and_errors(tmp_path):
    salaries = Path(__file__).resolve().parents[1] / "data" / "salaries" / "dk_2026-04-12_race08_bristol.csv"
    r = run("simulate", "--slate", str(salaries), "--track", "bristol", "--scenarios", "1000")
    assert r.returncode == 0, r.stderr
    assert "starting grid unknown for 37 drivers: drawn in each simulated race by the qualifying model" in r.stdout
    copy = tmp_path / "DKSalaries.csv"  # not a shipped file: its Game Info date finds the race on the schedule
    copy.write_bytes(salaries.read_bytes())
    r = run("simulate", "--slate", str(copy), "--scenarios", "1000")
    assert r.returncode == 0 and "matched the 2026 schedule: race 8, Food City 500 at Bristol Motor Speedway" in r.stdout
    undated = tmp_path / "undated" / "DKSalaries.csv"  # no date anywhere: no track either
    undated.parent.mkdir()
    undated.write_text(salaries.read_text().replace(" 04/12/2026", ""))
    r = run("simulate", "--slate", str(undated), "--scenarios", "1000")
    assert r.returncode == 1 and "the salary file carries no race date" in r.stderr and "give --date YYYY-MM-DD" in r.stderr
    r = run("simulate", "--slate", str(salaries), "--scenarios", "1000")
    assert r.returncode == 0 and "Food City 500 at Bristol Motor Speedway on 2026-04-12 (the salary file calls it 'Bass Pro Shops " \
        "500')" in r.stdout
    r = run("simulate", "--race", "2031-1", "--scenarios", "100")
    assert r.returncode == 1 and "race 2031-1 is not in the history" in r.stderr


@pytest.mark.neo4j
def test_ontology_sync_and_constraints_on_neo4j(neo4j_server):
    uri = neo4j_server["uri"]
    r = run("ontology", "sync", "--neo4j", uri)
    assert r.returncode == 0, r.stderr
    assert f"synced to Neo4j {neo4j_server['version']} at {uri}" in r.stdout and "read back: same facts" in r.stdout
    a = run("constraints", "--race", "2024-10", "--neo4j", uri)
    b = run("constraints", "--race", "2024-10")
    assert a.returncode == 0 and "at least 3 drivers starting 20th or worse (superspeedway-place-differential)" in a.stdout
    assert f"ontology: neo4j ({uri})" in a.stdout and "ontology: embedded" in b.stdout
    hash_a = a.stdout.split("constraint_spec_hash")[1].split()[0]
    assert len(hash_a) == 64 and hash_a == b.stdout.split("constraint_spec_hash")[1].split()[0]


def test_constraints_fallback_and_errors(tmp_path):
    r = run("constraints", "--race", "2024-10", "--neo4j", "bolt://127.0.0.1:9")
    assert r.returncode == 0 and "Neo4j at bolt://127.0.0.1:9 is unreachable" in r.stderr and "using the embedded ontology" in r.stderr
    rules = tmp_path / "rules.json"
    rules.write_text('[{"rule_id": "x", "kind": "lock", "drivers": ["kyle-larson", "denny-hamlin"]},'
                     ' {"rule_id": "y", "kind": "exclude", "drivers": ["kyle-larson"]}]')
    r = run("constraints", "--race", "2024-10", "--rules", str(rules))
    assert r.returncode == 1 and "Kyle Larson is locked (rule 'x') and excluded (rule 'y')" in r.stderr
    r = run("ontology", "sync", "--neo4j", "bolt://127.0.0.1:9")
    assert r.returncode == 1 and "Neo4j at bolt://127.0.0.1:9 is unreachable" in r.stderr


def test_optimize_salary_file(tmp_path):
    salaries = Path(__file__).resolve().parents[1] / "data" / "salaries" / "dk_2026-04-12_race08_bristol.csv"
    out, summary = tmp_path / "lineups.csv", tmp_path / "summary.json"
    r = run("optimize", "--salaries", str(salaries), "--site", "dk", "--lineups", "4", "--scenarios", "2000",
            "--objective", "mean", "--seed", "2", "--min-unique", "2", "--out", str(out), "--json", str(summary))
    assert r.returncode == 0, r.stderr
    assert "exposures and optimal%" in r.stdout and "Optimizing" not in r.stderr  # no bar frames in a pipe
    assert "estimated: starting grid unknown for 37 driver(s), drawn in each simulated race by the qualifying model" in r.stdout
    data = json.loads(summary.read_text())
    assert len(data["lineups"]) == 4 and len(data["constraint_spec_hash"]) == 64
    assert data["exposures"] and data["optimal_pct"] and data["top_optimal_lineups"]
    rows = out.read_text().splitlines()
    assert rows[0] == "D,D,D,D,D,D" and len(rows) == 5
    r = run("optimize", "--race", "2024-30", "--lineups", "2", "--scenarios", "1000")
    assert r.returncode == 1 and "no salary for 38 driver(s)" in r.stderr


def test_backtest_command(tmp_path, fits_dir):
    """Rolling origin from the command line: 2025 forecast by the model fitted on 2015-2024
    (fitted once per state directory; the shared test state has it)."""
    rep, page, md = tmp_path / "report.json", tmp_path / "report.html", tmp_path / "calibration.md"
    r = run("backtest", "--seasons", "2025", "--track-type", "road", "--scenarios", "300", "--seed", "1",
            "--json", str(rep), "--html", str(page), "--markdown", str(md), env_extra={"PITWALL_STATE_DIR": str(fits_dir)})
    assert r.returncode == 0, r.stderr
    assert "6 races" in r.stdout and "Backtesting" not in r.stderr
    assert "…" not in r.stdout and "PIT 50/80/95" in r.stdout  # the full table, even in a pipe
    assert "fitted on 2015-2024" in r.stdout  # each season's model, by hash and fit seasons
    report = json.loads(rep.read_text())
    assert {"crps", "log_score", "mae", "rank_mae", "coverage", "pit_coverage", "dk_points_crps"} <= set(report["model"])
    assert report["settings"]["rolling_origin"] and list(report["by_season"]) == ["2025"]
    text = page.read_text()
    assert "<script src=" not in text and "plotly" in text.lower()  # plotly.js is inside: opens offline
    doc = md.read_text()
    assert "| all |" in doc and "pitwall backtest --seasons 2025" in doc and "fitted on 2015-2024" in doc
    assert (tmp_path / "img").exists()
    assert list((fits_dir / "backtests").glob("*-2025-2025-road-300-1.json"))  # kept for the calibration metrics
    r = run("backtest", "--seasons", "2015")
    assert r.returncode == 1 and "season 2015 has no season before it" in r.stderr


def test_tables_in_a_pipe_keep_every_cell():
    """`pitwall ... | cat` at 80 columns: plain full-width text, no cell cut to an ellipsis."""
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([PITWALL, "simulate", "--race", "2024-30", "--scenarios", "200"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    header = next(line for line in r.stdout.splitlines() if line.startswith("name "))
    assert header.split() == ["name", "start", "DK", "mean", "median", "p10", "p90", "win", "%", "top5", "%", "top10", "%",
                              "DNF", "%", "led", "fastest"]
    larson = next(line for line in r.stdout.splitlines() if line.startswith("Kyle Larson"))
    assert len(larson.split()) == 13 and len(larson) > 80
