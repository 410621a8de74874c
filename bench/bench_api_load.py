"""Bounded load on a real API server on loopback: 20 concurrent clients each submit an optimize
job (the documented request shape on the real 2026 Bristol slate) and poll status 200 times
while the jobs run; prints p50 / p99 latencies of POST /optimize and GET .../status.

Measured in the same run, on the same server:
* reference: the same 20 x 200 status polls while no job runs (what this machine and this
  client can do at all), and the loaded figures' ratio to it;
* three loaded rounds (20 new jobs each, after the previous round's jobs ended), pooled and per
  round, with how many of the round's jobs were still unfinished when its polls ended;
* CPU and memory (RSS) of the web process and of the local Dask cluster's processes.

The load generator is the standard library's http.client, one keep-alive connection per client
thread: light enough that the bench's own interpreter is not what is measured on a small
machine (httpx builds an SSL context per client and spends about a millisecond of the bench's
interpreter per request, which with 20 threads showed up as 100 ms of latency on an idle
server). The server is polled until /health says its cluster is ready (when it reports one)
before anything is measured.

Run: .venv/bin/python bench/bench_api_load.py
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil

from engine.data.history import History
from engine.data.slates import shipped_salary_slate

ROOT = Path(__file__).resolve().parents[1]
CLIENTS, POLLS, ROUNDS = 20, 200, 3
FINISHED = ("completed", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """One keep-alive HTTP/1.1 connection to the API."""

    def __init__(self, base: str):
        u = urlsplit(base)
        self.prefix = u.path
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, self.prefix + path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def close(self) -> None:
        self.conn.close()


def start_api(state: str, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """A real `pitwall api` on a free loopback port, once it answers and its cluster is ready."""
    port = free_port()
    env = {**os.environ, "PITWALL_STATE_DIR": state, **env_extra}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("pitwall")), "api", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v1"
    for _ in range(1200):
        try:
            c = Conn(base)
            code, health = c.call("GET", "/health")
            c.close()
            if code == 200 and (health.get("cluster") or {"ready": True})["ready"]:
                break
        except OSError:
            pass
        time.sleep(0.1)
    return proc, base


def bristol_request() -> dict:
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", History.load())
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary"}
    return {"slate_id": "bristol", "drivers": [{k: v for k, v in d.model_dump(mode="json").items() if k in keep} for d in slate.drivers],
            "scenario_config": {"track_id": "bristol", "n_scenarios": 1000, "race_length": 500}, "random_seed": 1}


def load(base: str, request: dict | None, seed0: int, poll_id: str = "none") -> dict:
    """CLIENTS threads: each POSTs a job (when ``request``) then polls its status POLLS times."""
    post, poll, errors, run_ids = [], [], [], []
    lock = threading.Lock()

    def client(k: int) -> None:
        c = Conn(base)
        rid = poll_id
        if request is not None:
            t = time.perf_counter()
            code, body = c.call("POST", "/optimize", {**request, "random_seed": seed0 + k})
            with lock:
                post.append(time.perf_counter() - t)
                if code != 202:
                    errors.append(code)
                rid = body["run_id"]
                run_ids.append(rid)
        for _ in range(POLLS):
            t = time.perf_counter()
            code, _ = c.call("GET", f"/optimize/{rid}/status")
            with lock:
                poll.append(time.perf_counter() - t)
                if code != (200 if request is not None else 404):
                    errors.append(code)
        c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    c = Conn(base)
    unfinished = sum(c.call("GET", f"/optimize/{rid}/status")[1]["status"] not in FINISHED for rid in run_ids)
    c.close()
    return {"post": post, "poll": poll, "errors": errors, "run_ids": run_ids, "wall": wall, "unfinished": unfinished}


def wait_all(base: str, run_ids: list[str]) -> int:
    c = Conn(base)
    done = 0
    for rid in run_ids:
        for _ in range(1200):
            st = c.call("GET", f"/optimize/{rid}/status")[1]
            if st["status"] in FINISHED:
                done += st["status"] == "completed"
                break
            time.sleep(0.1)
    c.close()
    return done


def ms(xs, q) -> float:
    return 1000 * float(np.percentile(xs, q))


def processes(api: subprocess.Popen, state: str) -> dict[str, psutil.Process]:
    """The web process and the local cluster's processes (its scheduler process and workers)."""
    out = {"bench client (this process)": psutil.Process(), "web process (pitwall api)": psutil.Process(api.pid)}
    try:
        rec = json.loads((Path(state) / "dask-cluster.json").read_text())
        cl = psutil.Process(rec["pid"])
        out["cluster process (scheduler, nannies)"] = cl
        workers = [p for p in cl.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        for k, w in enumerate(workers):
            out[f"worker {k + 1}"] = w
    except (OSError, ValueError, KeyError, psutil.Error):
        pass
    return out


def main() -> None:
    request = bristol_request()
    with tempfile.TemporaryDirectory() as state:
        # the 20 clients share one address here, where the API counts one client: its rate and per-client job
        # limits are lifted so every client's job runs (what 20 real clients on their own addresses get)
        proc, base = start_api(state, PITWALL_RATE_LIMIT_PER_MINUTE="1000000", PITWALL_MAX_JOBS_PER_CLIENT=str(CLIENTS))
        c = Conn(base)
        warm = c.call("POST", "/optimize", {**request, "random_seed": 10_000})[1]["run_id"]  # first job: imports on the workers
        c.close()
        wait_all(base, [warm])
        procs = processes(proc, state)
        ref = load(base, None, 0)
        cpu0 = {n: p.cpu_times() for n, p in procs.items()}
        t0 = time.perf_counter()
        rounds = []
        for r in range(ROUNDS):
            out = load(base, request, 1000 * (r + 1))
            out["completed"] = wait_all(base, out["run_ids"])
            rounds.append(out)
        elapsed = time.perf_counter() - t0
        usage = {}
        for n, p in procs.items():
            try:
                a, b = cpu0[n], p.cpu_times()
                usage[n] = (100 * ((b.user + b.system) - (a.user + a.system)) / elapsed, p.memory_info().rss / 2**20)
            except psutil.Error:
                pass
        proc.terminate()
        proc.wait(30)
    post = [x for r in rounds for x in r["post"]]
    poll = [x for r in rounds for x in r["poll"]]
    errors = sum(len(r["errors"]) for r in rounds) + len(ref["errors"])
    print(f"{CLIENTS} clients; {ROUNDS} rounds of {CLIENTS} submissions + {CLIENTS} x {POLLS} status polls; errors {errors}")
    print(f"reference, no job running: GET status p50 {ms(ref['poll'], 50):.1f} ms, p99 {ms(ref['poll'], 99):.1f} ms "
          f"({len(ref['poll']) / ref['wall']:.0f} polls/s)")
    for k, r in enumerate(rounds):
        print(f"round {k + 1}: POST p50 {ms(r['post'], 50):.1f} / p99 {ms(r['post'], 99):.1f} ms; GET p50 {ms(r['poll'], 50):.1f} / "
              f"p99 {ms(r['poll'], 99):.1f} ms ({len(r['poll']) / r['wall']:.0f} polls/s); jobs unfinished when the polls ended "
              f"{r['unfinished']}/{CLIENTS}; completed afterwards {r['completed']}/{CLIENTS}")
    print(f"POST /optimize: p50 {ms(post, 50):.1f} ms, p99 {ms(post, 99):.1f} ms (n={len(post)})")
    print(f"GET status:     p50 {ms(poll, 50):.1f} ms, p99 {ms(poll, 99):.1f} ms (n={len(poll)}); "
          f"p99 / reference p99 = {ms(poll, 99) / ms(ref['poll'], 99):.2f}")
    for n, (cpu, rss) in usage.items():
        print(f"  {n}: CPU {cpu:.0f}% of a core over the loaded rounds, RSS {rss:.0f} MiB")
    # single POST latency on a quiet server
    with tempfile.TemporaryDirectory() as state:
        proc, base = start_api(state)
        lat = []
        c = Conn(base)
        for k in range(10):
            t = time.perf_counter()
            c.call("POST", "/optimize", {**request, "random_seed": 100 + k})
            lat.append(time.perf_counter() - t)
            time.sleep(1.0)
        c.close()
        proc.terminate()
        proc.wait(30)
    print(f"POST /optimize on a quiet server, 10 requests 1 s apart: p50 {ms(lat, 50):.1f} ms, max {1000 * max(lat):.1f} ms")


if __name__ == "__main__":
    main()
