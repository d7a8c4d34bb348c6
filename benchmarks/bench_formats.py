"""Section: the flavours of issue #18 against the raw library call each wraps (ours / raw)."""

from __future__ import annotations

import shutil
import sys

from common import (
    BENCH_DIR,
    OURS_PYTHON,
    OURS_TIMEOUT_S,
    QUICK,
    describe_stop,
    run_child,
    scratch_dir,
)
from report import Section, fmt_ratio, verdict

WORKLOAD = BENCH_DIR / "formats_workload.py"
REPS = 1 if QUICK else 5
#: Targets of the issue: a flavour costs at most this much over the raw call (SQL: no target,
#: shown side by side).
TARGETS = {"TaskPqPolars": 1.1, "TaskPqArrow": 1.1, "TaskJoblib": 1.1}
RAW = {
    "TaskPqPolars": ("df.write_parquet", "pl.read_parquet"),
    "TaskPqArrow": ("pq.write_table", "pq.read_table(memory_map=True)"),
    "TaskJoblib": ("joblib.dump", "joblib.load"),
    "TaskSQL": ("df.to_sql (same SQLite file)", "pd.read_sql"),
}


def run_section() -> list[Section]:
    print(f"[formats] ours vs raw, best of {REPS}", file=sys.stderr, flush=True)
    data = scratch_dir("formats-")
    try:
        child = run_child(OURS_PYTHON, [str(WORKLOAD), str(data), str(REPS)], data, OURS_TIMEOUT_S)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    info = child.phase("info") or {}
    section = Section(
        title=(
            f"9. Task flavours vs the raw call: {info.get('rows', 0):,}-row frame, "
            f"{info.get('trees', 0)}-tree random forest, {info.get('sql_rows', 0):,} SQL rows "
            f"(seconds; best of {REPS})"
        ),
        headers=[
            "flavour",
            "step",
            "raw call",
            "raw s",
            "ours s",
            "ours / raw",
            "target",
            "result",
        ],
        figure_column="ours / raw",
        key_columns=2,
    )
    flavours = [r for r in child.records if r.get("phase") == "flavour"]
    if not flavours:
        section.notes.append("no figures: " + describe_stop(child, OURS_TIMEOUT_S))
    for record in flavours:
        name, best = record["name"], record["best"]
        for verb, index in (("save", 0), ("load", 1)):
            raw, ours = best[f"raw_{verb}"], best[f"task_{verb}"]
            limit = TARGETS.get(name)
            section.add(
                {
                    "flavour": name,
                    "step": verb,
                    "raw call": RAW[name][index],
                    "raw s": raw,
                    "ours s": ours,
                    "ours / raw": fmt_ratio(ours, raw),
                    "target": f"<= {limit:g}x raw" if limit else "side by side",
                    "result": verdict(ours <= limit * raw) if limit else "",
                }
            )
    section.notes.append(
        "ours = target.save(obj) / target.load(): the atomic write (temporary name, rename) and "
        "format dispatch around the same library call. TaskSQL also hashes the frame's content "
        "and swaps a staged table in; raw to_sql replaces one table."
    )
    return [section]
