"""What d6tflow prints: the dependency tree (preview/show) and the execution summary.

Display only reads tasks and their states; it never runs anything. In a Jupyter notebook the
preview is shown as HTML (``notebook.py`` draws it) instead of printed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from d6tflow.graph import Graph
from d6tflow.status import State, Status
from d6tflow.summary import format_summary
from d6tflow.task import Task, as_task_list
from d6tflow.viewing import HtmlView

__all__ = [
    "STATE_COLOURS",
    "Preview",
    "Row",
    "flow_tasks",
    "flows_preview",
    "format_summary",
    "make_preview",
    "params_text",
    "preview",
    "roots_of",
    "row_text",
    "show",
    "show_preview",
    "tree_lines",
    "tree_rows",
]

_GREEN, _BLUE, _YELLOW, _RESET = "\x1b[92m", "\x1b[94m", "\x1b[93m", "\x1b[0m"
_COLOURS = {State.COMPLETE: _GREEN, State.PENDING: _BLUE, State.STALE: _YELLOW}
_HEADER = "\n ===== d6tflow Execution Preview ===== \n"
#: (fill, border) of a task in each state in pictures and HTML: the terminal's green, blue and
#: yellow, made pale.
STATE_COLOURS = {
    State.COMPLETE: ("#c8e6c9", "#2e7d32"),
    State.PENDING: ("#bbdefb", "#1565c0"),
    State.STALE: ("#ffe0b2", "#ef6c00"),
}


def _colour(text: str, code: str) -> str:
    return f"{code}{text}{_RESET}" if sys.stdout.isatty() else text


def params_text(task: Task, show_params: bool = True, clip_params: bool = False) -> str:
    """The parameters as the tree shows them: ``{'alpha': '0.5'}``, clipped to 20 characters."""
    if not show_params:
        return ""
    params = task.to_str_params(only_significant=True)
    if clip_params:
        params = {k: v if len(v) <= 20 else v[:17] + "..." for k, v in params.items()}
    return str(params)


class Row(NamedTuple):
    """One line of a tree: its indentation and branch marker, the task, its status (None: the
    task is shared by every flow and shown in their common part) and a note."""

    prefix: str
    task: Task
    status: Status | None
    note: str = ""


def tree_rows(
    task: Task,
    graph: Graph,
    statuses: Mapping[Task, Status],
    indent: str = "",
    last: bool = True,
    shared: frozenset | set = frozenset(),
) -> list[Row]:
    """The rows of ``task``'s dependency tree; a task met again shows its row only, and so does a
    task in ``shared`` (its subtree is shown elsewhere)."""
    rows: list[Row] = []
    shown: set[Task] = set()
    stack = [(task, indent, last)]
    while stack:
        current, prefix, is_last = stack.pop()
        branch, child_prefix = ("└─--", prefix + "   ") if is_last else ("|--", prefix + "|  ")
        if current in shared:
            rows.append(Row(prefix + branch, current, None, "shared, shown above"))
            continue
        children = graph.deps[current]
        repeat = current in shown and children
        note = "dependencies shown above" if repeat else ""
        rows.append(Row(prefix + branch, current, statuses[current], note))
        if repeat:
            continue
        shown.add(current)
        for i in reversed(range(len(children))):
            stack.append((children[i], child_prefix, i == len(children) - 1))
    return rows


def row_text(row: Row, show_params: bool = True, clip_params: bool = False) -> str:
    params = params_text(row.task, show_params, clip_params)
    if row.status is None:
        return f"{row.prefix}[{row.task.task_family}-{params} ({row.note})]"
    state = _colour(row.status.state.value, _COLOURS[row.status.state])
    # The bracket reads as the original's; why a task is pending or stale follows it.
    why = " " + "; ".join(row.status.reasons) if row.status.reasons else ""
    note = f" ({row.note})" if row.note else ""
    return f"{row.prefix}[{row.task.task_family}-{params} ({state})]{why}{note}"


def tree_lines(
    task: Task,
    graph: Graph,
    statuses: Mapping[Task, Status],
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> list[str]:
    """The lines of ``task``'s dependency tree; a task met again shows its line only."""
    rows = tree_rows(task, graph, statuses, indent, last)
    return [row_text(row, show_params, clip_params) for row in rows]


class Preview(HtmlView):
    """What ``preview`` shows: trees of tasks, in sections under an optional title (the common
    part of several flows, then each flow). Printed as text; shown as HTML in a notebook."""

    def __init__(
        self,
        sections: list[tuple[str | None, list[Row]]],
        show_params: bool = True,
        clip_params: bool = False,
    ):
        self.sections = sections
        self.show_params = show_params
        self.clip_params = clip_params

    def text(self) -> str:
        lines = [_HEADER]
        for i, (title, rows) in enumerate(self.sections):
            if title is not None:
                lines.extend([title] if i == 0 else ["", title])
            lines.extend(row_text(row, self.show_params, self.clip_params) for row in rows)
        lines.append(_HEADER)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def flow_tasks(tasks_or_flow: Any) -> dict[Any, list[Task]] | None:
    """``{flow name: [its task]}`` for a ``WorkflowMulti``; None for anything else."""
    get_task = getattr(tasks_or_flow, "get_task", None)
    if get_task is None or isinstance(tasks_or_flow, Task):
        return None
    found = get_task()
    return {name: [task] for name, task in found.items()} if isinstance(found, dict) else None


def roots_of(tasks_or_flow: Any) -> list[Task]:
    """The root tasks of a task, a list of tasks, a ``Workflow`` (its default task) or a
    ``WorkflowMulti`` (the default task of each flow)."""
    by_flow = flow_tasks(tasks_or_flow)
    if by_flow is not None:
        return list(dict.fromkeys(t for tasks in by_flow.values() for t in tasks))
    if getattr(tasks_or_flow, "get_task", None) is not None and not isinstance(tasks_or_flow, Task):
        return [tasks_or_flow.get_task()]
    return as_task_list(tasks_or_flow)


def make_preview(
    tasks: Any,
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> Preview:
    """The :class:`Preview` of ``tasks`` (one state check of all of them); of a ``WorkflowMulti``,
    its flows' (:func:`flows_preview`)."""
    by_flow = flow_tasks(tasks)
    if by_flow is not None:
        return flows_preview(by_flow, show_params, clip_params, indent, last)
    roots = roots_of(tasks)
    graph = Graph(roots)
    statuses = graph.states()
    rows = [row for root in roots for row in tree_rows(root, graph, statuses, indent, last)]
    return Preview([(None, rows)], show_params, clip_params)


def flows_preview(
    roots_by_name: Mapping[Any, list[Task]],
    show_params: bool = True,
    clip_params: bool = False,
    indent: str = "",
    last: bool = True,
) -> Preview:
    """The trees of several flows, compactly: the tasks every flow has (same task id) once under
    "Shared by all N flows", then each flow's own tasks under its name, where a shared task is
    one line that points up."""
    all_roots = [t for roots in roots_by_name.values() for t in roots]
    graph = Graph(all_roots)
    statuses = graph.states()
    members = [
        {t for root in roots for t in graph.upstream_of(root)} for roots in roots_by_name.values()
    ]
    shared = set.intersection(*members) if len(members) > 1 else set()
    sections: list[tuple[str | None, list[Row]]] = []
    if shared:
        rows = [
            row
            for top in _shared_tops(graph, all_roots, shared)
            for row in tree_rows(top, graph, statuses, indent, last)
        ]
        sections.append((f"Shared by all {len(members)} flows:", rows))
    for name, roots in roots_by_name.items():
        rows = [
            row for root in roots for row in tree_rows(root, graph, statuses, indent, last, shared)
        ]
        sections.append((f"Flow {name!r}:", rows))
    return Preview(sections, show_params, clip_params)


def _shared_tops(graph: Graph, roots: list[Task], shared: set[Task]) -> list[Task]:
    """The shared tasks that a flow reaches first: a shared root, or a shared dependency of a task
    of one flow's own, in the order the flows' trees meet them."""
    tops: dict[Task, None] = {}
    seen: set[Task] = set()
    stack = list(reversed(roots))
    while stack:
        task = stack.pop()
        if task in seen:
            continue
        seen.add(task)
        if task in shared:
            tops[task] = None
            continue
        stack.extend(reversed(graph.deps[task]))
    return list(tops)


def _in_notebook() -> bool:
    """Running in a Jupyter kernel (not a terminal IPython, not a script)?"""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def show_preview(view: Preview) -> None:
    """Print ``view``; in a notebook, display it (as HTML, with the text for other front ends)."""
    if _in_notebook():
        from IPython.display import display

        display(view)
    else:
        print(view.text())


def preview(
    tasks: Any,
    indent: str = "",
    last: bool = True,
    show_params: bool = True,
    clip_params: bool = False,
) -> None:
    """Print the dependency tree of ``tasks`` with each task's parameters, state and why.

    ``tasks``: a task, a list of tasks, a ``Workflow`` or a ``WorkflowMulti``. In a Jupyter
    notebook the tree is shown as HTML, its states in colour.

    >>> d6tflow.preview(TaskTrain())
    └─--[TaskTrain-{'do_preprocess': 'True'} (PENDING)] parameters new
       └─--[TaskPreprocess-{'do_preprocess': 'True'} (STALE)] code of TaskPreprocess.run changed
          └─--[TaskGetData-{} (COMPLETE)]
    """
    show_preview(make_preview(tasks, indent, last, show_params, clip_params))


show = preview
