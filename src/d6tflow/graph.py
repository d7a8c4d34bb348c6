"""The dependency graph built from ``requires()``: building, walking, cycles and completeness.

Everything here is iterative (no recursion), so a chain of 10,000 tasks is as fine as a chain of 3.
No I/O happens here beyond asking tasks for their state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from d6tflow.code_fingerprint import forget_code
from d6tflow.errors import CycleError
from d6tflow.manifests import begin_check
from d6tflow.protocol import judged_by_engine
from d6tflow.status import COMPLETE, State, Status, counts_as_done
from d6tflow.utils import gc_paused

if TYPE_CHECKING:
    from d6tflow.protocol import EngineTask as Task


class Graph:
    """The tasks reachable from ``roots``, each with its direct dependencies.

    ``order`` lists every task after all of its dependencies (a topological order).
    """

    def __init__(self, roots: Iterable[Task]):
        self.roots: list[Task] = list(dict.fromkeys(roots))
        self.deps: dict[Task, list[Task]] = {}
        self.order: list[Task] = []
        with gc_paused():
            self._build()

    def _build(self) -> None:
        # Iterative depth-first search; "open" tasks are on the current path, so meeting one
        # again means a cycle, and the path tells which tasks form it.
        deps, order = self.deps, self.order
        open_: dict[Task, int] = {}
        for root in self.roots:
            if root in deps:
                continue
            root_deps = _unique(root._graph_deps())
            deps[root] = root_deps
            stack = [(root, iter(root_deps))]
            open_[root] = 0
            while stack:
                task, children = stack[-1]
                for child in children:
                    if child in open_:
                        path = [t for t, _ in stack]
                        raise CycleError(path[path.index(child) :])
                    if child not in deps:
                        child_deps = _unique(child._graph_deps())
                        deps[child] = child_deps
                        open_[child] = len(stack)
                        stack.append((child, iter(child_deps)))
                        break
                else:
                    stack.pop()
                    del open_[task]
                    order.append(task)

    def __contains__(self, task: object) -> bool:
        return task in self.deps

    def __len__(self) -> int:
        return len(self.deps)

    def states(self) -> dict[Task, Status]:
        """Each task's status (COMPLETE, PENDING or STALE, with reasons), dependencies first.

        Each task's outputs are checked once. A task whose class overrides ``complete()`` is
        asked directly; the others are judged by their outputs and manifests (provenance.py).
        """
        forget_code()  # code and manifests may have changed since the last check
        begin_check()
        with gc_paused():
            return self._states()

    def _states(self) -> dict[Task, Status]:
        status: dict[Task, Status] = {}
        for task in self.order:
            if judged_by_engine(task):
                status[task] = task._assess([(d, status[d]) for d in self.deps[task]])
            elif task.complete():
                status[task] = COMPLETE
            else:
                status[task] = Status(State.PENDING, ("complete() returned False",))
        return status

    def complete_states(self) -> dict[Task, bool]:
        """Whether each task counts as complete (stale ones do when settings.rerun_stale is off)."""
        return {task: counts_as_done(s) for task, s in self.states().items()}

    def upstream_of(self, task: Task) -> list[Task]:
        """``task`` and everything it depends on, depth-first pre-order, each once."""
        seen: dict[Task, None] = {}
        stack = [task]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen[current] = None
            stack.extend(reversed(self.deps[current]))
        return list(seen)

    def between(self, targets: set[Task], start: Task) -> set[Task]:
        """Tasks on any path from ``start`` down to a task in ``targets`` (both ends included)."""
        reaches: dict[Task, bool] = {}
        for task in self.order:  # dependencies come first, so their answer is known
            reaches[task] = task in targets or any(reaches[d] for d in self.deps[task])
        return {t for t in self.upstream_of(start) if reaches[t]}


def _unique(tasks: list[Task]) -> list[Task]:
    """``tasks`` without repeats, in order (a list of one or none is returned as it is: it is
    only read)."""
    return tasks if len(tasks) < 2 else list(dict.fromkeys(tasks))


def is_complete(task: Task) -> bool:
    """``task.complete()`` for built-in tasks: its outputs are current and so is its upstream."""
    return Graph([task]).complete_states()[task]


def taskflow_upstream(task: Task, only_complete: bool = False) -> list[Task]:
    """``task`` and all tasks upstream of it, depth-first pre-order, each once."""
    graph = Graph([task])
    tasks = graph.upstream_of(task)
    if only_complete:
        state = graph.complete_states()
        tasks = [t for t in tasks if state[t]]
    return tasks


def matching(graph: Graph, task: Task) -> set[Task]:
    """The graph's tasks that ``task`` designates: itself if present, else all of its class."""
    if task in graph:
        return {task}
    return {t for t in graph.order if t.task_family == task.task_family}


def taskflow_downstream(task: Task, task_downstream: Task, only_complete: bool = False) -> set:
    """Tasks on the paths from ``task_downstream`` down to ``task`` (both included)."""
    graph = Graph([task_downstream])
    tasks = graph.between(matching(graph, task), task_downstream)
    if only_complete:
        state = graph.complete_states()
        tasks = {t for t in tasks if state[t]}
    return tasks
