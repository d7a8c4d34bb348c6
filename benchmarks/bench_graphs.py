"""Section 1: wide and chain task graphs — ours against a plain loop (the floor) and the peer."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    BENCH_DIR,
    OURS_PYTHON,
    OURS_TIMEOUT_S,
    PEER_PYTHON,
    PEER_TIMEOUT_S,
    QUICK,
    WORK_DIR,
    ChildResult,
    describe_stop,
    fmt_limit,
    median,
    peer_available,
    peer_skip_note,
    run_child,
    scratch_dir,
)
from report import Cell, Section, fmt_ratio, fmt_seconds, fmt_us, verdict

WORKLOAD = BENCH_DIR / "workload.py"
KINDS = ("wide", "chain")
SIZES = (1_000,) if QUICK else (1_000, 10_000)
TARGET_N = 10_000
PHASES = ("first", "rerun_same_process", "rerun_new_process")
PHASE_LABELS = {
    "first": "first run",
    "rerun_same_process": "no-op rerun, same process",
    "rerun_new_process": "no-op rerun, new process",
}
MAX_FLOOR_RATIO = 2.0
# Fresh-process reruns per repetition. Right after a run that wrote 10,000 files (os.sync()
# between), a rerun here took 0.44 s in some repetitions and 0.26 s in others, while reruns on
# their own took 0.254-0.267 s: the median over more of them is the rerun's figure.
NEW_PROCESS_RERUNS = 3
MAX_RERUN_S = 0.3
# Per-task cost may grow a little with N (bigger directories, bigger dicts); more than this is not
# linear any more.
MAX_LINEARITY = 1.5


def repetitions(n: int) -> int:
    # Five at every size: on a shared host one or two repetitions of a 10,000-task rerun can take
    # 1.5x the others, and a median of three then reports the noise.
    return 1 if QUICK else 5


@dataclass
class Measured:
    """Seconds per phase over repetitions, or why a measurement stopped."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    failure: str | None = None

    def add(self, phase: str, value: float | None) -> None:
        if value is not None:
            self.seconds.setdefault(phase, []).append(value)

    def median(self, phase: str) -> float | None:
        return median(self.seconds.get(phase, []))

    def cell(self, phase: str) -> Cell:
        """The median; when the measurement stopped, the reason at the phase where it stopped and
        'not reached' after it."""
        value = self.median(phase)
        if value is not None or not self.failure:
            return value
        first_missing = next(p for p in PHASES if p not in self.seconds)
        return self.failure if phase == first_missing else "not reached"


def progress(message: str) -> None:
    print(f"[graphs] {message}", file=sys.stderr, flush=True)


def log_failure(name: str, child: ChildResult) -> Path:
    """Keep the child's stderr (the traceback) where the report can point to it."""
    logs = WORK_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{name}.stderr.txt"
    path.write_text(child.stderr)
    return path


def framework_rep(
    python: Path,
    kind: str,
    n: int,
    timeout: float,
    who: str,
    env: dict[str, str] | None = None,
    terminal: bool = False,
) -> list[ChildResult]:
    """One repetition: first run and same-process rerun in a fresh process, then NEW_PROCESS_RERUNS
    reruns, each in another fresh process over the same folder."""
    data = scratch_dir(f"{who}-{kind}-{n}-")
    try:
        args = [str(WORKLOAD), kind, str(n), str(data)]
        children = [run_child(python, args, data, timeout, env, terminal)]
        args = [str(WORKLOAD), f"{kind}-rerun", str(n), str(data)]
        for _ in range(NEW_PROCESS_RERUNS):
            if children[-1].error is not None or children[-1].timed_out:
                break
            children.append(run_child(python, args, data, timeout, env, terminal))
        return children
    finally:
        shutil.rmtree(data, ignore_errors=True)


def record_framework(
    measured: Measured, children: list[ChildResult], timeout: float, name: str, notes: list[str]
) -> bool:
    """Add a repetition's figures; False when it stopped early (the reason is kept)."""
    for child in children:
        for phase in PHASES:
            measured.add(phase, child.seconds(phase))
        if child.error or child.timed_out:
            measured.failure = describe_stop(child, timeout)
            if child.error:
                notes.append(f"{name} failed; full stderr in {log_failure(name, child)}")
            return False
    return True


def floor_rep(measured: Measured, kind: str, n: int, committed: bool) -> None:
    mode = f"floor-committed-{kind}" if committed else f"floor-{kind}"
    data = scratch_dir(f"{mode}-{n}-")
    try:
        child = run_child(OURS_PYTHON, [str(WORKLOAD), mode, str(n), str(data)], data, 600)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if child.error or child.timed_out:
        measured.failure = describe_stop(child, 600)
    measured.add("first", child.seconds("floor"))


def last_figures(measured: Measured) -> str:
    return ", ".join(
        f"{p}={fmt_seconds(measured.seconds[p][-1])}" for p in PHASES if p in measured.seconds
    )


def ratio_vs_peer(ours: float | None, peer: Measured | None, phase: str) -> str:
    if peer is None:
        return "n/a"
    theirs = peer.median(phase)
    if ours and theirs is None and phase == "first" and (peer.failure or "").startswith("skip"):
        # The peer ran out of time, so its figure is at least the timeout: the ratio is a bound.
        return f"< {fmt_ratio(ours, PEER_TIMEOUT_S)} (> {PEER_TIMEOUT_S / ours:,.0f}x faster)"
    if ours is None or theirs is None:
        return "n/a"
    text = fmt_ratio(ours, theirs)
    return f"{text} ({theirs / ours:,.0f}x faster)" if ours < theirs / 2 else text


def target_rows(kind: str, n: int, ours: Measured, floor: Measured) -> dict[str, tuple[str, str]]:
    """Target text and verdict per phase, for the size the targets are stated at."""
    if n != TARGET_N:
        return {}
    first, floor_s = ours.median("first"), floor.median("first")
    first_ok = None if first is None or floor_s is None else first <= MAX_FLOOR_RATIO * floor_s
    if first is None and ours.failure:
        first_ok = False
    targets = {"first": (f"<= {MAX_FLOOR_RATIO:g}x floor", verdict(first_ok))}
    for phase in ("rerun_same_process", "rerun_new_process"):
        value = ours.median(phase)
        ok = (
            False
            if value is None and ours.failure
            else (None if value is None else value < MAX_RERUN_S)
        )
        targets[phase] = (f"< {MAX_RERUN_S} s", verdict(ok))
    return targets


def run_section() -> Section:
    notes: list[str] = []
    peer_on = peer_available()
    ours: dict[tuple[str, int], Measured] = {}
    floors: dict[tuple[str, int], Measured] = {}
    committed_floors: dict[tuple[str, int], Measured] = {}
    peers: dict[tuple[str, int], Measured] = {}
    for kind in KINDS:
        for n in SIZES:
            reps = repetitions(n)
            floor, committed, mine = Measured(), Measured(), Measured()
            floors[kind, n], committed_floors[kind, n], ours[kind, n] = floor, committed, mine
            # Interleaved, so that a noisy stretch of the machine hits the floor and ours alike.
            for rep in range(reps):
                floor_rep(floor, kind, n, committed=False)
                floor_rep(committed, kind, n, committed=True)
                children = framework_rep(OURS_PYTHON, kind, n, OURS_TIMEOUT_S, "ours")
                ok = record_framework(mine, children, OURS_TIMEOUT_S, f"ours-{kind}-{n}", notes)
                progress(f"ours {kind} N={n:,} rep {rep + 1}/{reps}: {last_figures(mine)}")
                if not ok:
                    break
    if peer_on:
        # The peer goes last and once per size: it is slow, and its timeouts must not delay ours.
        for kind in KINDS:
            for n in SIZES:
                progress(f"peer {kind} N={n:,} (timeout {PEER_TIMEOUT_S:.0f} s per process)")
                theirs = peers[kind, n] = Measured()
                children = framework_rep(PEER_PYTHON, kind, n, PEER_TIMEOUT_S, "peer")
                record_framework(theirs, children, PEER_TIMEOUT_S, f"peer-{kind}-{n}", notes)
                progress(f"peer {kind} N={n:,}: {last_figures(theirs) or theirs.failure}")
    else:
        notes.append(peer_skip_note())

    section = Section(
        title="1. Task graphs (seconds; median of fresh processes)",
        figure_column="ours s",
        headers=[
            "workload",
            "N",
            "measure",
            "ours s",
            "ours µs/task",
            "floor s",
            "ours/floor",
            "committed floor s",
            "ours/committed",
            "peer s",
            "ours/peer",
            "target",
            "result",
        ],
    )
    for kind in KINDS:
        for n in SIZES:
            m, floor, committed = ours[kind, n], floors[kind, n], committed_floors[kind, n]
            peer = peers.get((kind, n))
            targets = target_rows(kind, n, m, floor)
            for phase in PHASES:
                value = m.median(phase)
                is_first = phase == "first"
                target, result = targets.get(phase, ("", ""))
                section.add(
                    {
                        "workload": kind,
                        "N": n,
                        "measure": PHASE_LABELS[phase],
                        "ours s": m.cell(phase),
                        "ours µs/task": fmt_us(value, n),
                        "floor s": floor.cell("first") if is_first else "",
                        "ours/floor": fmt_ratio(value, floor.median("first")) if is_first else "",
                        "committed floor s": committed.cell("first") if is_first else "",
                        "ours/committed": (
                            fmt_ratio(value, committed.median("first")) if is_first else ""
                        ),
                        "peer s": peer.cell(phase) if peer else "n/a",
                        "ours/peer": ratio_vs_peer(value, peer, phase),
                        "target": target,
                        "result": result,
                    }
                )
        for row in summary_rows(kind, ours, floors):
            section.add(row)
    section.notes.extend(describe(committed_floors, floors))
    section.notes.extend(notes)
    return section


def summary_rows(
    kind: str, ours: dict[tuple[str, int], Measured], floors: dict[tuple[str, int], Measured]
) -> list[dict[str, Cell]]:
    """Linearity (per-task cost at 10,000 vs 1,000) and, for the chain, that 10,000 completes.

    Linearity is judged on what d6tflow adds per task, the first run minus the plain floor: a
    disk that starts flushing its write-back cache past a few thousand files makes the plain
    loop itself non-linear (7.9x per file from 1,000 to 10,000 in one run), and no framework
    writing the same files can be more linear than its storage. The raw growth is shown too.
    """
    if TARGET_N not in SIZES:
        return []
    small, large = ours[kind, SIZES[0]].median("first"), ours[kind, TARGET_N].median("first")
    small_floor = floors[kind, SIZES[0]].median("first")
    large_floor = floors[kind, TARGET_N].median("first")
    linearity: dict[str, Cell] = {
        "workload": kind,
        "N": "1k→10k",
        "measure": "first run µs/task growth, ours - floor",
        "target": f"<= {MAX_LINEARITY:g}x (linear)",
        "result": "MISS",
    }
    if None not in (small, large, small_floor, large_floor):
        added_small, added_large = small - small_floor, large - large_floor
        raw = (large / TARGET_N) / (small / SIZES[0])
        linearity["ours µs/task"] = (
            f"{fmt_us(added_small, SIZES[0])} → {fmt_us(added_large, TARGET_N)} "
            f"(raw {fmt_us(small, SIZES[0])} → {fmt_us(large, TARGET_N)}, {raw:.2f}x)"
        )
        if added_small > 0:
            growth = (added_large / TARGET_N) / (added_small / SIZES[0])
            linearity["ours s"] = f"{growth:.2f}x"
            linearity["result"] = verdict(growth <= MAX_LINEARITY)
    rows = [linearity]
    if kind == "chain":
        m = ours[kind, TARGET_N]
        done = m.median("first") is not None
        rows.append(
            {
                "workload": kind,
                "N": TARGET_N,
                "measure": "completes",
                "ours s": "yes" if done else (m.failure or "no"),
                "target": "completes",
                "result": verdict(done),
            }
        )
    return rows


def describe(
    committed: dict[tuple[str, int], Measured], plain: dict[tuple[str, int], Measured]
) -> list[str]:
    lines = [
        "wide: N TaskPickle leaves `TaskLeaf(i)` saving i, yielded one by one from one "
        "TaskAggregator; chain: `TaskChain(i)` requires `TaskChain(i-1)`, saves inputLoad()+1.",
        "ours/peer time = `d6tflow.run([root], execution_summary=False)` incl. building the root "
        "task; import and class definitions excluded. Each repetition uses a fresh process and a "
        "fresh d6tflow.set_dir() folder; 'new process' reruns "
        f"({NEW_PROCESS_RERUNS} per repetition) reuse that folder.",
        "floor = plain Python loop writing the same number of pickle files (chain: reading the "
        "previous one first), no framework. Ratios are ours ÷ other: below 1 means ours is faster.",
        "committed floor = the same loop doing by hand what crash safety costs whatever the "
        "framework (benchmarks/workload.py run_committed_floor): a lock per task, temp file + "
        "os.replace, an xxh3 fingerprint, a manifest line appended under a folder lock. "
        "ours/committed is the framework's own overhead.",
        "peer = original d6tflow 0.2.8 over luigi, one run per size, "
        f"timeout {fmt_limit(PEER_TIMEOUT_S)} per process.",
    ]
    for (kind, n), m in committed.items():
        c, p = m.median("first"), plain[kind, n].median("first")
        if c is not None and p is not None:
            lines.append(
                f"committed floor, {kind} N={n:,}: {fmt_seconds(c)} s "
                f"({fmt_ratio(c, p)} the plain floor)"
            )
    for kind in KINDS:
        if TARGET_N not in SIZES:
            break
        small, large = plain[kind, SIZES[0]].median("first"), plain[kind, TARGET_N].median("first")
        if small and large:
            # A disk flushing its write-back cache makes even the plain loop non-linear; then
            # ours' growth says as much about the disk as about d6tflow.
            growth = (large / TARGET_N) / (small / SIZES[0])
            lines.append(
                f"plain floor µs/task growth, {kind} 1k→10k: {growth:.2f}x "
                f"({fmt_us(small, SIZES[0])} → {fmt_us(large, TARGET_N)} µs): the storage's own"
            )
    return lines


# -- progress on and off --------------------------------------------------------------------

#: The live display may cost at most this much of a run (issue #17).
MAX_PROGRESS_RATIO = 1.05


def progress_repetitions() -> int:
    """BENCH_PROGRESS_REPS (default 5, quick 2): more for a steadier median on a noisy machine."""
    return int(os.environ.get("BENCH_PROGRESS_REPS", 2 if QUICK else 5))


def run_progress_section() -> Section:
    """The 10,000-task flows with stderr on a pseudo-terminal, so the live progress display (rich)
    is drawn as a user at a terminal sees it, against the same runs with ``progress`` off."""
    n = SIZES[-1]
    notes: list[str] = []
    section = Section(
        title="1b. Live progress display on and off (seconds; median of fresh processes)",
        figure_column="on/off",
        headers=[
            "workload",
            "N",
            "measure",
            "progress on s",
            "progress off s",
            "on/off",
            "target",
            "result",
        ],
    )
    for kind in KINDS:
        on, off = Measured(), Measured()
        for rep in range(progress_repetitions()):
            # Interleaved, so that a noisy stretch of the machine hits both alike.
            for measured, flag in ((on, "1"), (off, "0")):
                children = framework_rep(
                    OURS_PYTHON,
                    kind,
                    n,
                    OURS_TIMEOUT_S,
                    f"progress{flag}",
                    {"BENCH_PROGRESS": flag},
                    terminal=True,
                )
                name = f"ours-{kind}-{n}-progress-{'on' if flag == '1' else 'off'}"
                record_framework(measured, children, OURS_TIMEOUT_S, name, notes)
            progress(
                f"progress {kind} N={n:,} rep {rep + 1}: on {last_figures(on)}; off "
                f"{last_figures(off)}"
            )
        for phase in ("first", "rerun_same_process", "rerun_new_process"):
            a, b = on.median(phase), off.median(phase)
            ok = None if a is None or b is None else a <= MAX_PROGRESS_RATIO * b
            section.add(
                {
                    "workload": kind,
                    "N": n,
                    "measure": PHASE_LABELS[phase],
                    "progress on s": on.cell(phase),
                    "progress off s": off.cell(phase),
                    "on/off": fmt_ratio(a, b),
                    "target": f"<= {MAX_PROGRESS_RATIO:g}x",
                    "result": verdict(ok),
                }
            )
    section.notes.append(
        "The workloads of section 1, each child's stderr on a pseudo-terminal: with progress on "
        "(the default) the first run draws rich's live display; a no-op rerun runs nothing and "
        "starts none. Off: BENCH_PROGRESS=0 sets d6tflow.settings.progress = False."
    )
    section.notes.extend(notes)
    return section
