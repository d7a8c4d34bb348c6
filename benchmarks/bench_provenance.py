"""Section: the cost of provenance — a cold state check of 10,000 complete tasks with manifests,
and the content fingerprint against the time to write a 5-million-row Parquet file."""

from __future__ import annotations

import os
import subprocess

from common import BENCH_DIR, OURS_PYTHON, QUICK, median, scratch_dir
from report import Section, fmt_seconds, verdict

SCRIPT = str(BENCH_DIR / "provenance_workload.py")
TASKS = 1_000 if QUICK else 10_000
ROWS = int(os.environ.get("BENCH_PARQUET_ROWS", "5000000"))
DURABLE_TASKS = 200 if QUICK else 1_000


def _child(args: list[str], cwd) -> str:
    done = subprocess.run(
        [str(OURS_PYTHON), SCRIPT, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def run_section() -> list[Section]:
    section = Section(
        "Provenance",
        ["measure", "size", "seconds", "target", "result"],
        figure_column="seconds",
        key_columns=2,
    )
    work = scratch_dir("provenance")
    _child(["make", str(TASKS)], work)
    builds, checks = [], []
    for _ in range(3):  # each in a fresh process: manifests are read from disk
        build, check = map(float, _child(["check", str(TASKS)], work).split())
        builds.append(build)
        checks.append(check)
    check = median(checks)
    section.add(
        {
            "measure": "graph build",
            "size": f"{TASKS:,} tasks",
            "seconds": fmt_seconds(median(builds)),
        }
    )
    section.add(
        {
            "measure": "state check (manifests, cold process)",
            "size": f"{TASKS:,} tasks",
            "seconds": fmt_seconds(check),
            "target": "< 0.5 s",
            "result": verdict(check < 0.5) if TASKS == 10_000 else "",
        }
    )
    write, digest = map(float, _child(["fingerprint", str(ROWS)], work).split())
    share = digest / write
    section.add(
        {
            "measure": "parquet write (snappy)",
            "size": f"{ROWS:,} rows",
            "seconds": fmt_seconds(write),
        }
    )
    section.add(
        {
            "measure": f"xxh3 fingerprint ({share:.1%} of the write)",
            "size": f"{ROWS:,} rows",
            "seconds": fmt_seconds(digest),
            "target": "< 5% of write",
            "result": verdict(share < 0.05),
        }
    )
    _durability(section, work)
    section.notes.append(
        "medians of 3 fresh processes for the state check and the durable runs (taking turns "
        "with the default); best of 3 for parquet"
    )
    return [section]


def _durability(section: Section, work) -> None:
    """What ``settings.durable`` (fsync of outputs, record and folder per commit) costs on a
    first run of small tasks, against the default, side by side."""
    tasks = DURABLE_TASKS
    times: dict[str, list[float]] = {"off": [], "on": []}
    for repetition in range(3):
        for mode in ("off", "on") if repetition % 2 == 0 else ("on", "off"):
            folder = f"durable-{mode}-{repetition}"
            times[mode].append(float(_child(["durable", str(tasks), folder, mode], work)))
    off, on = median(times["off"]), median(times["on"])
    section.add(
        {
            "measure": "first run, default commits",
            "size": f"{tasks:,} tasks",
            "seconds": fmt_seconds(off),
        }
    )
    section.add(
        {
            "measure": f"first run, durable commits (fsync): {on / off:.2f}x, "
            f"{(on - off) / tasks * 1e3:.2f} ms per task more",
            "size": f"{tasks:,} tasks",
            "seconds": fmt_seconds(on),
        }
    )
