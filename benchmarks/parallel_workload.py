"""The parallel workloads, run as a script in a fresh process.

    python benchmarks/parallel_workload.py cpu WORKERS DATA_DIR
    python benchmarks/parallel_workload.py dask N REPS DATA_DIR

`cpu`: 4 independent tasks that each burn 1 s of CPU, run with `d6tflow.run(tasks, workers=W)`,
then 4 more in a second run in the same process; only the public API of the original d6tflow
0.2.8 is used, so the very same file measures ours and the peer. The figure is the wall time of
the run call, starting worker processes included.

`dask`: one local Dask cluster (2 worker processes, 1 thread each, 127.0.0.1) serves REPS
interleaved pairs of runs of N independent trivial tasks: each task pickles its number to a file.
"direct" submits them with `client.submit` (Dask's own per-task cost, plus the same file write);
"ours" runs the same tasks with `d6tflow.run(tasks, executor=client)` (plus d6tflow's: shipping,
the per-task lock, staging, manifest). Cluster start-up counts in neither.
"""

from __future__ import annotations

import pickle
import shutil
import sys
import time
from pathlib import Path

from workload import emit

CPU_SECONDS = 1.0
CPU_TASKS = 4


def burn(seconds: float) -> int:
    """Busy work for `seconds` of this process's CPU time (wall time grows if cores are busy)."""
    start, count = time.process_time(), 0
    while time.process_time() - start < seconds:
        for _ in range(10_000):
            count += 1
    return count


def cpu(workers: int, data: str) -> None:
    import d6tflow

    class TaskBurn(d6tflow.tasks.TaskPickle):
        i = d6tflow.IntParameter()

        def run(self) -> None:
            self.save(burn(CPU_SECONDS))

    d6tflow.set_dir(data)
    # The first run starts the worker processes; a second run in the same process (a notebook,
    # a script with several flows) finds ours' fork server already up.
    for phase, first in ((f"workers={workers}", 0), (f"workers={workers} again", CPU_TASKS)):
        tasks = [TaskBurn(i=i) for i in range(first, first + CPU_TASKS)]
        start = time.perf_counter()
        d6tflow.run(tasks, workers=workers, execution_summary=False)
        seconds = time.perf_counter() - start
        if not all(t.complete() for t in tasks):
            emit(error="not every task completed")
            return
        emit(phase=phase, seconds=seconds)


def write_number(path: str, i: int) -> str:
    with open(path, "wb") as f:
        pickle.dump(i, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def dask(n: int, reps: int, data: str) -> None:
    import logging

    from distributed import Client, LocalCluster, wait

    import d6tflow

    class TaskTrivial(d6tflow.tasks.TaskPickle):
        i = d6tflow.IntParameter()

        def run(self) -> None:
            self.save(self.i)

    root = Path(data)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        client.submit(write_number, str(root / "warm"), 0).result()  # warm both paths up once
        for rep in range(reps):
            folder = root / f"direct-{rep}"
            folder.mkdir(parents=True)
            start = time.perf_counter()
            futures = [
                client.submit(write_number, str(folder / f"{i}.pkl"), i, pure=False)
                for i in range(n)
            ]
            wait(futures)
            emit(phase="direct", seconds=time.perf_counter() - start)
            del futures

            d6tflow.set_dir(root / f"ours-{rep}")
            tasks = [TaskTrivial(i=i) for i in range(n)]
            start = time.perf_counter()
            result = d6tflow.run(tasks, executor=client, execution_summary=False)
            emit(phase="ours", seconds=time.perf_counter() - start)
            if not result:
                emit(error=f"{len(result.failures)} tasks failed")
                return
            for old in (folder, root / f"ours-{rep}"):
                shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "cpu":
        cpu(int(sys.argv[2]), sys.argv[3])
    elif mode == "dask":
        dask(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
