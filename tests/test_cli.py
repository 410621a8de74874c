import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

PITWALL = str(Path(sys.executable).with_name("pitwall"))


def run(*args, **kw):
    return subprocess.run([PITWALL, *args], capture_output=True, text=True, timeout=120, **kw)


def test_data_check_reports_coverage():
    out = run("data", "check")
    assert out.returncode == 0, out.stderr
    assert "seasons 2015-2024: 360 races" in out.stdout
    assert "loop data (fastest laps): 2019-2024" in out.stdout
    assert "integrity: ok" in out.stdout
    assert "Checking races" in out.stderr  # the progress bar


def test_data_check_json():
    out = run("data", "check", "--json")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["seasons"] == "2015-2024" and report["rows"]["results"] == 13972 and report["failures"] == []


def test_data_check_fails_on_integrity(tmp_path):
    """A newer-season file whose grid has a duplicate start fails the check (exit 1), naming the race."""
    res = pd.read_parquet(Path(__file__).resolve().parents[1] / "data" / "results.parquet")
    s = res[res["Season"] == 2024].copy()
    s["Season"] = 2025
    s.loc[s.index[0], "Start"] = s.loc[s.index[1], "Start"]
    f = tmp_path / "cup_2025.csv"
    s.to_csv(f, index=False)
    out = run("data", "check", "--extra-results", str(f))
    assert out.returncode == 1
    assert "race 2025-1: Start is not a permutation" in out.stderr


def test_data_check_bad_extra_file(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    out = run("data", "check", "--extra-results", str(f))
    assert out.returncode == 1 and "missing column(s)" in out.stderr
