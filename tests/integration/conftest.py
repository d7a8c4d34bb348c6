"""A real Dask cluster on 127.0.0.1 for the integration tests: a ``dask scheduler`` and two
``dask worker`` processes (one thread each), started once per session and stopped by process id."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.servers import die_with_parent, stop

STARTUP_TIMEOUT_S = 90


@dataclass
class DaskCluster:
    address: str
    scheduler_file: Path
    logs: Path


def _dask_command(kind: str) -> list[str]:
    """``dask scheduler``/``dask worker`` from this environment."""
    script = Path(sys.executable).with_name("dask")
    if script.exists():
        return [str(script), kind]
    return [sys.executable, "-m", f"distributed.cli.dask_{kind}"]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM by pid, then SIGKILL to its process group (a nanny's worker) if it lingers."""
    stop(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # started with its own session: pgid == pid


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> Iterator[DaskCluster]:
    pytest.importorskip("distributed")
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask-cluster")
    scheduler_file = folder / "scheduler.json"
    logs = folder / "logs"
    logs.mkdir()
    # Workers start in another folder than the tests: paths must not depend on it. A task whose
    # worker dies twice fails with KilledWorker (Dask's default allows 3 deaths).
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    workdir = folder / "workers-cwd"
    workdir.mkdir()
    procs: list[subprocess.Popen] = []
    client = None

    def start(name: str, args: list[str]) -> None:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(
            subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # gone with pytest, even if it is killed
            )
        )
        log.close()

    try:
        start(
            "scheduler",
            [
                *_dask_command("scheduler"),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not scheduler_file.exists():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"dask scheduler did not start:\n{(logs / 'scheduler.log').read_text()}"
                )
            time.sleep(0.1)
        for i in range(2):
            start(
                f"worker{i}",
                [
                    *_dask_command("worker"),
                    "--scheduler-file",
                    str(scheduler_file),
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                ],
            )
        client = Client(scheduler_file=str(scheduler_file), timeout=STARTUP_TIMEOUT_S)
        client.wait_for_workers(2, timeout=STARTUP_TIMEOUT_S)
        address = client.scheduler.address
        yield DaskCluster(address=address, scheduler_file=scheduler_file, logs=logs)
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):  # workers first, then the scheduler
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def dask_client(dask_cluster) -> Iterator:
    """A client of the session's cluster, closed after the test."""
    from distributed import Client

    client = Client(dask_cluster.address, timeout=60, set_as_default=False)
    client.wait_for_workers(2, timeout=STARTUP_TIMEOUT_S)
    try:
        yield client
    finally:
        client.close()
