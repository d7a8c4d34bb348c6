"""The Parquet measurements, run as a script in a fresh process under either library.

    python benchmarks/parquet_workload.py MODE DATA_DIR REPS

MODE `io`: raw pandas and raw pyarrow write/read against a TaskPqPandas task's save()/outputLoad(),
interleaved per repetition so that noise hits both alike. MODE `compression`: pyarrow write/read
time and file size per codec, the codecs taking turns likewise. Times are best-of-REPS. Results are
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
from workload import emit

ROWS = int(os.environ.get("BENCH_PARQUET_ROWS", "5000000"))
CODECS = ("snappy", "zstd", "lz4", "none", "gzip")
# A step this slow is far outside the noise, so repeating it (gzip: ~50 s a write) buys nothing.
REPEAT_UNDER_S = 10.0


def make_frame(rows: int) -> Any:
    """Deterministic 6 columns: two int64, two float64, a low-cardinality string, a datetime."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(20240601)
    labels = np.array([f"category_{k:03d}" for k in range(200)], dtype=object)
    seconds = rng.integers(0, 3 * 365 * 86_400, rows).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "qty": rng.integers(0, 1_000, rows, dtype=np.int64),
            "price": rng.normal(100.0, 15.0, rows),
            "score": rng.random(rows),
            "label": labels[rng.integers(0, len(labels), rows)],
            "when": (np.datetime64("2020-01-01T00:00:00", "s") + seconds).astype("datetime64[ns]"),
        }
    )


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    # Flush the previous step's writes and collect its garbage outside the timing, not inside.
    settle()
    gc.collect()
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def rotated(names: list[str], shift: int) -> list[str]:
    shift %= len(names)
    return names[shift:] + names[:shift]


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def versions() -> dict[str, str]:
    import importlib.metadata

    names = ("pandas", "pyarrow", "numpy", "d6tflow")
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def run_io(data_dir: Path, reps: int) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    import d6tflow

    frame = make_frame(ROWS)
    emit(phase="info", rows=ROWS, dtypes={k: str(v) for k, v in frame.dtypes.items()}, **versions())

    class BenchFrame(d6tflow.tasks.TaskPqPandas):
        def run(self) -> None:
            self.save(frame)

    d6tflow.set_dir(str(data_dir / "d6tflow"))
    task = BenchFrame()
    pandas_path, arrow_path = data_dir / "pandas.parquet", data_dir / "arrow.parquet"
    writes: dict[str, Callable[[], Any]] = {
        "pandas_write": lambda: frame.to_parquet(pandas_path),
        "arrow_write": lambda: pq.write_table(pa.Table.from_pandas(frame), arrow_path),
        "task_save": lambda: task.save(frame),
    }
    reads: dict[str, Callable[[], Any]] = {
        "pandas_read": lambda: pd.read_parquet(pandas_path),
        "arrow_read": lambda: pq.read_table(arrow_path).to_pandas(),
        "task_load": lambda: task.outputLoad(),
    }
    times: dict[str, list[float]] = {name: [] for name in (*writes, *reads)}
    for rep in range(reps):
        for path in (pandas_path, arrow_path, Path(task.output().path)):
            remove(path)
        # Each step takes each position in turn: going first or last must not favour anyone.
        for group in (writes, reads):
            for name in rotated(list(group), rep):
                seconds, value = timed(group[name])
                times[name].append(seconds)
                del value
        if sum(values[-1] for values in times.values()) > 3 * REPEAT_UNDER_S:
            break
    loaded = task.outputLoad()
    emit(
        phase="io",
        best={name: min(values) for name, values in times.items()},
        sizes={
            "pandas": pandas_path.stat().st_size,
            "arrow": arrow_path.stat().st_size,
            "task": Path(task.output().path).stat().st_size,
        },
        task_roundtrip_equal=bool(loaded.equals(frame)),
        task_file=Path(task.output().path).name,
    )


def run_compression(data_dir: Path, reps: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Conversion from and to pandas costs the same whatever the codec, so it is kept out.
    table = pa.Table.from_pandas(make_frame(ROWS))
    emit(phase="info", rows=ROWS, **versions())
    writes: dict[str, list[float]] = {codec: [] for codec in CODECS}
    reads: dict[str, list[float]] = {codec: [] for codec in CODECS}
    sizes: dict[str, int] = {}
    # Codecs take turns, in a rotated order each repetition: a busy stretch of the machine then
    # slows one run of every codec instead of all the runs of one (codec after codec, the
    # 12:03 run of 2026-12-01 had uncompressed reads 2.5x slower than snappy ones).
    for rep in range(reps):
        for codec in rotated(list(CODECS), rep):
            if rep and writes[codec][-1] + reads[codec][-1] > REPEAT_UNDER_S:
                continue
            path = data_dir / f"{codec}.parquet"
            remove(path)
            writes[codec].append(
                timed(lambda c=codec, p=path: pq.write_table(table, p, compression=c))[0]
            )
            reads[codec].append(timed(lambda p=path: pq.read_table(p))[0])
            sizes[codec] = path.stat().st_size
            remove(path)
    for codec in CODECS:
        emit(
            phase="codec",
            codec=codec,
            write=min(writes[codec]),
            read=min(reads[codec]),
            size=sizes[codec],
            runs=len(writes[codec]),
        )


def main(argv: list[str]) -> int:
    mode, data_dir, reps = argv[0], Path(argv[1]), int(argv[2])
    try:
        if mode == "io":
            run_io(data_dir, reps)
        else:
            run_compression(data_dir, reps)
    except BaseException as e:
        emit(phase="error", error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
