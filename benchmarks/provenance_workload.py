"""Child process for the provenance section: `make` a 10,000-task chain, or time its state check
(a cold process: every manifest read from disk), or time the fingerprint of a large Parquet file,
or time a first run of many small tasks with durable commits (fsync) on or off."""

from __future__ import annotations

import sys
import time

import d6tflow
from d6tflow.graph import Graph


class Chain(d6tflow.tasks.TaskPickle):
    i = d6tflow.IntParameter()

    def requires(self):
        return Chain(i=self.i - 1) if self.i > 0 else []

    def run(self):
        self.save(self.inputLoad() + 1 if self.i > 0 else 0)


def state_check(top: int) -> None:
    start = time.perf_counter()
    graph = Graph([Chain(i=top)])
    built = time.perf_counter()
    states = graph.states()
    done = time.perf_counter()
    assert all(s.complete for s in states.values()), "the chain should be complete"
    print(f"{built - start} {done - built}")


class Leaf(d6tflow.tasks.TaskPickle):
    i = d6tflow.IntParameter()

    def run(self):
        self.save(list(range(100)))


def durable_run(n: int, durable: bool) -> None:
    """A first run of ``n`` independent tasks, each commit flushed to disk or not."""
    d6tflow.settings.durable = durable
    start = time.perf_counter()
    d6tflow.run([Leaf(i=i) for i in range(n)], execution_summary=False)
    print(time.perf_counter() - start)


def fingerprint(rows: int) -> None:
    import numpy as np
    import pandas as pd

    from d6tflow.fingerprint import file_hash

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": np.arange(rows),
            "b": rng.integers(0, 100, rows),
            "c": rng.random(rows),
            "d": rng.random(rows),
            "e": pd.Series(rng.integers(0, 1000, rows)).astype(str),
            "f": pd.date_range("2020", periods=rows, freq="s"),
        }
    )
    writes, hashes = [], []
    for _ in range(3):
        start = time.perf_counter()
        df.to_parquet("frame.parquet")
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        file_hash("frame.parquet")
        hashes.append(time.perf_counter() - start)
    print(f"{min(writes)} {min(hashes)}")


if __name__ == "__main__":
    d6tflow.set_dir("data")
    command, n = sys.argv[1], int(sys.argv[2])
    if command == "make":
        d6tflow.run(Chain(i=n - 1), execution_summary=False)
    elif command == "check":
        state_check(n - 1)
    elif command == "durable":
        d6tflow.set_dir(sys.argv[3])
        durable_run(n, sys.argv[4] == "on")
    else:
        fingerprint(n)
