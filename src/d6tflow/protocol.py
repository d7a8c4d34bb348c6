"""What the engine asks of a task, and the task classes by name.

The lower layers (graph, provenance, executors) never import the ``Task`` class: they work with
any object that has the hooks :class:`EngineTask` declares, which ``Task`` (task.py), ``TaskData``
(task_data.py) and ``TaskAggregator`` (tasks.py) implement. That is what lets ``Task.complete()``
ask the graph without the graph importing the task (docs/architecture.md). The hooks keep a
leading underscore so they never collide with a user's parameter or method names; they are part
of no public API, but every module may call them.

The registry maps a class name (and a ``task_family``) to the task classes defined with it: a
``TaskParameter`` parses a name with it, and code fingerprints use it to tell task classes (which
have fingerprints of their own) from the user's other classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from d6tflow.errors import UnknownTaskClassError

if TYPE_CHECKING:
    from d6tflow.status import Status

_F = TypeVar("_F", bound=Callable[..., Any])

_classes_by_name: dict[str, list[type]] = {}
_task_classes: set[type] = set()


class EngineTask(Protocol):
    """The hooks the graph, provenance, the scheduler and the executors call on a task."""

    #: ``<family>_<readable parameters>_<hash>``: equal for equal tasks, in every process.
    task_id: str
    #: The class's name for ids and its output folder (the class name unless set).
    task_family: str
    #: True: its outputs come from elsewhere; ``complete()`` looks only at them.
    external: bool
    #: ``(path, flows)`` a Workflow gives this task and everything upstream of it, or None.
    _context: tuple[Any, Any] | None

    def _requires(self) -> Any:
        """``requires()``, worked out once per instance (with the flow context passed on)."""
        ...

    def _relocated(self, path: Any, context: tuple[Any, Any] | None) -> EngineTask:
        """A copy with another own path and flow context (identity worked out again)."""
        ...

    def _graph_deps(self) -> list[EngineTask]:
        """What must be finished before this task runs: ``deps()``, plus what an aggregator
        yields."""
        ...

    def _cascades(self) -> bool:
        """Does being complete also need every upstream task to be complete?"""
        ...

    def _assess(self, deps: list[tuple[EngineTask, Status]]) -> Status:
        """This task's status, given ``(dependency, status)`` of each of ``_graph_deps()``."""
        ...

    def _outputs_exist(self) -> bool:
        """Do all outputs exist (a check by existence, for tasks without records)?"""
        ...

    def output(self) -> Any: ...

    def run(self) -> Any: ...

    def complete(self) -> bool: ...


class DataTask(EngineTask, Protocol):
    """A task whose outputs d6tflow saves and records (``TaskData``)."""

    persist: list[str]

    def _file_paths(self) -> tuple[dict[str, str], str]:
        """``({persist key: path}, folder)`` of the outputs written as files; ``({}, "")`` for
        in-memory and custom targets, which have no records."""
        ...

    def _meta_path(self) -> Any:
        """Where ``metaSave`` writes this task's metadata (a ``pathlib.Path``)."""
        ...

    def _read_meta(self) -> Any:
        """The metadata ``metaSave`` wrote (raises FileNotFoundError if none)."""
        ...

    def to_str_params(self, only_significant: bool = False) -> dict[str, str]: ...


def builtin(fn: _F) -> _F:
    """Mark d6tflow's own ``complete`` so the engine may judge the task itself, in bulk, from
    its outputs and records (see :func:`judged_by_engine`)."""
    fn._d6tflow_builtin = True  # type: ignore[attr-defined]
    return fn


def judged_by_engine(task: Any) -> bool:
    """Is the task's completeness d6tflow's to judge? False when its class overrides
    ``complete()``: then only its own answer counts."""
    return getattr(type(task).complete, "_d6tflow_builtin", False)


def runs_nothing(task: Any) -> bool:
    """A task whose ``run()`` only yields tasks that are graph dependencies already (an
    aggregator): executing it means nothing."""
    return getattr(task, "_run_is_graph_only", False)


def register_class(cls: type, *names: str) -> None:
    """Record ``cls`` under each of ``names`` (its class name and, if other, its family)."""
    _task_classes.add(cls)
    for name in dict.fromkeys(names):
        _classes_by_name.setdefault(name, []).append(cls)


def task_class_by_name(name: str) -> type:
    """The task class whose ``__name__`` or ``task_family`` is ``name`` (the most recently defined
    one wins)."""
    classes = _classes_by_name.get(name)
    if not classes:
        raise UnknownTaskClassError(
            f"No task class named {name!r} has been defined in this process"
        )
    return classes[-1]


def task_class_names() -> list[str]:
    """Every name a task class was defined with in this process."""
    return list(_classes_by_name)


def is_task_class(obj: Any) -> bool:
    """Is ``obj`` a task class (``Task`` or a subclass)?"""
    return obj in _task_classes if isinstance(obj, type) else False
