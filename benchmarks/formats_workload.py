"""The flavour measurements of issue #18, run as a script in a fresh process.

    python benchmarks/formats_workload.py DATA_DIR REPS

Each flavour's save and load against the raw library call it wraps, interleaved per repetition
(each step takes each position in turn) so that noise hits both alike; best of REPS. Results are
`BENCH {json}` lines.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import settle
from parquet_workload import make_frame, rotated
from workload import emit

ROWS = int(os.environ.get("BENCH_PARQUET_ROWS", "5000000"))
SQL_ROWS = int(os.environ.get("BENCH_SQL_ROWS", "1000000"))
FOREST_TREES = int(os.environ.get("BENCH_FOREST_TREES", "100"))


def timed(action: Callable[[], Any]) -> float:
    settle()
    gc.collect()
    start = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - start
    del value
    return seconds


def compare(name: str, steps: dict[str, Callable[[], Any]], reps: int, cleanup: Callable) -> None:
    """Time ``steps`` (raw_save, task_save, raw_load, task_load) and emit the best of each."""
    times: dict[str, list[float]] = {step: [] for step in steps}
    saves = [s for s in steps if s.endswith("save")]
    loads = [s for s in steps if s.endswith("load")]
    for rep in range(reps):
        cleanup()
        for group in (saves, loads):
            for step in rotated(group, rep):
                times[step].append(timed(steps[step]))
    emit(phase="flavour", name=name, best={k: min(v) for k, v in times.items()})


def task_of(base: type, obj: Any, name: str) -> Any:
    task = type(name, (base,), {"run": lambda self: self.save(obj)})()
    return task


def main(data_dir: Path, reps: int) -> None:
    import joblib
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
    import sqlalchemy as sa
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import d6tflow

    d6tflow.set_dir(str(data_dir / "d6tflow"))
    frame = make_frame(ROWS)
    emit(phase="info", rows=ROWS, sql_rows=SQL_ROWS, trees=FOREST_TREES, polars=pl.__version__)

    def unlink(*paths: Any) -> Callable[[], None]:
        return lambda: [Path(p).unlink(missing_ok=True) for p in paths]

    polars_frame = pl.from_pandas(frame)
    raw = data_dir / "raw-polars.parquet"
    task = task_of(d6tflow.tasks.TaskPqPolars, polars_frame, "BenchPolars")
    steps = {
        "raw_save": lambda: polars_frame.write_parquet(raw),
        "task_save": lambda: task.save(polars_frame),
        "raw_load": lambda: pl.read_parquet(raw),
        "task_load": lambda: task.output().load(),
    }
    compare("TaskPqPolars", steps, reps, unlink(raw, task.output().path))

    table = pa.Table.from_pandas(frame)
    raw = data_dir / "raw-arrow.parquet"
    task = task_of(d6tflow.tasks.TaskPqArrow, table, "BenchArrow")
    steps = {
        "raw_save": lambda: pq.write_table(table, raw),
        "task_save": lambda: task.save(table),
        "raw_load": lambda: pq.read_table(raw, memory_map=True),
        "task_load": lambda: task.output().load(),
    }
    compare("TaskPqArrow", steps, reps, unlink(raw, task.output().path))

    features, labels = make_classification(n_samples=5000, n_features=20, random_state=0)
    forest = RandomForestClassifier(n_estimators=FOREST_TREES, random_state=0).fit(features, labels)
    raw = data_dir / "raw.joblib"
    task = task_of(d6tflow.tasks.TaskJoblib, forest, "BenchForest")
    steps = {
        "raw_save": lambda: joblib.dump(forest, raw),
        "task_save": lambda: task.save(forest),
        "raw_load": lambda: joblib.load(raw),
        "task_load": lambda: task.output().load(),
    }
    compare("TaskJoblib", steps, reps, unlink(raw, task.output().path))

    sql_frame = make_frame(SQL_ROWS)
    task = task_of(d6tflow.tasks.TaskSQL, sql_frame, "BenchSQL")
    database = data_dir / "d6tflow" / "d6tflow.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{database}")
    steps = {
        "raw_save": lambda: sql_frame.to_sql("raw_table", engine, if_exists="replace"),
        "task_save": lambda: task.save(sql_frame),
        "raw_load": lambda: __import__("pandas").read_sql("raw_table", engine, index_col="index"),
        "task_load": lambda: task.output().load(),
    }
    compare("TaskSQL", steps, max(1, reps // 3), lambda: None)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
