"""The kill rate of the last ``make mutate``, per module and in total (not a test module).

    python tests/mutation_report.py [mutants folder]

A mutant counts as killed when a test failed (or timed out) with it planted; "no tests" are
mutants of code no selected test reaches, and count as survivors. The names of the survivors,
and the diff of each: ``mutmut results``, ``mutmut show <name>``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes: a failing test run (1) or a pytest internal error (3) means killed.
KILLED, SURVIVED, NO_TESTS = {1, 3}, {0}, {5, 33}
TIMEOUT = {36, 24, -24, 152, 255}


def kind(code: int | None) -> str:
    if code is None:
        return "not run"
    for name, codes in (
        ("killed", KILLED),
        ("timeout", TIMEOUT),
        ("survived", SURVIVED),
        ("no tests", NO_TESTS),
    ):
        if code in codes:
            return name
    return "other"


def main(folder: str = "mutants") -> int:
    metas = sorted(Path(folder).rglob("*.py.meta"))
    if not metas:
        print(f"no results in {folder}/: run `make mutate` first")
        return 1
    columns = ["killed", "timeout", "survived", "no tests", "other", "not run"]
    print(f"{'module':<20}" + "".join(f"{c:>10}" for c in columns) + f"{'kill rate':>11}")
    total: Counter[str] = Counter()
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        counts = Counter(kind(c) for c in codes)
        total += counts
        print(_row(meta.name.removesuffix(".py.meta"), counts, columns))
    print(_row("total", total, columns))
    return 0


def _row(name: str, counts: Counter[str], columns: list[str]) -> str:
    run = sum(counts.values()) - counts["not run"]
    rate = f"{(counts['killed'] + counts['timeout']) / run:.1%}" if run else "-"
    return f"{name:<20}" + "".join(f"{counts[c]:>10}" for c in columns) + f"{rate:>11}"


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
