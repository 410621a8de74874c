import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port

from engine.data.history import History

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tools" / "neo4j"
REPORT: list[str] = []


@pytest.fixture(scope="session")
def history() -> History:
    return History.load(state_dir=False)


@pytest.fixture(scope="session")
def fits_dir(tmp_path_factory):
    """A state directory shared by the tests that need fitted models (each fit is cached there once)."""
    return tmp_path_factory.mktemp("fits-state")


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Neo4j tests must run in CI, but: {reason}", pytrace=False)
    pytest.skip(f"Neo4j tests skipped: {reason}")


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory):
    """A real Neo4j 5.26 Community server (tools/neo4j launcher) on a free loopback port."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if not java or not mvn:
        _unavailable(f"java ({java or 'missing'}) and mvn ({mvn or 'missing'}) are needed")
    jar = LAUNCHER / "target" / "neo4j-launcher-1.0.jar"
    if not jar.exists() or not (LAUNCHER / "target" / "lib").exists():
        t = time.perf_counter()
        build = subprocess.run([mvn, "-q", "-B", "package", "-DskipTests"], cwd=LAUNCHER, capture_output=True, text=True, timeout=1200)
        if build.returncode != 0:
            _unavailable(f"mvn package failed: {build.stdout[-2000:]}{build.stderr[-2000:]}")
        REPORT.append(f"neo4j launcher built with Maven in {time.perf_counter() - t:.1f} s")
    port = free_port()
    data = tmp_path_factory.mktemp("neo4j")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [java, "-Xmx768m", "-cp", f"{jar}{os.pathsep}{LAUNCHER / 'target' / 'lib'}/*", "pitwall.Neo4jLauncher", str(port), str(data), "64"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("READY"):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(180) or proc.poll() is not None:
        proc.kill()
        _unavailable("the server did not start within 180 s: " + " | ".join(lines[-20:]))
    ready_line = next(line for line in lines if line.startswith("READY"))
    _, uri, version, _ = ready_line.split()
    REPORT.append(f"Neo4j {version} ready at {uri} in {time.perf_counter() - t0:.1f} s (process start to Bolt accepting)")
    yield {"uri": uri, "version": version}
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


DASK: dict = {}


def pytest_configure(config):
    """A real Dask cluster for the whole run, started with dask's own command line on loopback
    before collection (modules that build an app at import see it too): ``dask scheduler`` and
    ``dask worker`` (2 worker processes, one thread each). Every job of the app, API and CLI
    tests runs on it (PITWALL_DASK_SCHEDULER, inherited by the servers the tests start); the
    tests of the embedded local cluster ask for that one explicitly."""
    from distributed import Client

    here = Path(tempfile.mkdtemp(prefix="pitwall-test-dask-"))
    sched_file = here / "scheduler.json"
    bindir = Path(sys.executable).parent
    t0 = time.perf_counter()
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], cwd=ROOT, stdout=open(here / "scheduler.log", "wb"),
                              stderr=subprocess.STDOUT)]
    DASK.update(procs=procs, dir=here, before=os.environ.get("PITWALL_DASK_SCHEDULER"))
    end = time.monotonic() + 60
    while not sched_file.exists() and time.monotonic() < end and procs[0].poll() is None:
        time.sleep(0.1)
    if not sched_file.exists():
        raise pytest.UsageError("dask scheduler did not start: " + (here / "scheduler.log").read_text()[-2000:])
    address = json.loads(sched_file.read_text())["address"]
    procs.append(subprocess.Popen([str(bindir / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                                   "--host", "127.0.0.1"], cwd=ROOT, stdout=open(here / "workers.log", "wb"), stderr=subprocess.STDOUT))
    with Client(address, timeout=30) as c:
        c.wait_for_workers(2, timeout=120)
    REPORT.append(f"Dask scheduler {address} with 2 workers (dask CLI) ready in {time.perf_counter() - t0:.1f} s")
    DASK["address"] = address
    os.environ["PITWALL_DASK_SCHEDULER"] = address


def pytest_unconfigure(config):
    from engine.jobs.cluster import close_all

    close_all()  # this process's clients go first: none is left reconnecting to a stopped scheduler
    procs = DASK.get("procs", [])
    if DASK.get("before") is None:
        os.environ.pop("PITWALL_DASK_SCHEDULER", None)
    else:
        os.environ["PITWALL_DASK_SCHEDULER"] = DASK["before"]
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    if "dir" in DASK:
        shutil.rmtree(DASK["dir"], ignore_errors=True)


@pytest.fixture(scope="session")
def dask_cluster() -> dict:
    """The session's Dask cluster (pytest_configure): its address and a scratch directory."""
    return {"address": DASK["address"], "dir": DASK["dir"]}


@pytest.fixture(scope="session")
def report() -> list[str]:
    """Lines printed at the end of the run (measured figures worth seeing)."""
    return REPORT


def pytest_terminal_summary(terminalreporter):
    for line in REPORT:
        terminalreporter.write_line(line)
