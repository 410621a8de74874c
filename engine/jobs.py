"""Background jobs shared by the app and the API: progress, cancel, SQLite persistence.

A job is a function ``work(progress, cancel) -> (summary: dict, obj)`` run on a thread pool.
Its status, progress (0 to 1), error and JSON summary live in SQLite (the path is a
setting), so after a restart completed results are still served and jobs that were running
are marked failed with the reason "interrupted by restart". The in-memory object (e.g. the
simulated races behind a result, for charts) is kept for the process's lifetime only.

The same inputs again (same ``cache_key``) reuse the completed job instead of running twice.
Workers never touch the UI: the app polls ``status``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from engine.scenarios import Cancelled

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED = ("completed", "failed", "cancelled")
INTERRUPTED = "interrupted by restart"
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
  created REAL NOT NULL,
  updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_cache ON jobs(cache_key, status);
"""
MIGRATIONS = {"webhook_log": "ALTER TABLE jobs ADD COLUMN webhook_log TEXT"}  # columns added after the first release

Work = Callable[[Callable[[float], None], Callable[[], bool]], tuple[dict, Any]]


class JobStore:
    """The jobs table (one SQLite file; a connection per call, safe across threads)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for col, sql in MIGRATIONS.items():
                if col not in have:
                    db.execute(sql)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def insert(self, run_id: str, kind: str, owner: str | None, cache_key: str | None, request: dict | None, webhook: str | None) -> None:
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO jobs (run_id, kind, status, progress, owner, cache_key, request, webhook, created, updated) "
                       "VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?)",
                       (run_id, kind, owner, cache_key, json.dumps(request) if request is not None else None, webhook, now, now))

    def update(self, run_id: str, **fields) -> None:
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {cols} WHERE run_id = ?", (*fields.values(), run_id))  # column names are ours

    def get(self, run_id: str) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["result"] = json.loads(out["result"]) if out["result"] else None
        out["request"] = json.loads(out["request"]) if out["request"] else None
        out["webhook_log"] = json.loads(out["webhook_log"]) if out.get("webhook_log") else []
        return out

    def log_webhook(self, run_id: str, entry: dict) -> None:
        """Append one delivery attempt to the job's webhook log (one transaction)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT webhook_log FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None:
                entries = json.loads(row["webhook_log"]) if row["webhook_log"] else []
                db.execute("UPDATE jobs SET webhook_log = ? WHERE run_id = ?", (json.dumps(entries + [entry]), run_id))
            db.execute("COMMIT")

    def prune(self, max_age_s: float) -> int:
        """Delete finished jobs last updated more than ``max_age_s`` ago; returns how many."""
        with self._db() as db:
            cur = db.execute(f"DELETE FROM jobs WHERE status IN ({', '.join('?' * len(FINISHED))}) AND updated < ?",
                             (*FINISHED, time.time() - max_age_s))
            return cur.rowcount

    def find_completed(self, cache_key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT run_id FROM jobs WHERE cache_key = ? AND status = 'completed' ORDER BY updated DESC LIMIT 1",
                             (cache_key,)).fetchone()
        return row["run_id"] if row else None

    def interrupt_unfinished(self) -> list[str]:
        """Mark pending and running jobs failed ("interrupted by restart"); their run ids."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            ids = [r["run_id"] for r in db.execute("SELECT run_id FROM jobs WHERE status IN ('pending', 'running')")]
            db.execute("UPDATE jobs SET status = 'failed', error = ?, updated = ? WHERE status IN ('pending', 'running')",
                       (INTERRUPTED, time.time()))
            db.execute("COMMIT")
            return ids

    def list(self, owner: str | None = None, limit: int = 50) -> list[dict]:
        with self._db() as db:
            if owner is None:
                rows = db.execute("SELECT run_id, kind, status, progress, error, created FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
            else:
                rows = db.execute("SELECT run_id, kind, status, progress, error, created FROM jobs WHERE owner = ? "
                                  "ORDER BY created DESC LIMIT ?", (owner, limit))
            return [dict(r) for r in rows.fetchall()]


class JobRunner:
    """Runs jobs on a thread pool; status and results through the store."""

    def __init__(self, store: JobStore, workers: int = 2, keep_objects: int = 8,
                 on_finish: Callable[[str, dict], None] | None = None, retention_days: float | None = None):
        self.store = store
        self.interrupted_ids = store.interrupt_unfinished()
        self.interrupted = len(self.interrupted_ids)
        self._retention_s = retention_days * 86400 if retention_days else None
        self._stop = threading.Event()
        if self._retention_s:
            self.pruned = store.prune(self._retention_s)
            threading.Thread(target=self._prune_daily, name="pitwall-prune", daemon=True).start()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pitwall-job")
        self._cancel: dict[str, threading.Event] = {}
        self._progress: dict[str, float] = {}
        self._objects: OrderedDict[str, Any] = OrderedDict()
        self._keep = keep_objects
        self._lock = threading.Lock()
        self._on_finish = on_finish

    def _prune_daily(self) -> None:
        while not self._stop.wait(86400):
            try:
                n = self.store.prune(self._retention_s)
                if n:
                    log.info("pruned %d finished job(s) older than %.0f days", n, self._retention_s / 86400)
            except sqlite3.Error:
                log.exception("pruning finished jobs failed")

    def submit(self, kind: str, work: Work, *, owner: str | None = None, cache_key: str | None = None,
               request: dict | None = None, webhook: str | None = None, run_id: str | None = None) -> str:
        """A new job's run id (``run_id`` when given), or the completed job with the same cache key."""
        if cache_key:
            hit = self.store.find_completed(cache_key)
            if hit:
                return hit
        run_id = run_id or str(uuid.uuid4())
        self.store.insert(run_id, kind, owner, cache_key, request, webhook)
        cancel = threading.Event()
        with self._lock:
            self._cancel[run_id] = cancel
            self._progress[run_id] = 0.0
        self._pool.submit(self._run, run_id, work, cancel)
        return run_id

    def _run(self, run_id: str, work: Work, cancel: threading.Event) -> None:
        if cancel.is_set():
            self._finish(run_id, "cancelled", error="cancelled before it started")
            return
        self.store.update(run_id, status="running")
        last = [0.0]

        def progress(f: float) -> None:
            f = min(max(float(f), 0.0), 1.0)
            self._progress[run_id] = f
            now = time.monotonic()
            if now - last[0] > 0.5:
                last[0] = now
                self.store.update(run_id, progress=f)

        try:
            summary, obj = work(progress, cancel.is_set)
        except Cancelled:
            self._finish(run_id, "cancelled", error="cancelled")
            return
        except Exception as exc:  # the failure reason is the job's result; nothing escapes the thread
            self._finish(run_id, "failed", error=failure_message(run_id, exc))
            return
        with self._lock:
            self._objects[run_id] = obj
            while len(self._objects) > self._keep:
                self._objects.popitem(last=False)
        self._finish(run_id, "completed", result=summary)

    def _finish(self, run_id: str, status: str, error: str | None = None, result: dict | None = None) -> None:
        progress = 1.0 if status == "completed" else self._progress.get(run_id, 0.0)
        self.store.update(run_id, status=status, progress=progress, error=error, result=result)
        with self._lock:
            self._cancel.pop(run_id, None)
        if self._on_finish is not None:
            try:
                self._on_finish(run_id, self.status(run_id) or {})
            except Exception:  # a failing notification must not fail the job
                pass

    def status(self, run_id: str, kind: str | None = None) -> dict | None:
        """The job's status (None for an unknown run id, or one of another ``kind``); with
        its webhook's delivery attempts when it has a webhook."""
        row = self.record(run_id, kind)
        if row is None:
            return None
        progress = self._progress.get(run_id, row["progress"]) if row["status"] == "running" else row["progress"]
        out = {"run_id": run_id, "status": row["status"], "progress": round(float(progress), 4), "error": row["error"]}
        if row.get("webhook"):
            log_ = row["webhook_log"]
            out["webhook"] = {"url": row["webhook"], "delivered": any(e.get("ok") for e in log_), "attempts": log_}
        return out

    def result(self, run_id: str, kind: str | None = None) -> dict | None:
        row = self.record(run_id, kind)
        return row["result"] if row else None

    def record(self, run_id: str, kind: str | None = None) -> dict | None:
        row = self.store.get(run_id)
        if row is None or (kind is not None and row["kind"] != kind):
            return None
        return row

    def object(self, run_id: str) -> Any:
        """The in-memory object behind a completed job of this process (None after a restart)."""
        return self._objects.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a pending or running job to stop; False when it had already finished."""
        with self._lock:
            ev = self._cancel.get(run_id)
        if ev is None:
            return False
        ev.set()
        return True

    def wait(self, run_id: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(run_id)
            if st and st["status"] in ("completed", "failed", "cancelled"):
                return st
            time.sleep(0.05)
        raise TimeoutError(f"job {run_id} still {self.status(run_id)} after {timeout} s")

    def cancel_all(self) -> None:
        """Ask every pending or running job to stop (at its next progress point)."""
        with self._lock:
            events = list(self._cancel.values())
        for ev in events:
            ev.set()

    def shutdown(self) -> None:
        self._stop.set()
        self.cancel_all()
        self._pool.shutdown(wait=True, cancel_futures=True)


def failure_message(run_id: str, exc: BaseException) -> str:
    """What a failed job says: the engine's own message for input it refused (ValueError and
    its kin name driver, field or rule); for anything else a plain statement, with the
    traceback going to the server log only (never to the client)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from engine.contracts import describe_errors

        return "; ".join(describe_errors(exc, {}))
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    log.error("job %s failed", run_id, exc_info=exc)
    return (f"the run failed on an internal error ({exc.__class__.__name__}); the server log has the details "
            f"under run id {run_id}")
