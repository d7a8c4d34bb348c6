"""Section: remote storage (issue #16) against an S3-compatible server this section starts (moto,
on 127.0.0.1, the one the tests use): push and pull against s3fs's own put/get of the same files,
no-op pushes, and no-op runs and previews of an s3:// data folder beside a local one."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common import (
    BENCH_DIR,
    OURS_PYTHON,
    OURS_TIMEOUT_S,
    QUICK,
    REPO,
    ChildResult,
    describe_stop,
    median,
    run_child,
    scratch_dir,
)
from report import Cell, Section, fmt_ratio, verdict

WORKLOAD = BENCH_DIR / "remote_workload.py"
TASKS = int(os.environ.get("BENCH_REMOTE_TASKS") or (200 if QUICK else 1_000))
MEGABYTES = int(os.environ.get("BENCH_REMOTE_MB") or (20 if QUICK else 200))
REPS = 1 if QUICK else 3
NEW_PROCESS_RUNS = 1 if QUICK else 3
TARGET_TASKS, TARGET_MB = 1_000, 200
MAX_TRANSFER_RATIO = 1.3
MAX_NOOP_PUSH_S = 1.0
MAX_NOOP_RUN_S = 2.0


def progress(message: str) -> None:
    print(f"[remote] {message}", file=sys.stderr, flush=True)


@contextmanager
def s3_server(folder: Any) -> Iterator[Any]:
    """tests/servers.py's moto server (only the standard library is imported here)."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.servers import s3_server as start
    finally:
        sys.path.remove(str(REPO))
    with start(folder) as server:
        yield server


def child(mode: str, config: dict) -> ChildResult:
    return run_child(
        OURS_PYTHON, [str(WORKLOAD), mode, json.dumps(config)], BENCH_DIR, OURS_TIMEOUT_S
    )


def requests_cell(measured: dict | None) -> Cell:
    """`12 (LIST 2, GET record 1, …)`: how many requests the step made, by kind."""
    if not measured:
        return ""
    kinds = ", ".join(
        f"{k} {v}" for k, v in sorted(measured["kinds"].items(), key=lambda kv: -kv[1])
    )
    return f"{measured['requests']:,}" + (f" ({kinds})" if kinds else "")


def files_words(files: int, size: int) -> str:
    return f"{files:,} file{'s' if files != 1 else ''}, {size / 1e6:,.1f} MB"


def transfer_section(result: ChildResult) -> Section:
    section = Section(
        title=f"Remote 1. push and pull against s3fs's fs.put / fs.get of the same files "
        f"(seconds; best of {REPS}; moto S3 on 127.0.0.1)",
        headers=["step", "files", "d6tflow s", "fsspec s", "ratio", "requests", "target", "result"],
        figure_column="ratio",
        key_columns=2,
    )
    for label, what in (
        ("small", f"{TASKS:,} small outputs"),
        ("large", f"one {MEGABYTES} MB output"),
    ):
        found = result.phase(f"{label}-transfer")
        if found is None:
            section.add({"step": what, "d6tflow s": describe_stop(result, OURS_TIMEOUT_S)})
            continue
        best = found["best"]
        at_target = TASKS >= TARGET_TASKS if label == "small" else MEGABYTES >= TARGET_MB
        for ours, raw in (("push", "put"), ("pull", "get")):
            ratio = best[ours]["seconds"] / best[raw]["seconds"]
            section.add(
                {
                    "step": f"{ours} {what} (vs fs.{raw})",
                    "files": files_words(found["files"], found["bytes"]),
                    "d6tflow s": best[ours]["seconds"],
                    "fsspec s": best[raw]["seconds"],
                    "ratio": fmt_ratio(best[ours]["seconds"], best[raw]["seconds"]),
                    "requests": f"{requests_cell(best[ours])} vs {best[raw]['requests']:,}",
                    "target": f"<= {MAX_TRANSFER_RATIO:g}x",
                    "result": verdict(ratio <= MAX_TRANSFER_RATIO) if at_target else "",
                }
            )
    info = result.phase("info")
    if info:
        section.notes.append(
            f"d6tflow from {info['d6tflow']}; fsspec {info['fsspec']}, s3fs {info['s3fs']}"
        )
    section.notes.append(
        "d6tflow's files include the flow's records (one segment per remote folder) and its state "
        "checks on both sides; fs.put / fs.get move the output files alone. Each repetition moves "
        "into fresh places; who goes first alternates."
    )
    return section


def noop_rows(section: Section, transfer: ChildResult, firsts: dict, fresh: dict) -> None:
    noop = transfer.phase("small-noop")
    if noop is not None:
        for step, target in (("push", MAX_NOOP_PUSH_S), ("pull", None)):
            figure = noop["median"][step]
            section.add(
                {
                    "operation": f"no-op {step} (all already the same)",
                    "folder": "s3",
                    "seconds": figure["seconds"],
                    "requests": requests_cell(figure),
                    "target": f"<= {target:g} s" if target else "",
                    "result": verdict(figure["seconds"] <= target)
                    if target and TASKS >= TARGET_TASKS
                    else "",
                }
            )
    for what, phase, key in (
        ("no-op run, same process", "same-process", "run"),
        ("no-op run, new process", "noop-run", None),
        ("preview, same process", "same-process", "preview"),
        ("preview, new process", "noop-preview", None),
        ("s3fs fs.find of the flow's 2 folders (the floor)", "same-process", "listing"),
        ("first run (the setup)", "first", None),
    ):
        local = _figure(firsts, fresh, "local", phase, key)
        for where in ("s3",) if key == "listing" else ("s3", "local"):
            figure = _figure(firsts, fresh, where, phase, key)
            is_target = where == "s3" and what.startswith("no-op run")
            row: dict[str, Cell] = {"operation": what, "folder": where}
            if isinstance(figure, str):
                row["seconds"] = figure
            elif figure is not None:
                row["seconds"] = figure["seconds"]
                row["requests"] = requests_cell(figure) if where == "s3" else ""
                if where == "s3" and isinstance(local, dict):
                    row["vs local"] = fmt_ratio(figure["seconds"], local["seconds"])
                if is_target:
                    row["target"] = f"<= {MAX_NOOP_RUN_S:g} s"
                    ok = figure["seconds"] <= MAX_NOOP_RUN_S
                    row["result"] = verdict(ok) if TASKS >= TARGET_TASKS else ""
            section.add(row)
    run, floor = (_figure(firsts, fresh, "s3", "same-process", k) for k in ("run", "listing"))
    if isinstance(run, dict) and isinstance(floor, dict):
        section.notes.append(
            f"the s3 no-op run (same process) is {fmt_ratio(run['seconds'], floor['seconds'])} "
            "s3fs's own listing of the flow's folders: the listing, not d6tflow, is most of it"
            if run["seconds"] < 2 * floor["seconds"]
            else f"the s3 no-op run (same process) is "
            f"{fmt_ratio(run['seconds'], floor['seconds'])} s3fs's own listing of its folders"
        )


def _figure(firsts: dict, fresh: dict, where: str, phase: str, key: str | None) -> Any:
    """A measurement: from the first-run process (``key``: run or preview), or the median of the
    new processes; a string when it did not finish."""
    first: ChildResult = firsts[where]
    if phase in ("first", "same-process"):
        found = first.phase(phase)
        if found is None:
            return describe_stop(first, OURS_TIMEOUT_S)
        return found if key is None else found.get(key)
    runs = [r for child in fresh[where] if (r := child.phase(phase))]
    if not runs:
        stopped = next((c for c in fresh[where] if c.error or c.timed_out), first)
        return describe_stop(stopped, OURS_TIMEOUT_S) if fresh[where] else "not reached"
    middle = median([r["seconds"] for r in runs])
    return min(runs, key=lambda r: abs(r["seconds"] - middle))


def run_section() -> list[Section]:
    work = scratch_dir("remote-")
    try:
        with s3_server(work) as server:
            bucket = f"s3://bench-{uuid.uuid4().hex[:8]}"
            config = {
                "endpoint": server.endpoint,
                "log": str(server.log),
                "bucket": bucket,
                "n": TASKS,
                "mb": MEGABYTES,
                "reps": REPS,
            }

            def configured(name: str, where: str = "") -> dict:
                folder = work / name
                folder.mkdir(parents=True, exist_ok=True)
                return {**config, "work": str(folder), "where": where}

            progress(
                f"push/pull: {TASKS:,} small outputs, one {MEGABYTES} MB output; best of {REPS}"
            )
            transfer = child("transfer", configured("transfer"))
            folders = {"s3": f"{bucket}/flow", "local": str(work / "flow-local" / "data")}
            firsts, fresh = {}, {"s3": [], "local": []}
            for where, folder in folders.items():
                progress(f"first run and no-op runs of {TASKS:,} tasks in a {where} data folder")
                firsts[where] = child("first", configured(f"flow-{where}", folder))
            for _ in range(NEW_PROCESS_RUNS):
                for where, folder in folders.items():
                    if firsts[where].error or firsts[where].timed_out:
                        continue
                    progress(f"no-op run and preview in a new process, {where} data folder")
                    for mode in ("noop-run", "noop-preview"):
                        fresh[where].append(child(mode, configured(f"flow-{where}", folder)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    noop = Section(
        title=f"Remote 2. no-op push, no-op run and preview of {TASKS:,} tasks (+ their root): "
        "s3:// data folder against a local one (seconds)",
        headers=["operation", "folder", "seconds", "requests", "vs local", "target", "result"],
        figure_column="seconds",
        key_columns=2,
    )
    noop_rows(noop, transfer, firsts, fresh)
    noop.notes.append(
        f"same process: median of 3 after the first run; new process: median of "
        f"{NEW_PROCESS_RUNS} processes, the call alone (not the import); requests counted in the "
        "server's log"
    )
    for name, result in (("transfer", transfer), *firsts.items()):
        if result.error:
            noop.notes.append(f"{name} failed: {result.error}")
    return [transfer_section(transfer), noop]


if __name__ == "__main__":
    for section in run_section():
        print(section.render() + "\n")
