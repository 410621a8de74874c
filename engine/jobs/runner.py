"""The job runner of a web process (the app's, the API's): it records a job, hands its plan's
tasks to the Dask cluster, copies progress into the store and reads cancels from it, renews
its jobs' leases, marks jobs of gone owners "interrupted by restart" and prunes old ones."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from engine.jobs.cluster import ClusterUnavailable
from engine.jobs.dispatch import POLL_S, ClusterDispatch, Dispatch, LocalDispatch, NoWorkers, Plan
from engine.jobs.store import FINISHED, LEASE_S, JobStore, runner_id
from engine.model.scenarios import Cancelled

log = logging.getLogger("pitwall.jobs")


def failure_message(run_id: str, exc: BaseException) -> str:
    """What a failed job says: the engine's own message for input it refused (ValueError and
    its kin name driver, field or rule); a worker lost mid-job in words; for anything else a
    plain statement, with the traceback going to the server log only (never to the client)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from engine.core.contracts import describe_errors

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
    from engine.jobs.cluster import ClusterHandle

    cluster = ClusterHandle.from_settings(settings)
    cluster.start_in_background()
    return JobRunner(JobStore(settings.state_dir / "jobs.sqlite"), cluster=cluster, workers=settings.job_workers,
                     on_finish=on_finish, retention_days=settings.job_retention_days)
