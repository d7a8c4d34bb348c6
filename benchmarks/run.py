"""`make bench`: ours, a plain-Python floor and the original d6tflow side by side, in one run.

    python benchmarks/run.py [graphs|progress|parquet|import|parallel|provenance|oracle|remote|
                               formats ...]

No argument runs every section. Environment:
    BENCH_QUICK=1           only N=1,000 and fewer repetitions (for development)
    BENCH_PEER=0            skip the original d6tflow (else run from .venv-peer: `make bench-peer`)
    BENCH_PEER_TIMEOUT=300  seconds per peer process; BENCH_OURS_TIMEOUT=600 the same for ours
    BENCH_PARQUET_ROWS      rows of the Parquet (and formats) frame (default 5,000,000)
    BENCH_SQL_ROWS=1000000 BENCH_FOREST_TREES=100  the formats section's SQL rows and forest size
    BENCH_PROGRESS_REPS=5   interleaved on/off repetitions of the progress section
    BENCH_SCRATCH=/dev/shm  where the workloads write (default benchmarks/.work/, on the disk)
    D6TFLOW_ORACLE_EXAMPLES=500  examples of the rebuild oracle's long profile (quick: 50)
    BENCH_REMOTE_TASKS=1000 BENCH_REMOTE_MB=200  the remote section's sizes (quick: 200, 20)
Progress goes to stderr; the report goes to stdout and to benchmarks/.work/report.md.

Every measurement runs in child processes, so this script needs only the standard library; the
interpreter running it is "ours".
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Callable

import bench_formats
import bench_graphs
import bench_import
import bench_oracle
import bench_parallel
import bench_parquet
import bench_provenance
import bench_remote
from common import OURS_PYTHON, PEER_PYTHON, QUICK, WORK_DIR, peer_available
from report import Section, target_summary

SECTIONS: dict[str, Callable[[], list[Section]]] = {
    "graphs": lambda: [bench_graphs.run_section()],
    "progress": lambda: [bench_graphs.run_progress_section()],
    "parquet": bench_parquet.run_section,
    "import": lambda: [bench_import.run_section()],
    "parallel": bench_parallel.run_section,
    "provenance": bench_provenance.run_section,
    "oracle": bench_oracle.run_section,
    "remote": bench_remote.run_section,
    "formats": bench_formats.run_section,
}


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def header(elapsed: float, load_at_start: str) -> str:
    peer = str(PEER_PYTHON) if peer_available() else "not run"
    mode = "quick (BENCH_QUICK=1)" if QUICK else "full"
    when = datetime.datetime.now().isoformat(timespec="seconds")
    lines = [
        "# d6tflow benchmarks",
        "",
        f"- when: {when}; Python {platform.python_version()} on {platform.platform()}; "
        f"{os.cpu_count()} CPUs",
        f"- ours: {OURS_PYTHON}; peer (original d6tflow 0.2.8 over luigi): {peer}",
        f"- mode: {mode}; the whole run took {elapsed:.0f} s; 1-minute load average before it: "
        f"{load_at_start} (above ~0.5, other work was sharing the CPUs)",
        f"- workloads wrote to: {os.environ.get('BENCH_SCRATCH') or WORK_DIR}; child processes "
        "use the bytecode cache (__pycache__), as Python does by default",
        "- ratios are ours ÷ other (below 1: ours is faster); PASS/MISS compare ours to its target",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    # Measure Python as users run it: with compiled modules cached in __pycache__. Some sandboxes
    # set PYTHONDONTWRITEBYTECODE, which makes every child compile every module from source.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown section {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    start, load_at_start = time.perf_counter(), load_average()
    sections: list[Section] = []
    for name in names:
        for section in SECTIONS[name]():
            sections.append(section)
            # Shown as soon as measured, so a long run is readable while it goes on.
            print(section.render() + "\n", file=sys.stderr, flush=True)
    summary = target_summary(sections)
    parts = [
        header(time.perf_counter() - start, load_at_start),
        summary.render(),
        *(s.render() for s in sections),
    ]
    report = "\n\n".join(parts)
    print(report)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "report.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
