"""Time from Run to the first lineup for a 10,000-scenario, 20-lineup job on a shipped salary
slate (2026 DraftKings Bristol), through the same job runner the app uses, with the stages.

Run: .venv/bin/python bench/bench_app_run.py
"""

import tempfile
import time
from pathlib import Path

from engine.core.settings import Settings
from engine.data.history import History
from engine.data.slates import shipped_salary_slate
from engine.jobs.pipeline import OptimizeSettings
from engine.jobs.runner import JobRunner
from engine.jobs.service import optimize_cache_key, optimize_job
from engine.jobs.store import JobStore


def main() -> None:
    h = History.load()
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", h)
    settings = OptimizeSettings(n_lineups=20, n_scenarios=10_000, seed=0, min_unique=2)
    with tempfile.TemporaryDirectory() as d:
        app_settings = Settings(state_dir=Path(d))
        runner = JobRunner(JobStore(Path(d) / "jobs.sqlite"))
        t = time.perf_counter()
        run_id = runner.submit("optimize", optimize_job(slate, settings, app_settings, calibration=True),
                               cache_key=optimize_cache_key(slate, settings, True))
        submit = time.perf_counter() - t
        st = runner.wait(run_id, 300)
        total = time.perf_counter() - t
        res = runner.result(run_id)
        print(f"submit {1000 * submit:.1f} ms; Run -> lineups ({st['status']}): {total:.2f} s; stages {res['seconds']}")
        t = time.perf_counter()
        again = runner.submit("optimize", optimize_job(slate, settings, app_settings, calibration=True),
                              cache_key=optimize_cache_key(slate, settings, True))
        print(f"same inputs again: {1000 * (time.perf_counter() - t):.1f} ms (reused run {again == run_id})")
        runner.shutdown()


if __name__ == "__main__":
    main()
