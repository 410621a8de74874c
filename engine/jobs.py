"""Jobs shared by the app and the API: the SQLite record, and the work on a Dask cluster.

A job is a plan (engine.tasks): it names the tasks of the work and what flows between them.
The runner of the process that accepted the job (the web process of the app or of the API)
hands those tasks to the Dask cluster (engine.cluster) and only waits on them in a thread: it
never runs simulation, optimization or backtest work itself. Without a cluster (the CLI), the
same plan runs in the calling process (``LocalDispatch``).

The SQLite store (state_dir/jobs.sqlite) stays the record of every job: status, progress (0 to
1), error, JSON result, and since several processes share one state directory, which runner
owns a job and until when (a lease the owner renews every few seconds). Any process marks a
pending or running job "interrupted by restart" only when its owner's lease has run out (the
owner is gone); cancel works from any process: it is recorded in the store, and the owner sets
the job's Dask event (engine.cluster) and cancels its tasks. Progress travels from the tasks to
the owner through a Dask variable, and from the owner to every process through the store.

The same inputs again (same ``cache_key``) reuse the completed job. Workers never touch the UI:
the app polls ``status``. A worker that dies mid-job has its tasks retried by Dask on another
worker; when that fails too, the job fails with that reason, never left running.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from engine.cluster import ClusterUnavailable, pid_alive
from engine.scenarios import Cancelled

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED = ("completed", "failed", "cancelled")
INTERRUPTED = "interrupted by restart"
LEASE_S = 15.0  # a job's owner renews its lease every LEASE_S / 3; after LEASE_S without renewal the owner is gone
POLL_S = 0.5
NO_WORKERS_S = 30.0  # a job fails when its cluster has had no worker for this long
log = logging.getLogger("pitwall.jobs")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  run_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  progress REAL NOT NULL DEFAULT 0,
  error TEXT,
  owner TEXT,
  cache_key TEXT,
  request TEXT,
  result TEXT,
  webhook TEXT,
  webhook_log TEXT,
  runner TEXT,
  lease_until REAL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created REAL NOT NULL,
  updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_cache ON jobs(cache_key, status);
"""
MIGRATIONS = {  # columns added after the first release
    "webhook_log": "ALTER TABLE jobs ADD COLUMN webhook_log TEXT",
    "runner": "ALTER TABLE jobs ADD COLUMN runner TEXT",
    "lease_until": "ALTER TABLE jobs ADD COLUMN lease_until REAL",
    "cancel_requested": "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
}

Plan = Callable[["Dispatch"], tuple[dict, Any]]
_WRITE_LOCKS: dict[str, threading.Lock] = {}  # one per store file, shared by the JobStores of this process


def runner_id() -> str:
    """A runner's identity: host, process id and a random part (one process may hold several)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def runner_alive(runner: str | None) -> bool:
    """False when ``runner`` ran on this machine and its process has ended; True otherwise (a
    runner of another machine is judged by its lease alone)."""
    if not runner:
        return False
    host, _, rest = runner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return pid_alive(int(pid))


class JobStore:
    """The jobs table (one SQLite file; a connection per call, safe across threads and processes)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.executescript(SCHEMA)
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for col, sql in MIGRATIONS.items():
                if col not in have:
                    db.execute(sql)

    @contextmanager
    def _write(self):
        """This thread's connection, for a write: one writer of this process at a time (threads
        wait on a lock, woken as soon as it is free, instead of in SQLite's busy handler, which
        sleeps up to 100 ms between tries: that was the tail of POST and status latency)."""
        with _WRITE_LOCKS.setdefault(str(self.path.resolve()), threading.Lock()):
            yield self._db()

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (opened once per thread: a status poll costs one query)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: no fsync per commit (the store stays consistent; only a
            # power cut can lose the last progress updates), so progress writes do not hold up POSTs
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def insert(self, run_id: str, kind: str, owner: str | None, cache_key: str | None, request: dict | None, webhook: str | None,
               runner: str | None = None) -> None:
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO jobs (run_id, kind, status, progress, owner, cache_key, request, webhook, runner, lease_until, "
                       "created, updated) VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, kind, owner, cache_key, json.dumps(request) if request is not None else None, webhook, runner,
                        now + LEASE_S, now, now))

    def update(self, run_id: str, **fields) -> None:
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as db:
            db.execute(f"UPDATE jobs SET {cols} WHERE run_id = ?", (*fields.values(), run_id))  # column names are ours

    def finish(self, run_id: str, status: str, progress: float, error: str | None, result: dict | None) -> bool:
        """Record a job's end unless it has already ended (e.g. failed as interrupted); True when recorded."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET status = ?, progress = ?, error = ?, result = ?, updated = ? "
                             "WHERE run_id = ? AND status IN ('pending', 'running')",
                             (status, progress, error, json.dumps(result) if result is not None else None, time.time(), run_id))
            return cur.rowcount == 1

    def get(self, run_id: str, light: bool = False) -> dict | None:
        """The job's row; ``light``: without its request and result (what a status poll needs)."""
        cols = "run_id, kind, status, progress, error, webhook, webhook_log" if light else "*"
        with self._db() as db:
            row = db.execute(f"SELECT {cols} FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        if not light:
            out["result"] = json.loads(out["result"]) if out["result"] else None
            out["request"] = json.loads(out["request"]) if out["request"] else None
        out["webhook_log"] = json.loads(out["webhook_log"]) if out.get("webhook_log") else []
        return out

    def log_webhook(self, run_id: str, entry: dict) -> None:
        """Append one delivery attempt to the job's webhook log (one transaction)."""
        with self._write() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT webhook_log FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None:
                entries = json.loads(row["webhook_log"]) if row["webhook_log"] else []
                db.execute("UPDATE jobs SET webhook_log = ? WHERE run_id = ?", (json.dumps(entries + [entry]), run_id))
            db.execute("COMMIT")

    def prune(self, max_age_s: float) -> int:
        """Delete finished jobs last updated more than ``max_age_s`` ago; returns how many."""
        with self._write() as db:
            cur = db.execute(f"DELETE FROM jobs WHERE status IN ({', '.join('?' * len(FINISHED))}) AND updated < ?",
                             (*FINISHED, time.time() - max_age_s))
            return cur.rowcount

    def count_active(self, owner: str) -> int:
        """Jobs of ``owner`` that are pending or running."""
        with self._db() as db:
            row = db.execute("SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND status IN ('pending', 'running')", (owner,)).fetchone()
        return int(row["n"])

    def find_completed(self, cache_key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT run_id FROM jobs WHERE cache_key = ? AND status = 'completed' ORDER BY updated DESC LIMIT 1",
                             (cache_key,)).fetchone()
        return row["run_id"] if row else None

    def renew(self, runner: str, run_ids: list[str]) -> None:
        if not run_ids:
            return
        with self._write() as db:
            db.execute(f"UPDATE jobs SET lease_until = ? WHERE runner = ? AND status IN ('pending', 'running') "
                       f"AND run_id IN ({', '.join('?' * len(run_ids))})", (time.time() + LEASE_S, runner, *run_ids))

    def interrupt_expired(self) -> list[str]:
        """Mark failed ("interrupted by restart") the pending and running jobs whose owner is gone:
        its lease has run out, or it ran on this machine and its process has ended (a restart
        sees that at once), or the job has no owner (written by an older Pitwall). Their run ids."""
        now = time.time()
        with self._write() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT run_id, runner, lease_until FROM jobs WHERE status IN ('pending', 'running')").fetchall()
            ids = [r["run_id"] for r in rows if r["lease_until"] is None or r["lease_until"] < now or not runner_alive(r["runner"])]
            if ids:
                db.execute(f"UPDATE jobs SET status = 'failed', error = ?, updated = ? WHERE run_id IN ({', '.join('?' * len(ids))})",
                           (INTERRUPTED, now, *ids))
            db.execute("COMMIT")
            return ids

    def request_cancel(self, run_id: str) -> bool:
        """Record a cancel request for a pending or running job (any process); False when it has ended."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET cancel_requested = 1, updated = ? WHERE run_id = ? AND status IN ('pending', 'running')",
                             (time.time(), run_id))
            return cur.rowcount == 1

    def set_progress(self, items: list[tuple[str, float]]) -> None:
        """The progress of several running jobs, in one transaction."""
        if not items:
            return
        now = time.time()
        with self._write() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE jobs SET progress = ?, updated = ? WHERE run_id = ? AND status IN ('pending', 'running')",
                           [(f, now, r) for r, f in items])
            db.execute("COMMIT")

    def cancels_requested(self, run_ids: list[str]) -> set[str]:
        """Those of ``run_ids`` that some process asked to cancel (one query)."""
        if not run_ids:
            return set()
        with self._db() as db:
            rows = db.execute(f"SELECT run_id FROM jobs WHERE cancel_requested = 1 AND run_id IN ({', '.join('?' * len(run_ids))})",
                              run_ids).fetchall()
        return {r["run_id"] for r in rows}

    def cancel_requested(self, run_id: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def list(self, owner: str | None = None, limit: int = 50) -> list[dict]:
        with self._db() as db:
            if owner is None:
                rows = db.execute("SELECT run_id, kind, status, progress, error, created FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
            else:
                rows = db.execute("SELECT run_id, kind, status, progress, error, created FROM jobs WHERE owner = ? "
                                  "ORDER BY created DESC LIMIT ?", (owner, limit))
            return [dict(r) for r in rows.fetchall()]


# ----------------------------------------------------------------------------- dispatch
class NoWorkers(RuntimeError):
    """The cluster has had no worker for NO_WORKERS_S while a job waited on it."""


class Dispatch:
    """How a plan's tasks run: ``run`` (a task with progress and cancel), ``call`` (a task,
    result awaited), ``submit`` (a task whose result stays where it is, to feed later tasks),
    ``map`` (a task per item). ``share``: the part of the job's progress a step stands for."""

    def __init__(self, progress: Callable[[float], None] | None = None, cancelled: Callable[[], bool] | None = None):
        self._progress = progress or (lambda f: None)
        self._cancelled = cancelled or (lambda: False)
        self.done = 0.0

    def _step(self, share: float):
        base = self.done
        self.done = min(1.0, self.done + share)
        return lambda f: self._progress(min(1.0, base + share * min(max(float(f), 0.0), 1.0)))

    def check(self) -> None:
        if self._cancelled():
            raise Cancelled("cancelled")


class LocalDispatch(Dispatch):
    """Every task in the calling process, one after the other."""

    def run(self, fn, *args, share: float = 1.0, gather: bool = True):
        self.check()
        return fn(self._step(share), self._cancelled, *args)

    def call(self, fn, *args):
        self.check()
        return fn(*args)

    submit = call

    def map(self, fn, items: list[tuple], share: float = 0.0, gather: bool = True):
        step = self._step(share)
        out = []
        for k, args in enumerate(items):
            self.check()
            out.append(fn(*args))
            step((k + 1) / len(items))
        return out


def _channel_task(fn, run_id: str, *args):
    """The body of a ``run`` task on a worker: ``fn`` with the job's progress and cancel channel."""
    from engine.cluster import TaskChannel

    ch = TaskChannel(run_id)
    return fn(ch.progress, ch.cancelled, *args)


class ClusterDispatch(Dispatch):
    """Tasks on the Dask cluster; this thread only waits, copying progress and honouring cancel."""

    def __init__(self, client, run_id: str, progress: Callable[[float], None], cancelled: Callable[[], bool]):
        super().__init__(progress, cancelled)
        self.client, self.run_id = client, run_id
        self._futures: list = []
        self._no_workers_since: float | None = None
        self._workers_checked = 0.0

    def _key(self, fn) -> str:
        return f"pitwall-{fn.__name__}-{self.run_id[:8]}-{uuid.uuid4().hex[:8]}"

    def _wait(self, futures, on_progress: Callable[[], None] | None = None):
        """Until every future is done: progress copied and cancel checked every POLL_S (the
        thread sleeps in Dask's wait in between)."""
        from distributed import wait

        while True:
            try:
                with self.client.as_current():  # wait() uses the current client
                    wait(futures, timeout=POLL_S)
            except TimeoutError:
                pass
            self._check_workers()
            bad = [f for f in futures if f.status in ("error", "cancelled", "lost")]
            if bad:
                bad[0].result()  # raises the task's exception (KilledWorker when its workers died)
                raise RuntimeError(f"task {bad[0].key} ended {bad[0].status}")
            if on_progress is not None:
                on_progress()
            if self._cancelled():
                self._cancel_all()
                raise Cancelled("cancelled")
            if all(f.done() for f in futures):
                return

    def _check_workers(self) -> None:
        """Fail the job when the cluster has had no worker for NO_WORKERS_S (its tasks would wait
        for one forever): every worker died, or none was ever started. Asks the scheduler every 5 s."""
        now = time.monotonic()
        if now - self._workers_checked < 5.0:
            return
        self._workers_checked = now
        n = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        if n:
            self._no_workers_since = None
        elif self._no_workers_since is None:
            self._no_workers_since = time.monotonic()
        elif time.monotonic() - self._no_workers_since > NO_WORKERS_S:
            self._cancel_all()
            raise NoWorkers(f"no Dask worker has been connected to the scheduler at {self.client.scheduler.address} "
                            f"for {NO_WORKERS_S:.0f} s: start workers (dask worker ADDRESS) and submit the job again")

    def close(self) -> None:
        """Forget the job's channel on the scheduler (its progress variable and cancel event)."""
        from distributed import Event, Variable

        from engine.cluster import cancel_event, progress_variable

        try:
            Variable(progress_variable(self.run_id), client=self.client).delete()
            Event(cancel_event(self.run_id), client=self.client).clear()
        except Exception:  # noqa: BLE001
            pass

    def _cancel_all(self) -> None:
        from distributed import Event

        from engine.cluster import cancel_event

        try:
            Event(cancel_event(self.run_id), client=self.client).set()
            self.client.cancel(self._futures)
        except Exception:  # noqa: BLE001 - cancelling is best effort on a failing cluster
            log.warning("cancelling the tasks of %s failed", self.run_id, exc_info=True)

    def run(self, fn, *args, share: float = 1.0, gather: bool = True):
        """A task with the job's progress (its ``share``) and cancel; its result, or with
        ``gather=False`` its future (the result stays on the cluster, to feed later tasks)."""
        from distributed import Variable

        from engine.cluster import progress_variable

        self.check()
        step = self._step(share)
        var = Variable(progress_variable(self.run_id), client=self.client)
        try:
            var.set(0.0)
        except Exception:  # noqa: BLE001
            pass
        fut = self.client.submit(_channel_task, fn, self.run_id, *args, key=self._key(fn), pure=False)
        self._futures.append(fut)

        def copy_progress():
            try:
                step(float(var.get(timeout=0.2)))
            except Exception:  # noqa: BLE001 - no progress yet
                pass

        self._wait([fut], copy_progress)
        return fut.result() if gather else fut

    def submit(self, fn, *args):
        self.check()
        fut = self.client.submit(fn, *args, key=self._key(fn), pure=False)
        self._futures.append(fut)
        return fut

    def call(self, fn, *args):
        fut = self.submit(fn, *args)
        self._wait([fut])
        return fut.result()

    def map(self, fn, items: list[tuple], share: float = 0.0, gather: bool = True):
        self.check()
        step = self._step(share)
        futs = [self.client.submit(fn, *args, key=self._key(fn), pure=False) for args in items]
        self._futures += futs
        self._wait(futs, lambda: step(sum(f.done() for f in futs) / max(len(futs), 1)))
        return [f.result() for f in futs] if gather else futs


# ----------------------------------------------------------------------------- runner
def failure_message(run_id: str, exc: BaseException) -> str:
    """What a failed job says: the engine's own message for input it refused (ValueError and
    its kin name driver, field or rule); a worker lost mid-job in words; for anything else a
    plain statement, with the traceback going to the server log only (never to the client)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from engine.contracts import describe_errors

        return "; ".join(describe_errors(exc, {}))
    if isinstance(exc, (ValueError, NoWorkers, ClusterUnavailable)) and str(exc):
        return str(exc)  # refused input, or a cluster that cannot run it: the message names what and where
    if type(exc).__name__ == "KilledWorker":
        log.error("job %s lost its workers", run_id, exc_info=exc)
        return ("a worker process died while running this job, and again after Dask retried it on another worker "
                f"(KilledWorker); the server log has the details under run id {run_id}")
    log.error("job %s failed", run_id, exc_info=exc)
    return (f"the run failed on an internal error ({exc.__class__.__name__}); the server log has the details "
            f"under run id {run_id}")


class JobRunner:
    """Runs plans on the cluster (or in process without one); status and results through the store."""

    def __init__(self, store: JobStore, cluster=None, workers: int = 8, keep_objects: int = 8,
                 on_finish: Callable[[str, dict], None] | None = None, retention_days: float | None = None):
        self.store = store
        self.cluster = cluster
        self.id = runner_id()
        self.interrupted_ids = store.interrupt_expired()
        self.interrupted = len(self.interrupted_ids)
        self._retention_s = retention_days * 86400 if retention_days else None
        self.pruned = store.prune(self._retention_s) if self._retention_s else 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pitwall-job")
        self._mine: dict[str, threading.Event] = {}
        self._progress: dict[str, float] = {}
        self._objects: OrderedDict[str, Any] = OrderedDict()
        self._keep = keep_objects
        self._lock = threading.Lock()
        self._on_finish = on_finish
        self._stop = threading.Event()
        self._written: dict[str, float] = {}
        threading.Thread(target=self._housekeeping, name="pitwall-leases", daemon=True).start()
        threading.Thread(target=self._sync, name="pitwall-job-sync", daemon=True).start()

    # --- progress out, cancels in; leases, sweeping, pruning
    def _sync(self) -> None:
        """Every POLL_S, for all jobs of this runner at once: their progress into the store (one
        transaction, for the other processes to read) and the cancels other processes recorded
        there (one query). The job threads themselves never touch the store while they run."""
        while not self._stop.wait(POLL_S):
            try:
                with self._lock:
                    mine = dict(self._mine)
                    changed = [(r, self._progress.get(r, 0.0)) for r in mine if self._progress.get(r, 0.0) != self._written.get(r, 0.0)]
                self.store.set_progress(changed)
                self._written.update(changed)
                for run_id in self.store.cancels_requested(list(mine)):
                    mine[run_id].set()
            except sqlite3.Error:
                log.exception("job progress and cancel sync failed")

    def _housekeeping(self) -> None:
        last_prune = time.monotonic()
        while not self._stop.wait(LEASE_S / 3):
            try:
                with self._lock:
                    mine = list(self._mine)
                self.store.renew(self.id, mine)
                for run_id in self.store.interrupt_expired():
                    self._notify_end(run_id)
                if self._retention_s and time.monotonic() - last_prune > 86400:
                    last_prune = time.monotonic()
                    n = self.store.prune(self._retention_s)
                    if n:
                        log.info("pruned %d finished job(s) older than %.0f days", n, self._retention_s / 86400)
            except sqlite3.Error:
                log.exception("job housekeeping failed")

    def submit(self, kind: str, plan: Plan, *, owner: str | None = None, cache_key: str | None = None,
               request: dict | None = None, webhook: str | None = None, run_id: str | None = None, keep_object: bool = False) -> str:
        """A new job's run id (``run_id`` when given), or the completed job with the same cache key."""
        if cache_key:
            hit = self.store.find_completed(cache_key)
            if hit:
                return hit
        run_id = run_id or str(uuid.uuid4())
        self.store.insert(run_id, kind, owner, cache_key, request, webhook, runner=self.id)
        cancel = threading.Event()
        with self._lock:
            self._mine[run_id] = cancel
            self._progress[run_id] = 0.0
        self._pool.submit(self._run, run_id, plan, cancel, keep_object)
        return run_id

    def _run(self, run_id: str, plan: Plan, cancel: threading.Event, keep_object: bool) -> None:
        if cancel.is_set() or self.store.cancel_requested(run_id):
            self._finish(run_id, "cancelled", error="cancelled before it started")
            return
        self.store.update(run_id, status="running")
        cancelled = cancel.is_set  # set by cancel() here, or by _sync for a cancel recorded by another process

        def progress(f: float) -> None:
            self._progress[run_id] = min(max(float(f), 0.0), 1.0)  # written to the store by _sync

        dispatch: Dispatch | None = None
        try:
            if self.cluster is not None:
                dispatch = ClusterDispatch(self.cluster.client(), run_id, progress, cancelled)
            else:
                dispatch = LocalDispatch(progress, cancelled)
            summary, obj = plan(dispatch)
        except Cancelled:
            self._finish(run_id, "cancelled", error="cancelled")
            return
        except Exception as exc:  # the failure reason is the job's result; nothing escapes the thread
            self._finish(run_id, "failed", error=failure_message(run_id, exc))
            return
        finally:
            if isinstance(dispatch, ClusterDispatch):
                dispatch.close()
        if keep_object and obj is not None:
            with self._lock:
                self._objects[run_id] = obj
                while len(self._objects) > self._keep:
                    self._objects.popitem(last=False)
        self._finish(run_id, "completed", result=summary)

    def _finish(self, run_id: str, status: str, error: str | None = None, result: dict | None = None) -> None:
        progress = 1.0 if status == "completed" else self._progress.get(run_id, 0.0)
        recorded = self.store.finish(run_id, status, progress, error, result)
        with self._lock:
            self._mine.pop(run_id, None)
            self._progress.pop(run_id, None)
            self._written.pop(run_id, None)
        if recorded:
            self._notify_end(run_id)

    def _notify_end(self, run_id: str) -> None:
        if self._on_finish is not None:
            try:
                self._on_finish(run_id, self.status(run_id) or {})
            except Exception:  # a failing notification must not fail the job
                log.exception("notifying the end of %s failed", run_id)

    # --- reading
    def status(self, run_id: str, kind: str | None = None) -> dict | None:
        """The job's status from the store (None for an unknown run id, or one of another
        ``kind``); with its webhook's delivery attempts when it has a webhook."""
        row = self.record(run_id, kind, light=True)
        if row is None:
            return None
        progress = self._progress.get(run_id, row["progress"]) if row["status"] == "running" and run_id in self._mine else row["progress"]
        out = {"run_id": run_id, "status": row["status"], "progress": round(float(progress), 4), "error": row["error"]}
        if row.get("webhook"):
            log_ = row["webhook_log"]
            out["webhook"] = {"url": row["webhook"], "delivered": any(e.get("ok") for e in log_), "attempts": log_}
        return out

    def result(self, run_id: str, kind: str | None = None) -> dict | None:
        row = self.record(run_id, kind)
        return row["result"] if row else None

    def record(self, run_id: str, kind: str | None = None, light: bool = False) -> dict | None:
        row = self.store.get(run_id, light)
        if row is None or (kind is not None and row["kind"] != kind):
            return None
        return row

    def object(self, run_id: str) -> Any:
        """The in-memory object behind a completed job of this process (None after a restart)."""
        return self._objects.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a pending or running job to stop, whichever process runs it (recorded in the store;
        the owner stops it at its next progress point). False when it had already finished."""
        ok = self.store.request_cancel(run_id)
        with self._lock:
            ev = self._mine.get(run_id)
        if ev is not None:
            ev.set()
        return ok

    def wait(self, run_id: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(run_id)
            if st and st["status"] in FINISHED:
                return st
            time.sleep(0.05)
        raise TimeoutError(f"job {run_id} still {self.status(run_id)} after {timeout} s")

    def cancel_all(self) -> None:
        """Ask every job of this runner to stop (at its next progress point)."""
        with self._lock:
            ids = list(self._mine)
        for run_id in ids:
            self.cancel(run_id)

    def shutdown(self) -> None:
        self._stop.set()
        self.cancel_all()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.cluster is not None:
            self.cluster.close()  # disconnect (a local cluster stops by itself once no process is connected)


def make_runner(settings, on_finish: Callable[[str, dict], None] | None = None) -> JobRunner:
    """The runner of the app or the API: the state directory's store, work on the configured Dask
    cluster (PITWALL_DASK_SCHEDULER) or the shared local one."""
    from engine.cluster import ClusterHandle

    cluster = ClusterHandle.from_settings(settings)
    cluster.start_in_background()
    return JobRunner(JobStore(settings.state_dir / "jobs.sqlite"), cluster=cluster, workers=settings.job_workers,
                     on_finish=on_finish, retention_days=settings.job_retention_days)
