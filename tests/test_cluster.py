"""Jobs on Dask: the embedded local cluster (2 worker processes), the session's real ``dask
scheduler`` / ``dask worker`` processes, the same results as the single-process run, a worker
killed mid-job, an unreachable scheduler, and two API processes sharing one state directory."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from helpers import ROOT, free_port, start_api

from engine.core.settings import Settings
from engine.data.slates import shipped_salary_slate
from engine.jobs import tasks
from engine.jobs.cluster import ClusterHandle, ClusterUnavailable, read_record
from engine.jobs.pipeline import OptimizeSettings, run_optimize
from engine.jobs.runner import JobRunner
from engine.jobs.service import optimize_job
from engine.jobs.store import INTERRUPTED, JobStore
from engine.model.backtest import backtest
from engine.model.field import prepare
from engine.model.scenarios import BLOCK, assemble, block_plan, simulate

BRISTOL = "dk_2026-04-12_race08_bristol.csv"
# the dask processes started here import this module's task functions (as a deployment has its code)
DASK_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}


def comparable(report: dict) -> str:
    """A backtest report without its wall-clock seconds."""
    out = json.loads(json.dumps(report))
    out.pop("seconds", None)
    out.get("settings", {}).pop("seconds", None)
    return json.dumps(out, sort_keys=True)


@pytest.fixture(scope="module")
def bristol(history):
    return shipped_salary_slate(BRISTOL, history)


def test_backtest_on_a_local_cluster_of_two_worker_processes_equals_the_single_process_run(history, fits_dir, tmp_path):
    handle = ClusterHandle(tmp_path, scheduler=None, workers=2, nice=0, idle_s=3)
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), cluster=handle, workers=2)
    seen = []
    run_id = runner.submit("backtest", tasks.backtest_plan((2025,), "road", 300, 1, state_dir=fits_dir))
    while (st := runner.status(run_id))["status"] not in ("completed", "failed", "cancelled"):
        seen.append(st["progress"])
        time.sleep(0.2)
    assert st["status"] == "completed", st
    info = handle.info()
    assert info["local"] and info["workers"] == 2 and info["scheduler"].startswith("tcp://127.0.0.1:")
    rec = read_record(tmp_path)
    assert rec["pid"] != os.getpid() and rec["workers"] == 2  # the cluster is a process of its own
    on_cluster = runner.result(run_id)
    in_process = backtest(history, (2025,), n_scenarios=300, seed=1, track_type="road", state_dir=fits_dir)
    assert comparable(on_cluster) == comparable(in_process)
    assert any(0 < p < 1 for p in seen) and seen == sorted(seen)  # progress travelled from the workers, never backwards
    runner.shutdown()
    handle.close()
    end = time.monotonic() + 60  # with no Pitwall process connected, the local cluster stops by itself
    while read_record(tmp_path) is not None and time.monotonic() < end:
        time.sleep(0.5)
    assert read_record(tmp_path) is None


def test_block_tasks_on_the_dask_cli_cluster_give_the_single_process_scenarios(dask_cluster, bristol):
    inputs = prepare(bristol)
    n, seed = 3 * BLOCK + 17, 11
    handle = ClusterHandle(dask_cluster["dir"], scheduler=dask_cluster["address"])
    runner = JobRunner(JobStore(dask_cluster["dir"] / "blocks.sqlite"), cluster=handle, workers=1)

    def plan(d):
        parts = d.map(tasks.simulate_task, [(inputs, n, seed, b) for b in block_plan(n, BLOCK)], share=1.0)
        return {}, assemble(inputs, n, seed, parts)

    run_id = runner.submit("optimize", plan, keep_object=True)
    assert runner.wait(run_id, 120)["status"] == "completed"
    spread, single = runner.object(run_id), simulate(inputs, n, seed, chunk_size=2 * BLOCK)
    assert set(spread.arrays) == set(single.arrays)
    for k in single.arrays:
        np.testing.assert_array_equal(spread.arrays[k], single.arrays[k], err_msg=k)
    runner.shutdown()
    handle.close()


def test_a_large_optimize_split_in_block_tasks_gives_the_single_process_lineups(dask_cluster, bristol, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "SPLIT_SCENARIOS", 2_000)  # split this small run as a big one is split
    monkeypatch.setattr(tasks, "CHUNK_SCENARIOS", 1_000)
    settings = OptimizeSettings(n_lineups=3, n_scenarios=3_000, seed=5)
    app = Settings(state_dir=tmp_path)
    handle = ClusterHandle.from_settings(app)
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), cluster=handle, workers=1)
    run_id = runner.submit("optimize", optimize_job(bristol, settings, app))
    assert runner.wait(run_id, 180)["status"] == "completed"
    spread = runner.result(run_id)
    from engine.dfs.ontology import open_with_fallback

    single = run_optimize(bristol, settings, open_with_fallback(app)[0]).summary()
    for key in ("lineups", "exposures", "scenario_diagnostics", "constraint_spec_hash"):
        assert spread[key] == single[key], key
    runner.shutdown()
    handle.close()


def test_a_large_contest_in_race_block_tasks_gives_the_single_task_result(dask_cluster, bristol, tmp_path, monkeypatch):
    from engine.dfs.contest.payouts import preset_payouts
    from engine.jobs.dispatch import LocalDispatch
    from engine.model.params import load_params

    settings = OptimizeSettings(n_lineups=3, n_scenarios=2_000, seed=8)
    app = Settings(state_dir=tmp_path)
    contest = {"size": 300, "entry_fee": 5.0, "payouts": preset_payouts("large-gpp", 300, 5.0), "seed": 8, "select": True}
    one_task, _ = tasks.contest_plan(bristol, settings, app, contest, model=load_params())(LocalDispatch())
    monkeypatch.setattr(tasks, "CONTEST_SPLIT", 1_000)  # split this small contest as a big one is split
    monkeypatch.setattr(tasks, "CONTEST_BLOCK", 700)  # 3 blocks of races, for the entered and the optimizer's lineups
    handle = ClusterHandle.from_settings(app)
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), cluster=handle, workers=1)
    run_id = runner.submit("contest", tasks.contest_plan(bristol, settings, app, contest, model=load_params()))
    assert runner.wait(run_id, 180)["status"] == "completed", runner.status(run_id)
    spread = runner.result(run_id)
    assert spread == json.loads(json.dumps(one_task))
    runner.shutdown()


def _kill_the_worker_running(handle, procs: dict, timeout: float = 60.0) -> None:
    """Kill (SIGKILL) the worker process that is running a task now."""
    client = handle.client()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        busy = [addr for addr, keys in client.processing().items() if keys]
        pids = client.run(os.getpid, on_error="omit")
        if busy and pids.get(busy[0]) in procs:
            time.sleep(0.5)  # let the task start its work
            victim = procs.pop(pids[busy[0]])
            victim.kill()
            victim.wait()
            return
        time.sleep(0.1)
    raise AssertionError("no worker picked the task up")


def test_a_worker_killed_mid_job_is_retried_then_failed_with_the_reason(tmp_path):
    """A cluster of its own (dask CLI on loopback: a scheduler that allows one retry, three
    workers without nanny, so a killed worker stays dead): a job whose worker is killed once
    completes on another; one whose workers are killed twice fails and says why. Neither is
    left running."""
    from distributed import Client

    port = free_port()
    bindir = os.path.dirname(sys.executable)
    address = f"tcp://127.0.0.1:{port}"
    env = {**DASK_ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    sched = subprocess.Popen([f"{bindir}/dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([f"{bindir}/dask", "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--host", "127.0.0.1"], cwd=ROOT, env=DASK_ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(3)]
    procs = {p.pid: p for p in workers}
    handle = ClusterHandle(tmp_path, scheduler=address)
    try:
        with Client(address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
        runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), cluster=handle, workers=1)
        retried = runner.submit("backtest", lambda d: d.run(_sleepy, 3.0))
        _kill_the_worker_running(handle, procs)
        st = runner.wait(retried, 120)
        assert st["status"] == "completed" and runner.result(retried) == {"slept": 3.0}, st

        failed = runner.submit("backtest", lambda d: d.run(_sleepy, 600.0))
        _kill_the_worker_running(handle, procs)
        _kill_the_worker_running(handle, procs)
        st = runner.wait(failed, 120)
        assert st["status"] == "failed" and "a worker process died while running this job" in st["error"], st
        assert runner.store.get(failed)["status"] == "failed"
        runner.shutdown()
    finally:
        handle.close()
        for p in list(procs.values()) + [sched]:
            p.kill()
            p.wait()


def _sleepy(progress, cancel, seconds):
    """A task that reports progress and runs until cancelled or ``seconds`` pass."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        progress(0.5)
        if cancel():
            raise tasks_cancelled()
        time.sleep(0.05)
    return {"slept": seconds}, None


def tasks_cancelled():
    from engine.model.scenarios import Cancelled

    return Cancelled("cancelled")


def test_an_unreachable_scheduler_is_named(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    handle = ClusterHandle(tmp_path, scheduler=address)
    with pytest.raises(ClusterUnavailable, match=f"the Dask scheduler at {address} cannot be reached"):
        handle.client()
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), cluster=handle, workers=1)
    st = runner.wait(runner.submit("optimize", lambda d: d.run(_sleepy, 0.1)), 60)
    assert st["status"] == "failed" and address in st["error"], st
    runner.shutdown()


def test_the_cli_falls_back_to_the_local_cluster_with_a_notice(tmp_path, history):
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PITWALL_STATE_DIR": str(tmp_path), "PITWALL_DASK_SCHEDULER": address, "PITWALL_DASK_IDLE_S": "2"}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "pitwall"), "optimize", "--salaries",
                          str(ROOT / "data" / "salaries" / BRISTOL), "--lineups", "2", "--scenarios", "500", "--cluster"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"the Dask scheduler at {address} cannot be reached" in out.stderr and "local Dask cluster" in out.stderr


def _post_slow_job(base: str, request: dict) -> str:
    r = httpx.post(f"{base}/optimize", json=request, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def test_two_api_processes_on_one_state_directory(tmp_path, bristol):
    """The second process starting does not fail the first one's running job, and a DELETE that
    reaches the process that does not run the job cancels it."""
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary", "team", "manufacturer"}
    request = {"slate_id": "bristol-two", "drivers": [{k: v for k, v in d.model_dump(mode="json").items() if k in keep}
                                                      for d in bristol.drivers],
               "scenario_config": {"track_id": "bristol", "n_scenarios": 1_000_000, "race_length": 500},
               "salary_cap": 50000, "random_seed": 3}
    a, base_a = start_api(tmp_path)
    b = None
    try:
        run_id = _post_slow_job(base_a, request)
        end = time.monotonic() + 120
        while httpx.get(f"{base_a}/optimize/{run_id}/status").json()["status"] != "running" and time.monotonic() < end:
            time.sleep(0.2)
        b, base_b = start_api(tmp_path)  # a second process on the same state directory starts
        time.sleep(2.0)
        st = httpx.get(f"{base_b}/optimize/{run_id}/status").json()
        assert st["status"] == "running", st  # not "interrupted by restart": its owner is alive
        r = httpx.delete(f"{base_b}/optimize/{run_id}")  # cancel through the process that does not own it
        assert r.status_code == 202, r.text
        end = time.monotonic() + 60
        while (st := httpx.get(f"{base_a}/optimize/{run_id}/status").json())["status"] == "running" and time.monotonic() < end:
            time.sleep(0.2)
        assert st["status"] == "cancelled", st
        # a job whose owner is killed is failed as interrupted by the other process (its pid is gone)
        run2 = _post_slow_job(base_a, {**request, "random_seed": 4})
        a.send_signal(signal.SIGKILL)
        a.wait()
        end = time.monotonic() + 60
        while (st := httpx.get(f"{base_b}/optimize/{run2}/status").json())["status"] in ("pending", "running") \
                and time.monotonic() < end:
            time.sleep(0.5)
        assert st["status"] == "failed" and st["error"] == INTERRUPTED, st
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
