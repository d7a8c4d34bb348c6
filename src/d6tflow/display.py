"""What d6tflow prints: the dependency tree (preview/show) and the execution summary.

Display only reads tasks and their states; it never runs anything.
"""

from __future__ import annotations

import sys
from typing import Any

from d6tflow.graph import Graph
from d6tflow.status import State, Status
from d6tflow.summary import format_summary
from d6tflow.task import Task, as_task_list

__all__ = ["format_summary", "preview", "show", "tree_lines"]

_GREEN, _BLUE, _YELLOW, _RESET = "\x1b[92m", "\x1b[94m", "\x1b[93m", "\x1b[0m"
_COLOURS = {State.COMPLETE: _GREEN, State.PENDING: _BLUE, State.STALE: _YELLOW}


def _colour(text: str, code: str) -> str:
    return f"{code}{text}{_RESET}" if sys.stdout.isatty() else text


def _params_text(task: Task, show_params: bool, clip_params: bool) -> str:
    if not show_params:
        return ""
    params = task.to_str_params(only_significant=True)
    if clip_params:
        params = {k: v if len(v) <= 20 else v[:17] + "..." for k, v in params.items()}
    return str(params)


def tree_lines(
    task: Task,
    graph: Graph,
    statuses: dict[Task, Status],
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> list[str]:
    """The lines of ``task``'s dependency tree; a task met again shows its line only."""
    lines: list[str] = []
    shown: set[Task] = set()
    stack = [(task, indent, last)]
    while stack:
        current, prefix, is_last = stack.pop()
        branch, child_prefix = ("└─--", prefix + "   ") if is_last else ("|--", prefix + "|  ")
        status = statuses[current]
        state = _colour(status.state.value, _COLOURS[status.state])
        params = _params_text(current, show_params, clip_params)
        children = graph.deps[current]
        repeat = current in shown and children
        # The bracket reads as the original's; why a task is pending or stale follows it.
        why = " " + "; ".join(status.reasons) if status.reasons else ""
        note = " (dependencies shown above)" if repeat else ""
        lines.append(f"{prefix}{branch}[{current.task_family}-{params} ({state})]{why}{note}")
        if repeat:
            continue
        shown.add(current)
        for i in reversed(range(len(children))):
            stack.append((children[i], child_prefix, i == len(children) - 1))
    return lines


def preview(
    tasks: Any,
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> None:
    """Print the dependency tree of ``tasks`` with each task's parameters, state and why.

    >>> d6tflow.preview(TaskTrain())
    └─--[TaskTrain-{'do_preprocess': 'True'} (PENDING)] parameters new
       └─--[TaskPreprocess-{'do_preprocess': 'True'} (STALE)] code of TaskPreprocess.run changed
          └─--[TaskGetData-{} (COMPLETE)]
    """
    roots = as_task_list(tasks)
    graph = Graph(roots)
    statuses = graph.states()
    header = "\n ===== d6tflow Execution Preview ===== \n"
    lines = [header]
    for root in roots:
        lines.extend(tree_lines(root, graph, statuses, indent, last, show_params, clip_params))
    lines.append(header)
    print("\n".join(lines))


show = preview
