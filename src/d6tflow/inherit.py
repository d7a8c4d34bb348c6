"""Parameter inheritance and automatic ``requires()``: ``@d6tflow.requires``/``inherits``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from d6tflow.errors import MissingArgumentError, UsageError
from d6tflow.task import Task

__all__ = ["clone_parent", "dict_inherits", "dict_requires", "inherits", "requires"]

T = Any  # a task class


def _check_classes(decorator: str, tasks: tuple) -> None:
    if not tasks:
        raise MissingArgumentError(f"@d6tflow.{decorator}() needs at least one task class")
    for task in tasks:
        if not (isinstance(task, type) and issubclass(task, Task)):
            raise UsageError(f"@d6tflow.{decorator}: {task!r} is not a task class")


def _copy_params(target: type[Task], sources: list[type[Task]]) -> None:
    for source in sources:
        for name, param in source.get_params():
            if not hasattr(target, name):
                setattr(target, name, param)


def _list_inherits(tasks: tuple) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        _copy_params(cls, list(tasks))

        def clone_parent(self: Task, **kwargs: Any) -> Task:
            return self.clone(tasks[0], **kwargs)

        def clone_parents(self: Task, **kwargs: Any) -> list[Task]:
            return [self.clone(t, **kwargs) for t in tasks]

        cls.clone_parent = clone_parent
        cls.clone_parents = clone_parents
        return cls

    return decorate


def dict_inherits(tasks: dict[str, type[Task]]) -> Callable[[T], T]:
    """Like :func:`inherits` with named upstream tasks; adds ``clone_parents_dict()``."""
    _check_classes("inherits", tuple(tasks.values()))

    def decorate(cls: T) -> T:
        _copy_params(cls, list(tasks.values()))

        def clone_parents_dict(self: Task, **kwargs: Any) -> dict[str, Task]:
            return {name: self.clone(t, **kwargs) for name, t in tasks.items()}

        cls.clone_parents_dict = clone_parents_dict
        return cls

    return decorate


def inherits(*tasks: Any) -> Callable[[T], T]:
    """Copy the parameters of ``tasks`` onto the decorated class; you write ``requires()``.

    >>> @d6tflow.inherits(TaskTrain)
    ... class TaskEvaluate(d6tflow.tasks.TaskPickle):
    ...     def requires(self):
    ...         return self.clone(TaskTrain)
    """
    if tasks and isinstance(tasks[0], dict):
        return dict_inherits(tasks[0])
    _check_classes("inherits", tasks)
    return _list_inherits(tasks)


def dict_requires(tasks: dict[str, type[Task]]) -> Callable[[T], T]:
    """``requires()`` returns ``{name: upstream task}``; parameters are inherited."""
    inherit = dict_inherits(tasks)

    def decorate(cls: T) -> T:
        cls = inherit(cls)
        cls.requires = lambda self: self.clone_parents_dict()
        return cls

    return decorate


def requires(*tasks: Any) -> Callable[[T], T]:
    """Inherit the parameters of ``tasks`` and require them (one task, a list, or a dict).

    >>> @d6tflow.requires(TaskPreprocess)
    ... class TaskTrain(d6tflow.tasks.TaskPickle):
    ...     def run(self):
    ...         df = self.inputLoad()
    """
    if tasks and isinstance(tasks[0], dict):
        return dict_requires(tasks[0])
    _check_classes("requires", tasks)
    inherit = _list_inherits(tasks)

    def decorate(cls: T) -> T:
        cls = inherit(cls)
        if len(tasks) == 1:
            cls.requires = lambda self: self.clone_parent()
        else:
            cls.requires = lambda self: self.clone_parents()
        return cls

    return decorate


def clone_parent(task: type[Task]) -> Callable[[T], T]:
    """Deprecated: use ``@d6tflow.requires(task)``."""
    warnings.warn(
        "d6tflow.clone_parent is deprecated; use @d6tflow.requires",
        DeprecationWarning,
        stacklevel=2,
    )

    def decorate(cls: T) -> T:
        cls.requires = lambda self: self.clone(task)
        return cls

    return decorate
