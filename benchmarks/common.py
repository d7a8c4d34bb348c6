"""Shared plumbing: interpreters, settings from the environment, child processes, statistics."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workload import RESULT_PREFIX

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
PEER_PYTHON = REPO / ".venv-peer" / "bin" / "python"
OURS_PYTHON = Path(sys.executable)

PEER_TIMEOUT_S = float(os.environ.get("BENCH_PEER_TIMEOUT", "300"))
# Ours is capped too: a regression that makes it as slow as the peer must not hang the run.
OURS_TIMEOUT_S = float(os.environ.get("BENCH_OURS_TIMEOUT", "600"))


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


QUICK = env_flag("BENCH_QUICK", False)


def peer_enabled() -> bool:
    return env_flag("BENCH_PEER", True)


def peer_available() -> bool:
    return peer_enabled() and PEER_PYTHON.exists()


def peer_skip_note() -> str:
    if not peer_enabled():
        return "peer skipped: BENCH_PEER=0"
    return "peer skipped: .venv-peer not found; create it with `make bench-peer`"


def scratch_dir(prefix: str) -> Path:
    """A fresh folder under benchmarks/.work/ (same disk as a user's data, unlike a tmpfs /tmp),
    or under $BENCH_SCRATCH (e.g. /dev/shm: a RAM disk takes the disk's noise out of the figures
    and leaves the CPU cost)."""
    base = Path(os.environ.get("BENCH_SCRATCH") or WORK_DIR)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@dataclass
class ChildResult:
    """What a child process reported: its BENCH records, and why it stopped early if it did."""

    records: list[dict] = field(default_factory=list)
    timed_out: bool = False
    error: str | None = None
    stderr: str = ""

    def phase(self, name: str) -> dict | None:
        return next((r for r in self.records if r.get("phase") == name), None)

    def seconds(self, name: str) -> float | None:
        record = self.phase(name)
        return record.get("seconds") if record else None


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def root_cause(stderr: str) -> str | None:
    """The last 'SomethingError: message' line of a traceback, e.g. luigi's logged RecursionError
    behind the original's generic 'Exception found running flow'."""
    matches = re.findall(r"^(\w+(?:Error|Exception): .*)$", stderr, flags=re.MULTILINE)
    return matches[-1].strip() if matches else None


def settle() -> None:
    """Flush dirty pages, so that the write-back of one measurement's files does not land inside
    the next one's timing."""
    if hasattr(os, "sync"):
        os.sync()


def run_child(
    python: Path,
    args: Sequence[str],
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    terminal: bool = False,
) -> ChildResult:
    """Run `python args...` in its own process group; on timeout kill that group (luigi may fork)
    and keep the records printed so far. ``terminal``: its stderr is a pseudo-terminal (what a
    user at a terminal has: d6tflow shows its live progress there), read and dropped."""
    settle()
    with _stderr_for(terminal) as stderr:
        proc = subprocess.Popen(
            [str(python), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            env=None if env is None else {**os.environ, **env},
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    result = ChildResult(timed_out=timed_out, stderr=_text(err))
    for line in _text(out).splitlines():
        if line.startswith(RESULT_PREFIX):
            result.records.append(json.loads(line[len(RESULT_PREFIX) :]))
    errors = [r["error"] for r in result.records if "error" in r]
    if errors:
        result.error = errors[0]
        cause = root_cause(result.stderr)
        if cause and cause not in result.error:
            # The original wraps every task failure in one generic RuntimeError; the logged
            # traceback says what actually went wrong.
            result.error = f"{cause} (then {result.error.split(':')[0]})"
    elif proc.returncode not in (0, None) and not timed_out:
        result.error = root_cause(result.stderr) or f"exit code {proc.returncode}"
    return result


@contextlib.contextmanager
def _stderr_for(terminal: bool) -> Iterator[int]:
    """A pipe (``subprocess.PIPE``), or the far end of a pseudo-terminal drained by a thread."""
    if not terminal:
        yield subprocess.PIPE
        return
    import pty
    import threading

    master, slave = pty.openpty()

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:  # the child's end closed
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield slave
    finally:
        os.close(slave)
        reader.join(5)
        os.close(master)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def best(values: Sequence[float]) -> float | None:
    return min(values) if values else None


def fmt_limit(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:.0f} s"


def describe_stop(child: ChildResult, timeout: float) -> str:
    """The table cell for a measurement that did not finish."""
    if child.timed_out:
        return f"skipped: >{fmt_limit(timeout)}"
    return "failed: " + one_line(child.error or "no result")


def one_line(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
