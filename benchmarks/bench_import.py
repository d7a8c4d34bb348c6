"""Section 3: how long `import d6tflow` takes in a fresh interpreter, net of its own start-up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import (
    OURS_PYTHON,
    PEER_PYTHON,
    QUICK,
    median,
    one_line,
    peer_available,
    peer_skip_note,
    root_cause,
    scratch_dir,
)
from report import Section, fmt_ratio, fmt_seconds, verdict

RUNS = 3 if QUICK else 7
MAX_IMPORT_S = 0.15


def wall_time(python: Path, code: str, cwd: Path) -> tuple[float, str]:
    """Wall-clock seconds of `python -c code` (the user's experience), and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, done.stdout


def import_failure(python: Path, cwd: Path) -> str | None:
    """Why `import d6tflow` fails under this interpreter, if it does (also warms the file cache)."""
    done = subprocess.run(
        [str(python), "-c", "import d6tflow"], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode == 0:
        return None
    return one_line(root_cause(done.stderr) or done.stderr or f"exit code {done.returncode}")


def progress(message: str) -> None:
    print(f"[import] {message}", file=sys.stderr, flush=True)


def run_section() -> Section:
    interpreters = {"ours": OURS_PYTHON}
    if peer_available():
        interpreters["peer"] = PEER_PYTHON
    # An empty working directory, so that nothing in the repository shadows the installed package.
    cwd = scratch_dir("import-")
    baseline: dict[str, list[float]] = {who: [] for who in interpreters}
    imported: dict[str, list[float]] = {who: [] for who in interpreters}
    printed: dict[str, str] = {}
    failures: dict[str, str] = {}
    try:
        for who, python in list(interpreters.items()):
            failure = import_failure(python, cwd)
            if failure:
                failures[who] = failure
                del interpreters[who]
        # Interleaved, so that a noisy moment hits every interpreter alike.
        for run in range(RUNS):
            for who, python in interpreters.items():
                baseline[who].append(wall_time(python, "pass", cwd)[0])
                seconds, out = wall_time(python, "import d6tflow", cwd)
                imported[who].append(seconds)
                printed[who] = out
            progress(f"run {run + 1}/{RUNS}")
    finally:
        shutil.rmtree(cwd, ignore_errors=True)

    section = Section(
        title=f"3. import d6tflow (seconds; median of {RUNS} fresh interpreters)",
        figure_column="import alone",
        key_columns=0,
        headers=[
            "library",
            "python -c pass",
            "python -c 'import d6tflow'",
            "import alone",
            "ours/peer",
            "prints on import",
            "target",
            "result",
        ],
    )
    net = {
        who: (median(imported[who]) or 0.0) - (median(baseline[who]) or 0.0) for who in interpreters
    }
    for who, failure in failures.items():
        section.add({"library": who, "import alone": f"failed: {failure}", "result": "MISS"})
    for who in interpreters:
        is_ours = who == "ours"
        out = printed[who].strip()
        section.add(
            {
                "library": who,
                "python -c pass": median(baseline[who]),
                "python -c 'import d6tflow'": median(imported[who]),
                "import alone": fmt_seconds(net[who]),
                "ours/peer": ""
                if is_ours or "ours" not in net
                else fmt_ratio(net["ours"], net[who]),
                "prints on import": one_line(repr(out), 40) if out else "nothing",
                "target": f"< {MAX_IMPORT_S} s" if is_ours else "",
                "result": verdict(net[who] < MAX_IMPORT_S) if is_ours else "",
            }
        )
    section.notes.append(
        "import alone = median(import) - median(pass); ours/peer compares the import-alone figures."
    )
    if not peer_available():
        section.notes.append(peer_skip_note())
    return section
