"""The task-graph workloads, run as a script in a fresh process under either library.

    python benchmarks/workload.py MODE N DATA_DIR

MODE is `wide` or `chain` (first run, then a no-op rerun in the same process), `wide-rerun` or
`chain-rerun` (a no-op rerun in a new process over an existing DATA_DIR), or `floor-wide` /
`floor-chain` (the same file writes with plain Python, no framework; `floor-committed-wide` /
`floor-committed-chain` also do by hand what "nothing half-written counts" costs in any
implementation: a lock per task, the file written to a temporary name, fingerprinted, a manifest
line appended, then renamed into place).

Only the public API of the original d6tflow 0.2.8 is used, so the very same file measures ours and
the peer. Results are printed as `BENCH {json}` lines, flushed one by one, because the original
prints a banner and luigi chatter, and because the parent keeps whatever phases finished before a
timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH "


def emit(**fields: Any) -> None:
    print(RESULT_PREFIX + json.dumps(fields), flush=True)


def define_tasks() -> tuple[type, type, type]:
    """Build the task classes; deferred so that floor modes never import d6tflow."""
    import d6tflow

    class TaskLeaf(d6tflow.tasks.TaskPickle):
        i = d6tflow.IntParameter()

        def run(self) -> None:
            self.save(self.i)

    class TaskAggregator(d6tflow.tasks.TaskAggregator):
        n = d6tflow.IntParameter()

        def run(self):  # type: ignore[no-untyped-def]
            for i in range(self.n):
                yield TaskLeaf(i=i)

    class TaskChain(d6tflow.tasks.TaskPickle):
        i = d6tflow.IntParameter()

        def requires(self):  # type: ignore[no-untyped-def]
            # The original's requires() must return something for i == 0; an empty list is the
            # shape both luigi and a plain graph walker accept as "no dependencies".
            return TaskChain(i=self.i - 1) if self.i > 0 else []

        def run(self) -> None:
            self.save(self.inputLoad() + 1 if self.i > 0 else 0)

    return TaskLeaf, TaskAggregator, TaskChain


def library_info() -> dict[str, str]:
    import importlib.metadata

    import d6tflow

    info = {"d6tflow": importlib.metadata.version("d6tflow"), "file": d6tflow.__file__ or ""}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        info["luigi"] = importlib.metadata.version("luigi")
    return info


def read_pickle(path: Any) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def check_outputs(kind: str, n: int, leaf: type, chain: type) -> str | None:
    """Return a reason when the run did not leave the expected files; read files directly so the
    check itself does not walk the graph (the original's outputLoad recurses over a chain)."""
    try:
        if kind == "wide":
            for i in (0, n // 2, n - 1):
                if read_pickle(leaf(i=i).output().path) != i:
                    return f"TaskLeaf(i={i}) holds a wrong value"
        elif read_pickle(chain(i=n - 1).output().path) != n - 1:
            return f"TaskChain(i={n - 1}) holds a wrong value"
    except FileNotFoundError as e:
        return f"output missing: {e.filename}"
    return None


def sample_outputs(kind: str, n: int, leaf: type, chain: type) -> list[str]:
    task = leaf if kind == "wide" else chain
    return [str(task(i=i).output().path) for i in (0, n // 2, n - 1)]


def modification_times(paths: list[str]) -> list[int | None]:
    return [os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in paths]


def root_task(kind: str, n: int, aggregator: type, chain: type) -> Any:
    return aggregator(n=n) if kind == "wide" else chain(i=n - 1)


def timed_run(kind: str, n: int, aggregator: type, chain: type) -> tuple[float, Any]:
    import d6tflow

    # Building the root task is inside the timing: a user's rerun pays for it too.
    start = time.perf_counter()
    result = d6tflow.run([root_task(kind, n, aggregator, chain)], execution_summary=False)
    return time.perf_counter() - start, result


def run_framework(kind: str, n: int, data_dir: Path, rerun_only: bool) -> None:
    import d6tflow

    emit(phase="info", **library_info())
    d6tflow.set_dir(str(data_dir))
    if os.environ.get("BENCH_PROGRESS") == "0":  # the progress on/off rows (bench_graphs)
        d6tflow.settings.progress = False
    leaf, aggregator, chain = define_tasks()
    phases = ["rerun_new_process"] if rerun_only else ["first", "rerun_same_process"]
    for phase in phases:
        samples = sample_outputs(kind, n, leaf, chain)
        before = modification_times(samples)
        seconds, result = timed_run(kind, n, aggregator, chain)
        if result is False:
            emit(phase=phase, error="d6tflow.run returned False")
            return
        problem = check_outputs(kind, n, leaf, chain)
        if phase != "first" and modification_times(samples) != before:
            problem = "the no-op rerun rewrote outputs (it ran tasks again)"
        if problem:
            emit(phase=phase, error=problem)
            return
        emit(phase=phase, seconds=seconds)


def run_floor(kind: str, n: int, data_dir: Path) -> None:
    """The same pickle files written by a plain loop: the cost of the I/O alone."""
    folder = data_dir / "floor"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    previous: Path | None = None
    for i in range(n):
        value = i
        if kind == "chain":
            value = 0 if previous is None else read_pickle(previous) + 1
        path = folder / f"Task_{i}-data.pkl"
        with open(path, "wb") as f:
            pickle.dump(value, f)
        previous = path
    emit(phase="floor", seconds=time.perf_counter() - start)


def run_committed_floor(kind: str, n: int, data_dir: Path) -> None:
    """The plain loop plus, per task, what a crash-safe commit needs whatever the framework: a
    byte lock held while the task works and one while its manifest line is appended (Linux OFD
    locks on one file), a check that the output is not there yet, the file written to a temporary
    name, fingerprinted (xxh3-128) and stat'ed, a JSON manifest line appended, then the rename."""
    import fcntl
    import struct

    import xxhash

    folder = data_dir / "floor"
    folder.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    log = str(folder / ".manifests.jsonl")

    def lock(kind_: int, byte: int) -> None:
        fcntl.fcntl(lock_fd, fcntl.F_OFD_SETLKW, struct.pack("hhqqi", kind_, 0, byte, 1, 0))

    start = time.perf_counter()
    previous: str | None = None
    for i in range(n):
        path = f"{folder}/Task_{i}-data.pkl"
        lock(fcntl.F_WRLCK, i + 1)
        with contextlib.suppress(FileNotFoundError):
            os.stat(path)
        value = i
        if kind == "chain":
            value = 0 if previous is None else read_pickle(previous) + 1
        tmp = f"{folder}/.tmp-Task_{i}-data.pkl"
        with open(tmp, "wb") as f:
            pickle.dump(value, f)
        fd = os.open(tmp, os.O_RDONLY)
        st = os.fstat(fd)
        digest = xxhash.xxh3_128(os.read(fd, st.st_size + 1)).hexdigest()
        os.close(fd)
        record = {
            "task_id": f"Task_{i}",
            "params": {"i": str(i)},
            "outputs": {"data": {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": digest}},
        }
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        lock(fcntl.F_WRLCK, 0)
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(log_fd, line)
        os.close(log_fd)
        lock(fcntl.F_UNLCK, 0)
        os.replace(tmp, path)
        lock(fcntl.F_UNLCK, i + 1)
        previous = path
    emit(phase="floor", seconds=time.perf_counter() - start)


def main(argv: list[str]) -> int:
    mode, n, data_dir = argv[0], int(argv[1]), Path(argv[2])
    data_dir.mkdir(parents=True, exist_ok=True)
    words = mode.split("-")
    kind = words[-1] if words[0] == "floor" else words[0]
    try:
        if words[0] == "floor" and "committed" in words:
            run_committed_floor(kind, n, data_dir)
        elif words[0] == "floor":
            run_floor(kind, n, data_dir)
        else:
            run_framework(kind, n, data_dir, rerun_only=mode.endswith("rerun"))
    except BaseException as e:  # report any failure, RecursionError included, as one line
        emit(phase="error", error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    return 0


if __name__ == "__main__":
    # The original's luigi writes nothing to the working directory, but be sure neither library
    # sees the repository as its CWD (a relative 'data/' would land there).
    os.chdir(sys.argv[3])
    sys.exit(main(sys.argv[1:]))
