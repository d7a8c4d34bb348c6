"""The remote-storage measurements, run as a script in a fresh process against an S3-compatible
server that bench_remote.py started (moto, on 127.0.0.1).

    python benchmarks/remote_workload.py MODE CONFIG_JSON

CONFIG_JSON: {"endpoint", "log" (the server's request log), "bucket" (s3://name), "n", "mb",
"reps", "work" (a local scratch folder), "where" (a data folder: a local path or an s3:// URL)}.

MODE `transfer`: d6tflow.push / d6tflow.pull of N small outputs and of one large output against
s3fs's own fs.put / fs.get of the same files, taking turns; then no-op pushes and pulls. MODE
`first`: the first run of the flow (N leaves below one root) in the data folder `where`, then
no-op runs and previews in the same process. MODE `noop-run` / `noop-preview`: the first no-op
run / preview of a new process. Results are `BENCH {json}` lines; requests are counted from the
server's log before and after each step.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import re
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import d6tflow
from d6tflow.summary import TaskState
from workload import emit

# A request line of the server's log: `"GET /bucket?list-type=2&prefix=x/ HTTP/1.1" 200 -`.
REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)?([A-Z]+) (\S+) HTTP/')


class Leaf(d6tflow.tasks.TaskPqPandas):
    """A tiny DataFrame: the "many small outputs" case."""

    i = d6tflow.IntParameter()

    def run(self) -> None:
        import pandas as pd

        self.save(pd.DataFrame({"i": [self.i], "x": [self.i * 0.5]}))


class Top(d6tflow.tasks.TaskJson):
    """The flow's root: N leaves below it."""

    n = d6tflow.IntParameter()

    def requires(self):  # type: ignore[no-untyped-def]
        return [Leaf(i=i) for i in range(self.n)]

    def run(self) -> None:
        self.save({"n": self.n})


class Big(d6tflow.tasks.TaskPqPandas):
    """One large output: random doubles, which Parquet cannot compress (file ~ mb MB)."""

    mb = d6tflow.IntParameter()

    def run(self) -> None:
        import numpy as np
        import pandas as pd

        rows = self.mb * 1_000_000 // 32
        values = np.random.default_rng(0).random((rows, 4))
        self.save(pd.DataFrame(values, columns=["a", "b", "c", "d"]))


class Requests:
    """The requests the server logged: counted before and after a step."""

    def __init__(self, log: str):
        self.log = Path(log)

    def lines(self) -> list[str]:
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if "HTTP/" in line
        ]

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> dict[str, Any]:
        """How many requests since ``mark``, and how many of each kind."""
        kinds: Counter[str] = Counter()
        new = self.lines()[mark:]
        for line in new:
            found = REQUEST.search(line)
            if found is None:
                continue
            method, target = found.groups()
            if "list-type=" in target:
                kind = "LIST"
            elif "/.manifests/" in target:
                kind = f"{method} record"
            else:
                kind = method
            kinds[kind] += 1
        return {"requests": len(new), "kinds": dict(kinds)}


def storage_options(config: dict) -> dict:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": config["endpoint"]},
    }


def timed(requests: Requests, action: Callable[[], Any]) -> dict[str, Any]:
    gc.collect()
    mark = requests.mark()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **requests.since(mark)}


def output_files(root: Path) -> list[Path]:
    """The output files under a local data folder (not its records: the raw copy has none)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def fresh_prefix(config: dict, label: str) -> str:
    return f"{config['bucket']}/{label}-{uuid.uuid4().hex[:8]}"


def compare_transfers(config: dict, label: str, root_task: Any, requests: Requests) -> None:
    """d6tflow.push/pull of ``root_task``'s flow against fs.put/fs.get of the same files, taking
    turns (who goes first alternates), each repetition into fresh places."""
    import s3fs

    options = storage_options(config)
    # The same options give the same (cached) file system object d6tflow uses: same session.
    fs = s3fs.S3FileSystem(**options)
    work = Path(config["work"])
    source = work / f"{label}-source"
    d6tflow.set_dir(str(source))
    d6tflow.run(root_task, execution_summary=False)
    files = output_files(source)
    size = sum(p.stat().st_size for p in files)
    times: dict[str, list[dict]] = {"push": [], "put": [], "pull": [], "get": []}
    last_remote = ""
    for rep in range(config["reps"]):
        remote = fresh_prefix(config, f"{label}-ours")
        raw = fresh_prefix(config, f"{label}-raw")
        keys = [fs._strip_protocol(f"{raw}/{p.relative_to(source).as_posix()}") for p in files]
        target = work / f"{label}-pulled-{rep}"
        got = work / f"{label}-got-{rep}"
        got_paths = [str(got / p.relative_to(source)) for p in files]

        def push(remote: str = remote) -> None:
            d6tflow.set_dir(str(source))
            d6tflow.push(root_task, remote=remote, show=False, storage_options=options)

        def put(keys: list[str] = keys) -> None:
            fs.put([str(p) for p in files], keys)

        def pull(remote: str = remote, target: Path = target) -> None:
            d6tflow.set_dir(str(target))
            d6tflow.pull(root_task, remote=remote, show=False, storage_options=options)

        def get(keys: list[str] = keys, got_paths: list[str] = got_paths) -> None:
            fs.get(keys, got_paths)

        steps = [("push", push), ("put", put)]
        for name, action in steps if rep % 2 == 0 else steps[::-1]:
            times[name].append(timed(requests, action))
        steps = [("pull", pull), ("get", get)]
        for name, action in steps if rep % 2 == 0 else steps[::-1]:
            times[name].append(timed(requests, action))
        if len(output_files(target)) != len(files) or len(output_files(got)) != len(files):
            raise RuntimeError(f"{label}: a pull or get did not bring every file back")
        # Keep the server's memory and the disk small: only the last pushed copy stays.
        if last_remote:
            fs.rm(fs._strip_protocol(last_remote), recursive=True)
        fs.rm(fs._strip_protocol(raw), recursive=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(got, ignore_errors=True)
        last_remote = remote
    emit(phase=f"{label}-transfer", files=len(files), bytes=size, best=_best(times))
    noop_transfers(config, label, root_task, last_remote, source, requests)


def _best(times: dict[str, list[dict]]) -> dict[str, dict]:
    """Per step, the fastest repetition (noise only ever adds time)."""
    return {name: min(runs, key=lambda r: r["seconds"]) for name, runs in times.items()}


def noop_transfers(
    config: dict, label: str, root_task: Any, remote: str, source: Path, requests: Requests
) -> None:
    """A push of what the remote holds already, and a pull of what is here already."""
    options = storage_options(config)
    d6tflow.set_dir(str(source))
    found: dict[str, list[dict]] = {"push": [], "pull": []}
    for _ in range(3):
        found["push"].append(
            timed(
                requests,
                lambda: d6tflow.push(root_task, remote=remote, show=False, storage_options=options),
            )
        )
        found["pull"].append(
            timed(
                requests,
                lambda: d6tflow.pull(root_task, remote=remote, show=False, storage_options=options),
            )
        )
    emit(phase=f"{label}-noop", median={name: _median(runs) for name, runs in found.items()})


def _median(runs: list[dict]) -> dict:
    middle = statistics.median(r["seconds"] for r in runs)
    return min(runs, key=lambda r: abs(r["seconds"] - middle))


def set_folder(config: dict) -> None:
    where = config["where"]
    if "://" in where:
        d6tflow.set_dir(where, **storage_options(config))
    else:
        d6tflow.set_dir(where)


def run_flow(n: int, noop: bool) -> None:
    result = d6tflow.run(Top(n=n), execution_summary=False)
    if not result:
        raise RuntimeError(f"the run of Top(n={n}) failed: {result!r}")
    if noop and result.tasks(TaskState.DONE):
        raise RuntimeError("a no-op run ran tasks: the flow was not complete")


def preview(n: int) -> None:
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        d6tflow.preview(Top(n=n))
    if "PENDING" in shown.getvalue() or "STALE" in shown.getvalue():
        raise RuntimeError("the preview of a complete flow shows tasks to run")


def list_folders(config: dict) -> None:
    """s3fs's own listing of the flow's folders: what any check of their outputs must ask."""
    import s3fs

    fs = s3fs.S3FileSystem(**storage_options(config))
    for task in (Top(n=config["n"]), Leaf(i=0)):
        folder = fs._strip_protocol(str(task.output().path)).rpartition("/")[0]
        fs.invalidate_cache(folder)
        fs.find(folder, detail=True)


def ensure_bucket(config: dict) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**storage_options(config))
    bucket = fs._strip_protocol(config["bucket"])
    if not fs.exists(bucket):
        fs.mkdir(bucket)


def main(argv: list[str]) -> int:
    mode, config = argv[0], json.loads(argv[1])
    requests, n = Requests(config["log"]), config["n"]
    try:
        ensure_bucket(config)
        if mode == "transfer":
            import fsspec
            import s3fs

            versions = {"d6tflow": d6tflow.__file__, "fsspec": fsspec.__version__}
            emit(phase="info", **versions, s3fs=s3fs.__version__)
            compare_transfers(config, "small", Top(n=n), requests)
            if config["mb"]:
                compare_transfers(config, "large", Big(mb=config["mb"]), requests)
        elif mode == "first":
            set_folder(config)
            emit(phase="first", **timed(requests, lambda: run_flow(n, noop=False)))
            runs = [timed(requests, lambda: run_flow(n, noop=True)) for _ in range(3)]
            previews = [timed(requests, lambda: preview(n)) for _ in range(3)]
            figures = {"run": _median(runs), "preview": _median(previews)}
            if "://" in config["where"]:
                floors = [timed(requests, lambda: list_folders(config)) for _ in range(3)]
                figures["listing"] = _median(floors)
            emit(phase="same-process", **figures)
        else:  # the first no-op run or preview of a new process
            set_folder(config)
            action = (lambda: run_flow(n, noop=True)) if mode == "noop-run" else lambda: preview(n)
            emit(phase=mode, **timed(requests, action))
    except BaseException as e:
        emit(phase="error", error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        raise
    return 0


if __name__ == "__main__":
    os.chdir(json.loads(sys.argv[2])["work"])
    sys.exit(main(sys.argv[1:]))
