"""What a run did: each task's :class:`TaskState`, the :class:`RunResult` that ``d6tflow.run``
returns, and the summary it prints (in the original's words)."""

from __future__ import annotations

import enum
from collections import defaultdict
from typing import TYPE_CHECKING

from d6tflow.viewing import HtmlView

if TYPE_CHECKING:
    from d6tflow.errors import TaskFailure
    from d6tflow.protocol import EngineTask as Task


class TaskState(str, enum.Enum):
    COMPLETE = "complete"  # already complete before the run
    DONE = "done"  # ran successfully in this run
    PULLED = "pulled"  # pulled from the shared cache (run(remote=...)): made there the same way
    FAILED = "failed"
    SKIPPED = "skipped"  # not run because a dependency failed
    UP_TO_DATE = "up to date"  # its upstream reran but produced the same output
    STALE_KEPT = "stale, kept"  # stale, not rerun because rerun_stale is off


class RunResult(HtmlView):
    """What ``d6tflow.run`` did: truthy only if every task is complete at the end.

    ``status`` maps every scheduled task to its :class:`TaskState`; ``reasons`` says why each task
    that ran (or was kept stale) needed to ("parameters new", "code of … changed");
    ``failures`` lists a :class:`~d6tflow.errors.TaskFailure` per failed task; ``summary`` is the
    printed report; ``cancelled`` is True when the user declined the confirmation prompt.
    """

    def __init__(
        self,
        status: dict[Task, TaskState] | None = None,
        reasons: dict[Task, tuple[str, ...]] | None = None,
        failures: list[TaskFailure] | None = None,
        summary: str = "",
        duration: float = 0.0,
        cancelled: bool = False,
    ):
        self.status = {} if status is None else status
        self.reasons = {} if reasons is None else reasons
        self.failures = [] if failures is None else failures
        self.summary = summary
        self.duration = duration
        self.cancelled = cancelled

    def __repr__(self) -> str:
        counts = {state.value: n for state in TaskState if (n := len(self.tasks(state)))}
        return f"RunResult(ok={bool(self)}, tasks={counts}, duration={self.duration:.3f})"

    @property
    def scheduling_succeeded(self) -> bool:
        return (
            not self.cancelled
            and not self.failures
            and TaskState.SKIPPED not in self.status.values()
        )

    def __bool__(self) -> bool:
        return self.scheduling_succeeded

    def tasks(self, state: TaskState) -> list[Task]:
        return [t for t, s in self.status.items() if s == state]


def _describe(tasks: list[Task]) -> str:
    if len(tasks) <= 3:
        return ", ".join(repr(t) for t in tasks)
    return f"{tasks[0]!r} ... {tasks[-1]!r}"


def _group_lines(tasks: list[Task], indent: str, reasons: dict[Task, tuple[str, ...]]) -> list[str]:
    by_family: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_family[task.task_family].append(task)
    lines = []
    for group in by_family.values():
        why = list(dict.fromkeys(r for task in group for r in reasons.get(task, ())))
        note = f" [{'; '.join(why[:3])}{'; …' if len(why) > 3 else ''}]" if why else ""
        lines.append(f"{indent}- {len(group)} {_describe(group)}{note}")
    return lines


def format_summary(result: RunResult) -> str:
    """The execution summary, in the original's words ("Scheduled 3 tasks of which: ..."),
    with the reason each task ran."""
    lines = ["", "===== d6tflow Execution Summary =====", ""]
    scheduled = len(result.status)
    lines.append(f"Scheduled {scheduled} {'task' if scheduled == 1 else 'tasks'} of which:")
    # (state, words for one task, words for several)
    sections = [
        (TaskState.COMPLETE, "complete one was encountered", "complete ones were encountered"),
        (TaskState.DONE, "ran successfully", "ran successfully"),
        (
            TaskState.PULLED,
            "was pulled from remote, made there from the same code and inputs",
            "were pulled from remote, made there from the same code and inputs",
        ),
        (
            TaskState.UP_TO_DATE,
            "was up to date: its upstream reran with the same output",
            "were up to date: their upstream reran with the same output",
        ),
        (
            TaskState.STALE_KEPT,
            "was stale and kept as it is (rerun_stale is off)",
            "were stale and kept as they are (rerun_stale is off)",
        ),
        (TaskState.FAILED, "failed", "failed"),
    ]
    for state, one, several in sections:
        group = result.tasks(state)
        if group:
            lines.append(f"* {len(group)} {one if len(group) == 1 else several}:")
            lines.extend(_group_lines(group, "    ", result.reasons))
    skipped = result.tasks(TaskState.SKIPPED)
    if skipped:
        verb = "was" if len(skipped) == 1 else "were"
        lines.append(f"* {len(skipped)} {verb} left pending, among these:")
        lines.append(f"    * {len(skipped)} had failed dependencies:")
        lines.extend(_group_lines(skipped, "        ", {}))
    lines.append("")
    if result.failures:
        lines.append("This progress looks :( because there were failed tasks")
    else:
        lines.append(
            "This progress looks :) because there were no failed tasks or missing dependencies"
        )
    lines.extend(["", "===== d6tflow Execution Summary =====", ""])
    return "\n".join(lines)
