"""The Dask cluster the job runner hands its work to.

* PITWALL_DASK_SCHEDULER=tcp://HOST:PORT: an existing cluster (``dask scheduler`` and
  ``dask worker tcp://HOST:PORT`` on any machines). When it cannot be reached, the error names
  the address (the CLI then falls back to the local cluster, with a notice).
* Otherwise the embedded local cluster, nothing to install or start by hand: a process of its
  own (``python -m engine.jobs.cluster``, a Dask LocalCluster of worker processes) that the first
  Pitwall process needing it starts and records in state_dir/dask-cluster.json; every
  process on that state directory (the app, ``pitwall api --workers 2``, the CLI with
  ``--cluster``) connects to it. Its scheduler and workers live outside the web processes
  (which only submit and wait), at a lower scheduling priority (PITWALL_DASK_NICE) so the
  web processes keep answering while simulations run, and it listens on loopback only. It
  stops by itself once no Pitwall process has been connected for PITWALL_DASK_IDLE_S seconds
  (so a killed server leaves nothing behind, and a restarted one finds it still there).

Workers: by default one fewer than the machine's cores (at least one), one thread each;
PITWALL_DASK_WORKERS overrides.

Progress and cancel cross processes through the scheduler: a job's task writes its progress to
the Dask Variable ``pitwall-progress-RUNID`` (at most every half second) and stops at its next
progress point once the Dask Event ``pitwall-cancel-RUNID`` is set; the runner that owns the job
copies the progress into the SQLite store, which every process reads, and sets the event when
any process has asked (in the store) to cancel.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("pitwall.cluster")
CONNECT_TIMEOUT_S = 5.0
CLIENT_NAME = "pitwall"  # Pitwall's clients are "Client-pitwall-..." on the scheduler (tasks' own clients are "Client-worker-...")
START_TIMEOUT_S = 120.0


class ClusterUnavailable(RuntimeError):
    """The configured scheduler cannot be reached, or the local cluster did not start; the
    message names the address (or the log to read)."""


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with that id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_record(state_dir: Path) -> dict | None:
    """The local cluster recorded in the state directory (None when there is none, or it is gone)."""
    try:
        rec = json.loads((Path(state_dir) / "dask-cluster.json").read_text())
        return rec if pid_alive(int(rec["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


_HANDLES: "weakref.WeakSet[ClusterHandle]" = weakref.WeakSet()


def close_all() -> None:
    """Disconnect every client of this process (before its cluster is stopped, so none of them
    keeps trying to reconnect to a scheduler that is gone)."""
    for handle in list(_HANDLES):
        handle.close()


class ClusterHandle:
    """A client on the configured cluster or on the state directory's local one (kept for the
    process's life; reconnects when its cluster went away)."""

    def __init__(self, state_dir: Path, scheduler: str | None = None, workers: int | None = None, nice: int = 10,
                 idle_s: float = 60.0):
        _HANDLES.add(self)
        self.state_dir = Path(state_dir).resolve()
        self.scheduler = scheduler
        self.workers = workers or default_workers()
        self.nice, self.idle_s = nice, idle_s
        self._client = None
        self._lock = threading.Lock()
        self.address: str | None = scheduler
        self.dashboard: str | None = None
        self.error: str | None = None

    @classmethod
    def from_settings(cls, settings, local: bool = False) -> "ClusterHandle":
        return cls(settings.state_dir, None if local else settings.dask_scheduler, settings.dask_workers, settings.dask_nice,
                   settings.dask_idle_s)

    @property
    def record(self) -> Path:
        return self.state_dir / "dask-cluster.json"

    def client(self):
        """A connected Client (connecting, or starting the local cluster, on first use)."""
        with self._lock:
            if self._client is not None and self._client.status == "running":
                return self._client
            if self._client is not None:
                self._client.close()
                self._client = None
            try:
                self._client = self._connect()
            except ClusterUnavailable as exc:
                self.error = str(exc)
                raise
            self.error = None
            self.dashboard = self._client.dashboard_link if _has_bokeh() else None
            return self._client

    def start_in_background(self) -> None:
        """Connect (starting the local cluster if needed) in a thread, so the first job does not wait."""
        def warm():
            try:
                self.client()
            except Exception as exc:  # noqa: BLE001 - the first job reports it again
                log.warning("the Dask cluster is not available yet: %s", exc)

        threading.Thread(target=warm, name="pitwall-cluster-start", daemon=True).start()

    @property
    def ready(self) -> bool:
        return self._client is not None and self._client.status == "running"

    def _connect(self):
        from distributed import Client

        if self.scheduler:
            try:
                return Client(self.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False, name=CLIENT_NAME)
            except (OSError, TimeoutError) as exc:
                raise ClusterUnavailable(f"the Dask scheduler at {self.scheduler} cannot be reached "
                                         f"({exc.__class__.__name__}: {exc})") from None
        with _locked(self.state_dir / "dask-cluster.lock"):
            rec = read_record(self.state_dir)
            if rec is not None:
                try:
                    client = Client(rec["address"], timeout=CONNECT_TIMEOUT_S, set_as_default=False, name=CLIENT_NAME)
                    self.address = rec["address"]
                    return client
                except (OSError, TimeoutError) as exc:
                    log.info("the recorded local cluster at %s does not answer (%s): starting one", rec["address"], exc)
            rec = self._start_local()
        self.address = rec["address"]
        return Client(rec["address"], timeout=CONNECT_TIMEOUT_S, set_as_default=False, name=CLIENT_NAME)

    def _start_local(self) -> dict:
        """Start ``python -m engine.jobs.cluster`` for this state directory; its record once it serves."""
        logfile = self.state_dir / "dask-cluster.log"
        with open(logfile, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "engine.jobs.cluster", "--state-dir", str(self.state_dir),
                                     "--workers", str(self.workers), "--nice", str(self.nice), "--idle", str(self.idle_s)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            rec = read_record(self.state_dir)
            if rec is not None and rec.get("pid") == proc.pid:
                return rec
            if proc.poll() is not None:
                raise ClusterUnavailable(f"the local Dask cluster exited at start (code {proc.returncode}); see {logfile}")
            time.sleep(0.1)
        proc.kill()
        raise ClusterUnavailable(f"the local Dask cluster did not start within {START_TIMEOUT_S:.0f} s; see {logfile}")

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        return f"local Dask cluster at {self.address}" if self.address else "local Dask cluster (not started yet)"

    def info(self) -> dict:
        """What /health and the app show about the cluster."""
        out = {"scheduler": self.address, "local": not self.scheduler, "ready": self.ready, "dashboard": self.dashboard}
        if self.ready:
            try:
                out["workers"] = len(self._client.scheduler_info(n_workers=-1)["workers"])
            except Exception:  # noqa: BLE001
                pass
        if self.error:
            out["error"] = self.error
        return out

    def close(self) -> None:
        """Disconnect (the local cluster stops by itself once no process is connected)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def serve(state_dir: Path, workers: int, nice: int, idle_s: float) -> None:
    """The local cluster's process: a LocalCluster recorded in the state directory until no
    Pitwall process has been connected for ``idle_s`` seconds (or SIGTERM)."""
    from distributed import LocalCluster

    if nice:
        os.nice(nice)  # the scheduler and the workers it spawns
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0" if _has_bokeh() else None, silence_logs=logging.WARNING)
    record = state_dir / "dask-cluster.json"
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"address": cluster.scheduler_address, "pid": os.getpid(), "workers": workers,
                               "dashboard": cluster.dashboard_link if _has_bokeh() else None, "started": time.time()}))
    tmp.replace(record)
    print(f"local Dask cluster at {cluster.scheduler_address} ({workers} workers), pid {os.getpid()}", flush=True)
    idle_since = time.monotonic()
    while not stop.wait(1.0):
        try:
            connected = [c for c in list(cluster.scheduler.clients) if c.startswith(f"Client-{CLIENT_NAME}-")]
        except RuntimeError:  # the dict changed while read: look again next time
            continue
        if connected:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_s:
            print(f"no Pitwall process connected for {idle_s:.0f} s: stopping", flush=True)
            break
    try:
        if json.loads(record.read_text()).get("pid") == os.getpid():
            record.unlink()
    except (OSError, ValueError):
        pass
    cluster.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.jobs.cluster", description="Pitwall's local Dask cluster (started on demand)")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args(argv)
    serve(args.state_dir, args.workers, args.nice, args.idle)


# ----------------------------------------------------------------------------- on the workers
PROGRESS_EVERY_S = 0.5


def progress_variable(run_id: str) -> str:
    return f"pitwall-progress-{run_id}"


def cancel_event(run_id: str) -> str:
    return f"pitwall-cancel-{run_id}"


class TaskChannel:
    """Progress and cancel of one job, as seen from a task on a worker (see the module docstring).
    ``share`` and ``offset`` map this task's own 0..1 onto the job's (one task of several)."""

    def __init__(self, run_id: str, share: float = 1.0, offset: float = 0.0):
        self.run_id, self.share, self.offset = run_id, share, offset
        self._last = 0.0
        self._cancelled = False

    def _client(self):
        from distributed import get_client

        return get_client()

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S and fraction < 1.0:
            return
        self._last = now
        from distributed import Variable

        try:
            Variable(progress_variable(self.run_id), client=self._client()).set(self.offset + self.share * float(fraction))
        except Exception:  # noqa: BLE001 - progress is best effort; the work goes on
            log.debug("progress of %s not delivered", self.run_id, exc_info=True)

    def cancelled(self) -> bool:
        if self._cancelled:
            return True
        from distributed import Event

        try:
            self._cancelled = Event(cancel_event(self.run_id), client=self._client()).is_set()
        except Exception:  # noqa: BLE001
            return False
        return self._cancelled


if __name__ == "__main__":
    main()
