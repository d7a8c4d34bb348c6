"""Run tasks on a Dask cluster: ``d6tflow.run(tasks, executor="dask")`` (needs ``d6tflow[dask]``).

- No ``address``/``client``: a local cluster (worker processes on 127.0.0.1) is started for the
  run and closed at its end.
- ``address="tcp://host:8786"``: connect to a running scheduler; the cluster is left running.
- ``client=`` (or ``executor=``) a ``distributed.Client``: use it as it is; it is not closed.

d6tflow's scheduler still decides what runs when: each task is sent to the cluster once its
dependencies are done, as one Dask task (``client.submit``, ``pure=False``, its key naming the task
id). It runs there like with ``workers=N`` (see ``shipping.py``): outputs are staged and committed
with their manifest, so a worker killed mid-task leaves nothing that counts as complete; Dask
reruns the task elsewhere, or gives up with ``KilledWorker``, reported as the task's failure.

Workers write outputs to the data folder themselves, so every worker must reach it at the same
path. When a worker is on another machine and the data folder is a local folder, the run is
refused before anything runs (``shared_folder=True`` overrides that for a shared mount d6tflow did
not recognize).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import socket
import threading
import traceback
import uuid
from concurrent.futures import Future, InvalidStateError
from typing import Any
from urllib.parse import urlparse

from d6tflow import settings
from d6tflow.errors import (
    DataFolderNotSharedError,
    MissingDependencyError,
    UsageError,
)
from d6tflow.executors.base import Executor, FinishedFuture, TaskOutcome
from d6tflow.executors.shipping import (
    Environment,
    Returned,
    WorkerDiedError,
    memory_targets,
    ship_or_finish,
    unpack,
)
from d6tflow.executors.worker import run_shipment, skip_main
from d6tflow.stores import folder_text

logger = logging.getLogger("d6tflow")

# File systems every machine of a cluster can mount at the same path (from /proc/mounts).
_SHARED_FILESYSTEMS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "beegfs",
    "afs",
    "panfs",
    "9p",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.juicefs",
    "fuse.glusterfs",
    "fuse.ceph",
    "fuse.lustre",
}


class _TaskFailed(Exception):
    """Raised on the worker when a task fails, so Dask marks it failed (and retries it when asked
    to); carries the failure back."""

    def __init__(self, returned: Returned):
        self.returned = returned
        super().__init__(f"{returned.error_type}: {returned.error_message}")

    def __reduce__(self) -> Any:
        return (type(self), (self.returned,))


def run_on_worker(shipment: bytes) -> Returned:
    """What each Dask task runs on its worker: the d6tflow task, with provenance."""
    returned = run_shipment(pickle.loads(shipment))
    if returned.failed:
        raise _TaskFailed(returned)
    return returned


class DaskExecutor(Executor):
    """Runs each task on a Dask cluster.

    >>> d6tflow.run(tasks, executor="dask")                           # a local cluster
    >>> d6tflow.run(tasks, executor="dask", workers=4)                # with 4 worker processes
    >>> d6tflow.run(tasks, executor="dask", address="tcp://scheduler:8786")
    >>> d6tflow.run(tasks, executor=client)                           # a distributed.Client

    Options: ``retries`` (Dask reruns a failed task that many times), ``shared_folder=True`` (the
    data folder is on a shared file system d6tflow does not recognize), ``max_in_flight`` (tasks
    handed to the cluster at once; default four per worker thread, at least 32), ``timeout``
    (seconds to wait for the scheduler and a first worker), ``cluster_options`` (passed to
    ``LocalCluster``).
    """

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        client: Any = None,
        retries: int = 0,
        shared_folder: bool = False,
        max_in_flight: int | None = None,
        timeout: float = 60.0,
        cluster_options: dict[str, Any] | None = None,
        **options: Any,
    ):
        if options:
            raise UsageError(
                f"executor 'dask' got unknown option(s) {sorted(options)}; it accepts workers=, "
                "address=, client=, retries=, shared_folder=, max_in_flight=, timeout= and "
                "cluster_options="
            )
        try:
            import distributed  # noqa: F401 - only checking that it is there
        except ImportError:
            raise MissingDependencyError(
                "executor='dask' needs Dask's distributed scheduler: pip install 'd6tflow[dask]'"
            ) from None
        super().__init__(workers=workers)
        self.retries = retries
        self.shared_folder = shared_folder
        self.client: Any = client
        self._address = address
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._cluster_options = cluster_options
        self._cluster: Any = None
        self._owns_client = client is None
        self._skip_main: Any = None
        self._connected = False
        self._capacity = 1
        self._remote_hosts: list[str] = []
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[Any, Future, Any]] = {}
        self._numbers = itertools.count()
        self._token = uuid.uuid4().hex[:8]
        self._env: Environment | None = None

    @property
    def capacity(self) -> int:
        self._connect()  # asked first when there is a task to run: no cluster for a no-op run
        return self._capacity

    def _connect(self) -> None:
        """Start or reach the cluster (once), size the work in flight, check the data folder.
        Called inside the run, so the scheduler's shutdown closes whatever this opened."""
        if self._connected:
            return
        self._connected = True
        import distributed

        if self.client is None and self._address is not None:
            self.client = distributed.Client(
                self._address, timeout=self._timeout, set_as_default=False
            )
        elif self.client is None:
            self._cluster, self.client = self._start_local(
                self.workers, self._timeout, self._cluster_options
            )
        self.client.wait_for_workers(1, timeout=self._timeout)
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed: no n_workers argument
            info = self.client.scheduler_info()
        workers_info = info.get("workers", {})
        threads = sum(w.get("nthreads", 1) for w in workers_info.values()) or 1
        # Enough tasks handed out to keep every worker busy across the round trips; far more
        # would only make the scheduler's wait over the futures in flight slower.
        self._capacity = self._max_in_flight or max(32, 4 * threads)
        self._remote_hosts = sorted(
            {h for h in (urlparse(a).hostname for a in workers_info) if h and not _is_local(h)}
        )
        self._check_reachable(folder_text(settings.dirpath))

    def _start_local(
        self, workers: int, timeout: float, cluster_options: dict[str, Any] | None
    ) -> tuple[Any, Any]:
        import distributed

        options: dict[str, Any] = {
            "n_workers": workers if workers > 1 else (os.cpu_count() or 1),
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": "127.0.0.1:0",
            "silence_logs": logging.ERROR,
        }
        options.update(cluster_options or {})
        # Worker processes must not re-run the user's script (see worker.skip_main); they are
        # started, and restarted after a crash, while the run lasts.
        self._skip_main = skip_main()
        self._skip_main.__enter__()
        try:
            cluster = distributed.LocalCluster(**options)
            return cluster, distributed.Client(cluster, timeout=timeout, set_as_default=False)
        except BaseException:
            self._skip_main.__exit__(None, None, None)
            self._skip_main = None
            raise

    # -- the data folder must be reachable ---------------------------------------------------

    def _check_reachable(self, folder: str) -> None:
        if not self._remote_hosts or self.shared_folder or folder in self._checked:
            return
        if "://" not in folder and not _on_shared_filesystem(folder):
            hosts = ", ".join(self._remote_hosts[:5])
            raise DataFolderNotSharedError(
                f"The Dask workers at {hosts} are not on this machine, and the data folder "
                f"{os.path.abspath(folder)} is a local folder they cannot reach: each task writes "
                "its outputs there from its worker. Put the data folder on a file system every "
                "machine mounts at the same path, e.g. "
                "d6tflow.set_dir('/mnt/shared/project/data'); if it is one already (d6tflow did "
                "not recognize the mount), pass shared_folder=True."
            )
        self._checked.add(folder)

    # -- running -----------------------------------------------------------------------------------

    def submit(self, task: Any) -> Future | FinishedFuture:
        shipment = ship_or_finish(task, self._run_env, self.run_flow, self._check_task)
        if isinstance(shipment, FinishedFuture):
            return shipment
        number = next(self._numbers)
        outer: Future = Future()
        key = f"d6tflow-{task.task_id}-{self._token}-{number}"
        # Sent as bytes: Dask would pickle the Shipment again with cloudpickle (its task blob
        # mentions __main__), walking every object in it: about half of d6tflow's cost here.
        blob = pickle.dumps(shipment, protocol=pickle.HIGHEST_PROTOCOL)
        remote = self.client.submit(
            run_on_worker, blob, key=key, pure=False, retries=self.retries or None
        )
        with self._lock:
            self._inflight[number] = (task, outer, remote)
        remote.add_done_callback(lambda fut: self._on_done(number, fut))
        return outer

    def _check_task(self, task: Any) -> None:
        self._connect()
        if self._remote_hosts and hasattr(task, "_base_dir"):
            self._check_reachable(task._base_dir())  # a task or flow with its own path=

    def _run_env(self) -> Environment:
        if self._env is None:
            self._env = Environment.capture(absolute_paths=True, sources=True)  # a run's
        return self._env

    def _on_done(self, number: int, remote: Any) -> None:
        """Runs in a thread of the client: must never raise."""
        with self._lock:
            entry = self._inflight.pop(number, None)
        if entry is None:
            return
        task, outer, _ = entry
        try:
            outcome = self._outcome(task, remote)
        except BaseException as e:
            outcome = TaskOutcome(error=e, traceback=traceback.format_exc())
        if outcome is None:
            outer.cancel()
            return
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile by shutdown()
            outer.set_result(outcome)

    def _outcome(self, task: Any, remote: Any) -> TaskOutcome | None:
        if remote.status == "finished":
            if not memory_targets(task):
                # Nothing to bring back: skip fetching the result, a round trip per task through
                # the client's single callback thread (whether another run had completed the
                # task meanwhile is only known on the worker then).
                return TaskOutcome()
            return unpack(task, remote.result())
        if remote.status == "cancelled":
            return None
        error = remote.exception()
        if isinstance(error, _TaskFailed):
            return unpack(task, error.returned)
        if type(error).__name__ == "KilledWorker":
            message = (
                f"worker process died while running {task!r} (killed or out of memory; Dask "
                f"gave up: {error}). The tasks that don't depend on it went on; check the "
                "workers' memory."
            )
            return TaskOutcome(error=WorkerDiedError(message), traceback=message)
        text = "".join(traceback.format_exception(type(error), error, remote.traceback()))
        return TaskOutcome(error=error, traceback=text)

    def shutdown(self) -> None:
        """Cancel what is still queued (after Ctrl-C or an error); close what this run started.

        Dask cannot stop a task that is already running on an existing cluster: it finishes
        there, and commits its outputs or not at all.
        """
        inflight = self._inflight
        with contextlib.suppress(Exception):
            if inflight:
                self.client.cancel([remote for _, _, remote in inflight.values()], force=True)
        for _, outer, _ in list(inflight.values()):
            outer.cancel()
        inflight.clear()
        try:
            if self._owns_client and self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close()
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close()
        finally:
            if self._skip_main is not None:
                self._skip_main.__exit__(None, None, None)
                self._skip_main = None


def _local_addresses() -> set[str]:
    found = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}
    for name in {socket.gethostname(), socket.getfqdn()}:
        found.add(name)
        with contextlib.suppress(OSError):
            found.update(socket.gethostbyname_ex(name)[2])
    with contextlib.suppress(Exception):
        import psutil  # installed with distributed

        for addresses in psutil.net_if_addrs().values():
            found.update(a.address.split("%")[0] for a in addresses)
    return found


_local: set[str] | None = None


def _is_local(host: str) -> bool:
    global _local
    if host.startswith("127."):
        return True
    if _local is None:
        _local = _local_addresses()
    return host in _local


def _on_shared_filesystem(folder: str) -> bool:
    """Is ``folder`` on a network or cluster file system (Linux: by /proc/mounts)?"""
    path = os.path.realpath(folder)
    best, fstype = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    except OSError:
        return False
    return fstype in _SHARED_FILESYSTEMS or fstype.startswith("nfs")
