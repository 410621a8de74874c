"""How a plan's tasks run: in the calling process (``LocalDispatch``, the CLI without a cluster)
or on the Dask cluster (``ClusterDispatch``: the caller's thread only waits, copying progress
and honouring cancel)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Callable

from engine.model.scenarios import Cancelled

log = logging.getLogger("pitwall.jobs")

POLL_S = 0.5
NO_WORKERS_S = 30.0  # a job fails when its cluster has had no worker for this long
Plan = Callable[["Dispatch"], tuple[dict, Any]]


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
    from engine.jobs.cluster import TaskChannel

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

        from engine.jobs.cluster import cancel_event, progress_variable

        try:
            Variable(progress_variable(self.run_id), client=self.client).delete()
            Event(cancel_event(self.run_id), client=self.client).clear()
        except Exception:  # noqa: BLE001
            pass

    def _cancel_all(self) -> None:
        from distributed import Event

        from engine.jobs.cluster import cancel_event

        try:
            Event(cancel_event(self.run_id), client=self.client).set()
            self.client.cancel(self._futures)
        except Exception:  # noqa: BLE001 - cancelling is best effort on a failing cluster
            log.warning("cancelling the tasks of %s failed", self.run_id, exc_info=True)

    def run(self, fn, *args, share: float = 1.0, gather: bool = True):
        """A task with the job's progress (its ``share``) and cancel; its result, or with
        ``gather=False`` its future (the result stays on the cluster, to feed later tasks)."""
        from distributed import Variable

        from engine.jobs.cluster import progress_variable

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
