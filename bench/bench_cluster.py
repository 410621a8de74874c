"""A season's rolling-origin backtest on the Dask cluster: 1 worker against 2, and against the
single-process run; memory of the workers; what starting the local cluster costs.

(a) The 2025 backtest (36 races x 2,000 simulated races; model fitted beforehand and cached, so
the figures are loading the history and the races' work) in this process (the reference), then as a Dask job (a task
per race) on the embedded local cluster with 1 worker and with 2 workers. Prints the seconds,
the 1-worker / 2-worker ratio and the cluster's overhead against the reference.
(b) Starting the local cluster (process start to a connected client) for each size; with the
per-race time of (a), the number of races from which starting the cluster pays, which the CLI's
CLUSTER_RACES follows.
(c) Memory (RSS) of each worker process after the backtest, and of the cluster's own process
(scheduler).

Run: .venv/bin/python bench/bench_cluster.py [--season 2025] [--scenarios 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from engine.data.history import History
from engine.interfaces.cli.model import CLUSTER_RACES
from engine.jobs.cluster import ClusterHandle, read_record
from engine.jobs.runner import JobRunner
from engine.jobs.store import JobStore
from engine.jobs.tasks import backtest_plan
from engine.model.backtest import backtest, fitted_model
from engine.model.fit import FitSettings


def mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def on_cluster(workers: int, season: int, scenarios: int, fits: Path) -> dict:
    state = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{workers}-"))
    handle = ClusterHandle(state, scheduler=None, workers=workers, nice=0, idle_s=2)
    t = time.perf_counter()
    client = handle.client()
    client.wait_for_workers(workers, timeout=120)
    start_s = time.perf_counter() - t
    runner = JobRunner(JobStore(state / "jobs.sqlite"), cluster=handle, workers=1)
    t = time.perf_counter()
    run_id = runner.submit("backtest", backtest_plan((season,), None, scenarios, 0, state_dir=fits))
    st = runner.wait(run_id, timeout=3600)
    run_s = time.perf_counter() - t
    if st["status"] != "completed":
        raise SystemExit(f"the backtest on {workers} worker(s) ended {st['status']}: {st['error']}")
    pids = client.run(lambda: __import__("os").getpid())
    mem = {"workers": [round(mib(p)) for p in pids.values()], "cluster process": round(mib(read_record(state)["pid"]))}
    report = runner.result(run_id)
    runner.shutdown()
    return {"start_s": start_s, "run_s": run_s, "mem": mem, "report": report}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--season", type=int, default=2025)
    ap.add_argument("--scenarios", type=int, default=2000)
    args = ap.parse_args()
    history = History.load(state_dir=False)
    fits = Path(tempfile.mkdtemp(prefix="bench-cluster-fits-"))
    t = time.perf_counter()
    fitted_model(history, args.season, FitSettings(), fits)
    print(f"fit for {args.season} (cached for every run below): {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    history = History.load(state_dir=fits)  # as the CLI and the cluster job do: load, then score
    load_s = time.perf_counter() - t
    ref = backtest(history, (args.season,), n_scenarios=args.scenarios, seed=0, state_dir=fits)
    ref_s = time.perf_counter() - t
    races = ref["races"]
    print(f"(a) backtest of {args.season}, {races} races x {args.scenarios:,} simulated races")
    print(f"    in this process (reference):      {ref_s:6.1f} s  (loading the history {load_s:.1f} s, then "
          f"{(ref_s - load_s) / races:.2f} s a race)")
    runs = {w: on_cluster(w, args.season, args.scenarios, fits) for w in (1, 2)}
    for w, r in runs.items():
        same = r["report"]["model"] == ref["model"] and r["report"]["races"] == races
        print(f"    local cluster, {w} worker(s):       {r['run_s']:6.1f} s  (x{r['run_s'] / ref_s:.2f} the reference; "
              f"same metrics as the reference: {same})")
    print(f"    ratio 1 worker / 2 workers: {runs[1]['run_s'] / runs[2]['run_s']:.2f}")
    print("(b) starting the local cluster (process start to workers connected):")
    for w, r in runs.items():
        print(f"    {w} worker(s): {r['start_s']:.1f} s")
    per_race = ref_s / races
    saved = per_race - runs[2]["run_s"] / races  # seconds saved per race on 2 workers
    if saved > 0:
        print(f"    starting 2 workers pays from about {runs[2]['start_s'] / saved:.0f} races "
              f"(start {runs[2]['start_s']:.1f} s / {saved:.2f} s saved a race); CLI threshold CLUSTER_RACES = {CLUSTER_RACES}")
    else:
        print(f"    2 workers save nothing a race here ({per_race:.2f} s in process, {runs[2]['run_s'] / races:.2f} s on the cluster)")
    print("(c) memory after the backtest (RSS, MiB):")
    for w, r in runs.items():
        print(f"    {w} worker(s): workers {r['mem']['workers']}, cluster process (scheduler) {r['mem']['cluster process']}")
    print(f"    this process (which ran the reference in process): {mib(psutil.Process().pid):.0f}")


if __name__ == "__main__":
    main()
