"""Server processes the tests start on 127.0.0.1 and stop by process id: an S3-compatible server
(moto's server mode) here, the Dask cluster in integration/conftest.py.

Each is started with a parent-death signal (Linux): if the pytest process is killed (a timeout,
Ctrl-C twice), the kernel ends the servers too, instead of leaving them running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 60


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when the process that started it ends (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM by process id, SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@dataclass
class S3Server:
    """A running moto server: ``endpoint`` to pass as ``endpoint_url``; ``log`` its request log
    (one line per request, which the benchmarks count)."""

    endpoint: str
    process: subprocess.Popen
    log: Path

    @property
    def options(self) -> dict:
        """fsspec storage options that reach this server with s3fs."""
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint},
        }

    def new_bucket(self) -> str:
        """A fresh bucket's URL, ``s3://<name>``."""
        import s3fs

        name = f"b-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(**self.options).mkdir(name)
        return f"s3://{name}"

    def requests(self) -> int:
        """How many requests the server answered so far."""
        return sum(
            1 for line in self.log.read_text().splitlines() if '" ' in line and "HTTP/" in line
        )


@contextlib.contextmanager
def s3_server(folder: Path) -> Iterator[S3Server]:
    """Start ``python -m moto.server`` on a free port of 127.0.0.1; stop it by process id."""
    port = free_port()
    log = folder / "moto.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield S3Server(endpoint, proc, log)
    finally:
        stop(proc)
