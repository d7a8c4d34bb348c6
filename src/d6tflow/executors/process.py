"""Run tasks in a pool of worker processes on this machine: ``d6tflow.run(tasks, workers=N)``.

The pool is ``concurrent.futures.ProcessPoolExecutor`` with the forkserver start method (spawn where
there is none): never a plain fork, which is unsafe once the parent has threads. A fresh pool
serves each run, so workers import the current version of your modules. Tasks travel with
cloudpickle (see ``shipping.py``); workers never re-import your script, so a script without
``if __name__ == "__main__":`` works as with ``workers=1``.

A worker that dies (killed, out of memory) breaks the whole pool, and every task in flight fails
with it. Then a fresh pool takes over: the tasks that were running in other workers, or waiting,
are resubmitted; the task whose worker died is resubmitted once, and fails with
:class:`~d6tflow.executors.shipping.WorkerDiedError` if its worker dies again.

Ctrl-C (or any error) in the parent: the scheduler stops handing out tasks and calls
:meth:`ProcessExecutor.shutdown`, which stops the workers (SIGTERM, so a task unwinds and removes
its staged files; SIGKILL after ``grace_period`` seconds). Outputs are committed atomically, so an
interrupted task leaves nothing that counts as complete.

The parent killed outright (``kill -9``, out of memory): each worker watches it
(:func:`~d6tflow.executors.worker.init_worker`) and stops itself the same way, SIGTERM then exit
after ``grace_period``; the fork server and the resource tracker end once no worker is left.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from d6tflow.errors import InvalidArgumentError, UsageError
from d6tflow.executors.base import Executor, FinishedFuture, TaskOutcome
from d6tflow.executors.shipping import (
    Environment,
    Returned,
    Shipment,
    WorkerDiedError,
    ship_or_finish,
    unpack,
)
from d6tflow.executors.worker import init_worker, run_shipment, skip_main

logger = logging.getLogger("d6tflow")

#: How often a task may be in flight when the pool breaks, whoever's fault it is, before it fails.
_MAX_BREAKAGES = 4


@dataclass
class _Job:
    number: int
    task: Any
    shipment: Shipment
    outer: Future
    generation: int = -1
    deaths: int = 0  # its own worker died while running it
    breakages: int = 0  # in flight when the pool broke


class ProcessExecutor(Executor):
    """Up to ``workers`` tasks at once, each in a worker process of a pool on this machine.

    >>> d6tflow.run(tasks, workers=4)
    >>> d6tflow.run(tasks, executor="process", workers=4, start_method="spawn")

    ``start_method`` is "forkserver" (the default where available) or "spawn"; ``grace_period``
    is how long stopped workers get to clean up before they are killed.
    """

    def __init__(
        self,
        workers: int = 1,
        start_method: str | None = None,
        grace_period: float = 5.0,
        **options: Any,
    ):
        if options:
            raise UsageError(
                f"executor 'process' got unknown option(s) {sorted(options)}; it accepts "
                "workers=, start_method= and grace_period="
            )
        super().__init__(workers=max(1, int(workers)))
        if start_method is None:
            methods = multiprocessing.get_all_start_methods()
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method == "fork":
            raise InvalidArgumentError(
                "start_method='fork' is not supported: forking a process that has threads can "
                "deadlock. Use 'forkserver' or 'spawn'."
            )
        self.start_method = start_method
        self.grace_period = grace_period
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.RLock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._dead_pids: dict[int, dict[int, int | None]] = {}
        # Each pool's {pid: process} (kept: the pool drops its reference when shut down).
        self._processes: dict[int, dict] = {}
        self._inflight: dict[int, _Job] = {}
        self._numbers = itertools.count()
        self._closing = False
        self._env: Environment | None = None
        self._markers = ""  # made with the pool: a run with nothing to do leaves nothing behind
        if start_method == "forkserver":
            # Start the fork server now: it imports d6tflow (~0.2 s) while this process still
            # checks the tasks' states; workers fork from it, ready, at the first submit.
            _preload_forkserver(self._context)
            from multiprocessing import forkserver

            with _workers_skip_main():
                forkserver.ensure_running()

    # -- submitting ------------------------------------------------------------------------------

    def submit(self, task: Any) -> Future | FinishedFuture:
        shipment = ship_or_finish(task, self._run_env, self.run_flow)
        if isinstance(shipment, FinishedFuture):
            return shipment
        job = _Job(next(self._numbers), task, shipment, Future())
        with self._lock:
            self._inflight[job.number] = job
            self._ensure_pool()
            shipment.marker = os.path.join(self._markers, str(job.number))
            self._dispatch(job)
        return job.outer

    def _run_env(self) -> Environment:
        if self._env is None:
            self._env = Environment.capture()  # once per run: it holds still meanwhile
        return self._env

    def _dispatch(self, job: _Job) -> None:
        """Hand the job to the current pool (under the lock); a fresh pool if it broke."""
        for _ in range(2):
            pool = self._ensure_pool()
            job.generation = self._generation
            try:
                with _workers_skip_main():
                    inner = pool.submit(run_shipment, job.shipment)
            except BrokenProcessPool:
                self._replace_pool(job.generation)
                continue
            inner.add_done_callback(lambda inner, job=job: self._on_done(job, inner))
            return
        self._finish(job, _died(job, "the process pool could not be restarted"))

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if not self._markers:
                self._markers = tempfile.mkdtemp(prefix="d6tflow-jobs-")
            if self.start_method == "forkserver":
                _preload_forkserver(self._context)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._context,
                initializer=init_worker,
                initargs=(self.grace_period,),
            )
            processes = getattr(self._pool, "_processes", None)
            self._processes[self._generation] = processes if processes is not None else {}
        return self._pool

    def _replace_pool(self, generation: int) -> None:
        if generation != self._generation or self._pool is None:
            return  # someone replaced it already
        old, self._pool = self._pool, None
        self._generation += 1
        old.shutdown(wait=False, cancel_futures=True)

    # -- results ---------------------------------------------------------------------------------

    def _on_done(self, job: _Job, inner: Future) -> None:
        """Runs in the pool's management thread: must never raise."""
        try:
            if inner.cancelled():
                self._finish(job, None)
                return
            error = inner.exception()
            if error is None:
                returned: Returned = inner.result()
                self._finish(job, unpack(job.task, returned))
            elif isinstance(error, BrokenProcessPool):
                self._on_broken(job)
            else:
                import traceback

                text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
                self._finish(job, TaskOutcome(error=error, traceback=text))
        except BaseException as e:  # reported as the task's failure
            import traceback

            self._finish(job, TaskOutcome(error=e, traceback=traceback.format_exc()))

    def _on_broken(self, job: _Job) -> None:
        with self._lock:
            if self._closing:
                self._finish(job, None)
                return
            generation = job.generation
            if generation not in self._dead_pids:
                # The first callback of a broken pool runs before the pool stops the other
                # workers: whoever is not alive now is the one that died.
                self._dead_pids[generation] = self._dead_workers(generation)
            dead = self._dead_pids[generation]
            started_on = self._started_on(job)
            job.breakages += 1
            if started_on is not None and started_on in dead:
                job.deaths += 1
                if job.deaths >= 2:
                    self._finish(job, _died(job, _describe_exit(dead[started_on])))
                    return
                logger.warning(
                    "worker process died while running %s (%s); running it once more",
                    job.shipment.label,
                    _describe_exit(dead[started_on]),
                )
            elif job.breakages >= _MAX_BREAKAGES:
                self._finish(job, _died(job, "the process pool broke repeatedly"))
                return
            self._replace_pool(generation)
            self._dispatch(job)

    def _dead_workers(self, generation: int) -> dict[int, int | None]:
        """pid -> exit code of the broken pool's workers that are not alive."""
        processes = self._processes.get(generation)
        if processes:
            return {pid: p.exitcode for pid, p in list(processes.items()) if not p.is_alive()}
        # No view of the pool's processes (a future Python): children not alive any more.
        alive = {p.pid for p in multiprocessing.active_children()}
        started = [int(n.partition(".")[2]) for n in _listdir(self._markers)]
        return {pid: None for pid in started if pid not in alive}

    def _started_on(self, job: _Job) -> int | None:
        """The pid of the worker that started ``job`` (its marker is removed: a resubmitted job
        writes a new one)."""
        prefix = f"{job.number}."
        pids = [int(n[len(prefix) :]) for n in _listdir(self._markers) if n.startswith(prefix)]
        for pid in pids:
            _remove(os.path.join(self._markers, f"{prefix}{pid}"))
        return pids[-1] if pids else None

    def _finish(self, job: _Job, outcome: TaskOutcome | None) -> None:
        with self._lock:
            self._inflight.pop(job.number, None)
        self._started_on(job)  # removes its marker
        if outcome is None:
            job.outer.cancel()
            return
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile by shutdown()
            job.outer.set_result(outcome)

    # -- stopping --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """End of the run: let idle workers exit. After Ctrl-C or an error, tasks may still be
        running: stop them (SIGTERM, then SIGKILL after ``grace_period``)."""
        with self._lock:
            self._closing = True
            pool, self._pool = self._pool, None
            busy = list(self._inflight.values())
        try:
            if pool is not None:
                if busy:
                    _stop(pool, self.grace_period)
                else:
                    pool.shutdown(wait=True)
        finally:
            for job in busy:
                self._finish(job, None)
            if self._markers:
                shutil.rmtree(self._markers, ignore_errors=True)


def _stop(pool: ProcessPoolExecutor, grace_period: float) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + grace_period
    try:
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
    finally:  # whatever interrupts the joins: no worker is left behind
        for process in processes:
            if process.is_alive():
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    process.kill()
                process.join(1.0)
    pool.shutdown(wait=True)


def _died(job: _Job, how: str) -> TaskOutcome:
    message = (
        f"worker process died while running {job.shipment.label} (killed or out of memory; "
        f"{how}). The tasks that don't depend on it went on; check the machine's memory, or run "
        "it alone with workers=1 to see what happens."
    )
    return TaskOutcome(error=WorkerDiedError(message), traceback=message)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def _workers_skip_main() -> Iterator[None]:
    """:func:`skip_main`, with SIGINT blocked: a new worker does not start with Ctrl-C pending
    (it ignores SIGINT once up; Ctrl-C is the parent's to handle)."""
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with skip_main():
            yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


_preloaded = False


def _preload_forkserver(context: Any) -> None:
    """The fork server imports d6tflow once; each worker forks from it ready to go. Its default
    preload is ``__main__``, the user's script: that would run it again (see above)."""
    global _preloaded
    if not _preloaded:
        context.set_forkserver_preload(
            ["d6tflow.executors.worker", "cloudpickle", "concurrent.futures.process"]
        )
        _preloaded = True
