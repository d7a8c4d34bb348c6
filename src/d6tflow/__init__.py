"""d6tflow: fast, trustworthy data-science workflows.

Write small parameterized tasks; d6tflow knows their dependencies, runs what is missing in the
right order, saves every output and loads any of them back with one call::

    import d6tflow

    class TaskGetData(d6tflow.tasks.TaskPqPandas):
        def run(self):
            self.save(make_frame())

    @d6tflow.requires(TaskGetData)
    class TaskTrain(d6tflow.tasks.TaskPickle):
        alpha = d6tflow.FloatParameter(default=0.5)

        def run(self):
            self.save(fit(self.inputLoad(), self.alpha))

    d6tflow.run(TaskTrain())
    model = TaskTrain().outputLoad()

Importing d6tflow prints nothing and loads no heavy library; pandas is imported when a DataFrame
format is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from d6tflow import errors, formats, settings, targets, tasks, utils
from d6tflow import notebook as notebook  # importing it registers the HTML views of Jupyter
from d6tflow.cache import data
from d6tflow.catalog import catalog, verify  # eager: the submodule has the function's name
from d6tflow.display import preview, show
from d6tflow.draw import draw  # eager: the submodule has the function's name
from d6tflow.errors import FlowFailedError
from d6tflow.graph import taskflow_downstream, taskflow_upstream
from d6tflow.inherit import clone_parent, dict_inherits, dict_requires, inherits, requires
from d6tflow.invalidation import (
    invalidate_all,
    invalidate_downstream,
    invalidate_orphans,
    invalidate_upstream,
)
from d6tflow.params import (
    BoolParameter,
    ChoiceParameter,
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    DictParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    MonthParameter,
    NumericalParameter,
    OptionalParameter,
    Parameter,
    TaskParameter,
    TimeDeltaParameter,
    TupleParameter,
    YearParameter,
)
from d6tflow.report import report  # eager: the submodule has the function's name
from d6tflow.scheduler import RunResult, TaskState, run
from d6tflow.sharing import pull, push
from d6tflow.stores import enable_cloud_storage, enable_gcs, set_dir, set_remote
from d6tflow.task import Task
from d6tflow.version import __version__ as __version__

# Loaded on first use (PEP 562): they are not needed to define and run tasks, and importing them
# up front would add to every `import d6tflow`.
_LAZY = {
    "Workflow": "d6tflow.workflow",
    "WorkflowMulti": "d6tflow.workflow",
    "FlowExport": "d6tflow.share",
    "FlowImport": "d6tflow.share",
    "dotdict": "d6tflow.share",
    "accept": "d6tflow.acceptance",
    "history": "d6tflow.run_history",
    "why": "d6tflow.explain",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'd6tflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BoolParameter",
    "ChoiceParameter",
    "DateHourParameter",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "DictParameter",
    "EnumParameter",
    "FloatParameter",
    "FlowExport",
    "FlowFailedError",
    "FlowImport",
    "IntParameter",
    "ListParameter",
    "MonthParameter",
    "NumericalParameter",
    "OptionalParameter",
    "Parameter",
    "RunResult",
    "Task",
    "TaskParameter",
    "TaskState",
    "TimeDeltaParameter",
    "TupleParameter",
    "Workflow",
    "WorkflowMulti",
    "YearParameter",
    "accept",
    "catalog",
    "clone_parent",
    "data",
    "dict_inherits",
    "dict_requires",
    "dotdict",
    "draw",
    "enable_cloud_storage",
    "enable_gcs",
    "errors",
    "formats",
    "history",
    "inherits",
    "invalidate_all",
    "invalidate_downstream",
    "invalidate_orphans",
    "invalidate_upstream",
    "preview",
    "pull",
    "push",
    "report",
    "requires",
    "run",
    "set_dir",
    "set_remote",
    "settings",
    "show",
    "targets",
    "taskflow_downstream",
    "taskflow_upstream",
    "tasks",
    "utils",
    "verify",
    "why",
]
