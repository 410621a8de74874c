"""Bounded load on a real API server on loopback: 20 concurrent clients x 200 status polls,
plus 20 optimize submissions (the documented request shape on the real 2026 Bristol slate);
prints p50 / p99 latencies of POST /optimize and GET .../status.

Run: .venv/bin/python bench/bench_api_load.py
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from engine.data import History
from engine.slates import shipped_salary_slate

ROOT = Path(__file__).resolve().parents[1]
CLIENTS, POLLS = 20, 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(state: str, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """A real `pitwall api` on a free loopback port, once it answers."""
    port = free_port()
    env = {**os.environ, "PITWALL_STATE_DIR": state, **env_extra}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("pitwall")), "api", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v1"
    for _ in range(300):
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, base


def main() -> None:
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", History.load())
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary"}
    request = {"slate_id": "bristol", "drivers": [{k: v for k, v in d.model_dump(mode="json").items() if k in keep} for d in slate.drivers],
               "scenario_config": {"track_id": "bristol", "n_scenarios": 1000, "race_length": 500}, "random_seed": 1}
    with tempfile.TemporaryDirectory() as state:
        proc, base = start_api(state, PITWALL_RATE_LIMIT_PER_MINUTE="1000000")
        post_lat, poll_lat, errors = [], [], []
        run_ids: list[str] = []
        lock = threading.Lock()

        def client(k: int) -> None:
            with httpx.Client(timeout=30) as c:
                t = time.perf_counter()
                r = c.post(f"{base}/optimize", json={**request, "random_seed": k})
                with lock:
                    post_lat.append(time.perf_counter() - t)
                    run_ids.append(r.json()["run_id"])
                    if r.status_code != 202:
                        errors.append(r.status_code)
                for _ in range(POLLS):
                    t = time.perf_counter()
                    r = c.get(f"{base}/optimize/{run_ids[k % len(run_ids)]}/status")
                    with lock:
                        poll_lat.append(time.perf_counter() - t)
                        if r.status_code != 200:
                            errors.append(r.status_code)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        done = 0
        for rid in run_ids:
            for _ in range(600):
                st = httpx.get(f"{base}/optimize/{rid}/status").json()
                if st["status"] in ("completed", "failed", "cancelled"):
                    done += st["status"] == "completed"
                    break
                time.sleep(0.1)
        proc.terminate()
        proc.wait(10)
    ms = lambda xs, q: 1000 * float(np.percentile(xs, q))  # noqa: E731
    print(f"{CLIENTS} clients x {POLLS} status polls + {CLIENTS} submissions in {wall:.1f} s ({len(poll_lat) / wall:.0f} polls/s), "
          f"errors {len(errors)}")
    print(f"POST /optimize: p50 {ms(post_lat, 50):.1f} ms, p99 {ms(post_lat, 99):.1f} ms (n={len(post_lat)})")
    print(f"GET status:     p50 {ms(poll_lat, 50):.1f} ms, p99 {ms(poll_lat, 99):.1f} ms (n={len(poll_lat)})")
    print(f"submitted jobs completed afterwards: {done}/{len(run_ids)}")
    # single POST latency on an idle server
    with tempfile.TemporaryDirectory() as state:
        proc, base = start_api(state)
        lat = []
        with httpx.Client() as c:
            for k in range(10):
                t = time.perf_counter()
                c.post(f"{base}/optimize", json={**request, "random_seed": 100 + k})
                lat.append(time.perf_counter() - t)
                time.sleep(1.0)
        proc.terminate()
        proc.wait(10)
    print(f"POST /optimize on a quiet server, 10 requests 1 s apart: p50 {ms(lat, 50):.1f} ms, max {1000 * max(lat):.1f} ms")


if __name__ == "__main__":
    main()
