"""The built-in task flavours: TaskData bound to a format, and TaskAggregator."""

from __future__ import annotations

from typing import Any

from d6tflow.task import Task
from d6tflow.task_data import TaskData
from d6tflow.utils import flatten

__all__ = [
    "TaskAggregator",
    "TaskCSVGZPandas",
    "TaskCSVPandas",
    "TaskCache",
    "TaskCachePandas",
    "TaskData",
    "TaskExcelPandas",
    "TaskJson",
    "TaskPickle",
    "TaskPqDask",
    "TaskPqPandas",
]


class TaskCache(TaskData):
    """Any object, kept in memory (``d6tflow.data``); gone when the process ends."""

    format = "cache"


class TaskCachePandas(TaskCache):
    """A DataFrame kept in memory."""


class TaskPickle(TaskData):
    """Any picklable object, as a ``.pkl`` file."""

    format = "pickle"


class TaskJson(TaskData):
    """A JSON-serializable object (dict keys become str), as a ``.json`` file."""

    format = "json"


class TaskCSVPandas(TaskData):
    """A DataFrame as ``.csv`` (the index is not saved)."""

    format = "csv"


class TaskCSVGZPandas(TaskData):
    """A DataFrame as gzip-compressed ``.csv.gz`` (the index is not saved)."""

    format = "csv.gz"


class TaskExcelPandas(TaskData):
    """A DataFrame as an ``.xlsx`` sheet (needs ``pip install d6tflow[excel]``)."""

    format = "excel"


class TaskPqPandas(TaskData):
    """A DataFrame as ``.parquet`` (the index is kept)."""

    format = "parquet"


class TaskPqDask(TaskData):
    """A dask DataFrame as partitioned Parquet, a ``.pq`` folder; ``outputLoad()`` returns a dask
    DataFrame (needs ``pip install d6tflow[dask]``)."""

    format = "parquet-dask"


class TaskAggregator(Task):
    """Groups tasks: its ``run()`` only yields them, and it is complete when they all are.

    >>> class TaskAll(d6tflow.tasks.TaskAggregator):
    ...     def run(self):
    ...         for day in range(7):
    ...             yield TaskDaily(day=day)

    The yielded tasks become ordinary dependencies: they are scheduled up front (and shown by
    ``preview``), so ``run()`` must only yield, without side effects.
    """

    _run_is_graph_only = True

    def _yielded(self) -> list[Task]:
        found = flatten(self.run())
        return [self._pass_context(t) for t in found] if self._context is not None else found

    def _graph_deps(self) -> list[Task]:
        return [*self.deps(), *self._yielded()]

    def _outputs_exist(self) -> bool:
        return True

    def _cascades(self) -> bool:
        return True

    def output(self) -> list[Any]:
        return [t.output() for t in self._yielded()]

    def outputLoad(self, keys: Any = None, as_dict: bool = False, cached: bool = False) -> list:
        return [t.outputLoad(keys=keys, as_dict=as_dict, cached=cached) for t in self._yielded()]

    def invalidate(self, confirm: bool = True) -> bool:
        """Delete the outputs of every yielded task (each asks first unless ``confirm=False``);
        True if all of them were deleted, as :meth:`TaskData.invalidate` answers for one."""
        answers = [task.invalidate(confirm=confirm) for task in self._yielded()]
        return all(answer is not False for answer in answers)  # a task of yours may return None

    def reset(self, confirm: bool = True) -> bool:
        """Same as :meth:`invalidate`."""
        return self.invalidate(confirm=confirm)
