"""Section 6: the rebuild oracle's long profile, tests/test_rebuild_oracle.py with many examples.

Not a speed figure: PASS when, over every example, d6tflow ran exactly what changed and every
output matched a from-scratch build. ``D6TFLOW_ORACLE_EXAMPLES`` (default 500; 50 with
BENCH_QUICK=1) sets the number of examples; the other D6TFLOW_ORACLE_* variables pass through.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from common import OURS_PYTHON, QUICK, REPO, one_line
from report import Section, verdict

EXAMPLES = int(os.environ.get("D6TFLOW_ORACLE_EXAMPLES", "50" if QUICK else "500"))
TEST = "tests/test_rebuild_oracle.py"


def progress(message: str) -> None:
    print(f"[oracle] {message}", file=sys.stderr, flush=True)


def run_section() -> list[Section]:
    progress(f"{EXAMPLES} examples of {TEST} (a few seconds each)")
    env = {**os.environ, "D6TFLOW_ORACLE_EXAMPLES": str(EXAMPLES)}
    command = [str(OURS_PYTHON), "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    passed = done.returncode == 0
    section = Section(
        title=f"6. Rebuild oracle ({EXAMPLES} random flows and edit sequences, {TEST})",
        headers=["examples", "seconds", "outcome", "target", "result"],
        figure_column="outcome",
        key_columns=0,
    )
    outcome = "all passed" if passed else _first_problem(done.stdout) or "failed"
    section.add(
        {
            "examples": EXAMPLES,
            "seconds": seconds,
            "outcome": outcome,
            "target": "all pass",
            "result": verdict(passed),
        }
    )
    if not passed:
        section.notes.append(
            f"reproduce: D6TFLOW_ORACLE_EXAMPLES={EXAMPLES} python -m pytest {TEST} "
            "(the failure shows the flow, the runs and expected vs actual)"
        )
    return [section]


def _first_problem(stdout: str) -> str | None:
    """The first problem listed after "After the last one:" in the failure message, with the
    first task it names."""
    _, found, after = stdout.partition("After the last one:")
    if not found:
        return None
    lines = [line.removeprefix("E").strip() for line in after.splitlines()]
    lines = [line for line in lines if line][:2]
    return one_line(" ".join(lines).removeprefix("- "), 100)
