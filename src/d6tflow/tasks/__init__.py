"""The built-in task flavours: TaskData bound to a format, and TaskAggregator.

Each flavour's library is imported only when one of its tasks saves or loads; without it, that
task fails with the ``pip install 'd6tflow[<extra>]'`` to run (docs/formats.md).
"""

from __future__ import annotations

from typing import Any

from d6tflow.formats import SQLFormat
from d6tflow.task import Task
from d6tflow.task_data import TaskData
from d6tflow.tasks.h5 import TaskH5Pandas
from d6tflow.utils import flatten

__all__ = [
    "TaskAggregator",
    "TaskCSVGZPandas",
    "TaskCSVPandas",
    "TaskCSVPolars",
    "TaskCache",
    "TaskCachePandas",
    "TaskData",
    "TaskExcelPandas",
    "TaskFigure",
    "TaskH5Pandas",
    "TaskJoblib",
    "TaskJson",
    "TaskMarkdown",
    "TaskNumpy",
    "TaskPickle",
    "TaskPqArrow",
    "TaskPqDask",
    "TaskPqPandas",
    "TaskPqPolars",
    "TaskSQL",
    "TaskText",
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


class TaskPqPolars(TaskData):
    """A polars DataFrame (a LazyFrame is collected) as ``.parquet``; ``outputLoad()`` returns a
    polars DataFrame, ``outputLoad(lazy=True)`` a LazyFrame (``pl.scan_parquet``). Needs
    ``pip install 'd6tflow[polars]'``."""

    format = "parquet-polars"


class TaskCSVPolars(TaskData):
    """A polars DataFrame as ``.csv`` (``pip install 'd6tflow[polars]'``)."""

    format = "csv-polars"


class TaskPqArrow(TaskData):
    """A pyarrow Table as ``.parquet``, loaded back as a Table (memory-mapped)."""

    format = "parquet-arrow"


class TaskNumpy(TaskData):
    """A numpy array as ``.npy``; ``outputLoad(mmap_mode="r")`` maps it instead of reading it.
    For a dict of arrays set ``format = "npz"`` (loaded back as a dict)."""

    format = "npy"


class TaskJoblib(TaskData):
    """Any object, typically a fitted model, through joblib (``.joblib``);
    ``self.save(model, compress=3)`` compresses. Needs ``pip install 'd6tflow[joblib]'``."""

    format = "joblib"


class TaskFigure(TaskData):
    """A matplotlib or plotly figure as ``.png``; set ``format = "svg"`` or ``"html"`` (plotly's
    interactive page) for another kind. ``outputLoad()`` returns the file's path, which a
    notebook displays as the picture. Needs ``pip install 'd6tflow[figures]'``."""

    format = "png"


class TaskText(TaskData):
    """A str as a UTF-8 ``.txt`` file."""

    format = "txt"


class TaskMarkdown(TaskData):
    """A str as a ``.md`` file (a report)."""

    format = "md"


class TaskSQL(TaskData):
    """A DataFrame as a table named from the task id, in the SQLite file ``d6tflow.sqlite`` of the
    data folder; another database with ``format = d6tflow.formats.SQLFormat(url)`` (any
    SQLAlchemy URL). Needs ``pip install 'd6tflow[sql]'``."""

    format = SQLFormat()


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
