"""The SQLite record of every job (state_dir/jobs.sqlite), shared by the processes of one state
directory: status, progress (0 to 1), error, JSON result, which runner owns a job and until
when (a lease the owner renews every few seconds), and cancel requests."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from engine.jobs.cluster import pid_alive

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED = ("completed", "failed", "cancelled")
INTERRUPTED = "interrupted by restart"
LEASE_S = 15.0  # a job's owner renews its lease every LEASE_S / 3; after LEASE_S without renewal the owner is gone
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
