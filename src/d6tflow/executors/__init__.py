"""How a ready task is executed. The scheduler decides *what* runs and *when*; an executor only
runs the tasks it is handed. Register a new one by name with :func:`register_executor`.

Built in: "inline" (one task at a time in this process, the default), "process" (a pool of worker
processes on this machine, the default when ``workers`` > 1) and "dask" (a Dask cluster; needs
``pip install d6tflow[dask]``).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from d6tflow.errors import UnknownExecutorError
from d6tflow.executors.base import Executor, RunFlow, TaskOutcome, execute_task
from d6tflow.executors.inline import InlineExecutor

__all__ = [
    "Executor",
    "InlineExecutor",
    "TaskOutcome",
    "execute_task",
    "get_executor",
    "register_executor",
]

logger = logging.getLogger("d6tflow")

# Name -> class, or "module:Class" imported on first use (dask must not load with d6tflow).
_executors: dict[str, type[Executor] | str] = {
    "inline": InlineExecutor,
    "process": "d6tflow.executors.process:ProcessExecutor",
    "dask": "d6tflow.executors.dask:DaskExecutor",
}


def register_executor(name: str, cls: type[Executor] | str) -> None:
    """Make an executor available as ``d6tflow.run(..., executor=name)``; ``cls`` may be
    "module:Class", imported when first used."""
    _executors[name] = cls


def _executor_class(name: str) -> type[Executor]:
    try:
        found = _executors[name]
    except KeyError:
        raise UnknownExecutorError(
            f"Unknown executor {name!r}; known: {sorted(_executors)}"
        ) from None
    if isinstance(found, str):
        module, _, attr = found.partition(":")
        found = _executors[name] = getattr(importlib.import_module(module), attr)
    return found


def _is_dask_client(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Client" and cls.__module__.split(".")[0] == "distributed"


def get_executor(
    executor: Any, workers: int = 1, run_flow: RunFlow | None = None, **options: Any
) -> Executor:
    """An executor instance: one given, one registered by name, or by default inline (one task
    at a time) when ``workers`` is 1 and a process pool of ``workers`` processes otherwise.
    ``run_flow`` (``d6tflow.run``, given by the scheduler) runs the tasks a task yields.

    >>> get_executor(None, workers=4)                       # a pool of 4 worker processes
    >>> get_executor("dask", address="tcp://host:8786")     # an existing Dask cluster
    >>> get_executor(distributed.Client(...))               # a Dask client of yours
    """
    found = _make_executor(executor, workers, **options)
    if found.run_flow is None:
        found.run_flow = run_flow
    return found


def _make_executor(executor: Any, workers: int, **options: Any) -> Executor:
    if isinstance(executor, Executor):
        return executor
    if _is_dask_client(executor):
        return _executor_class("dask")(workers=workers, client=executor, **options)
    name = executor or ("process" if workers > 1 else "inline")
    if name == "inline" and workers > 1:
        logger.warning(
            "workers=%d with executor='inline': running one task at a time (leave executor unset "
            "to run tasks in parallel in worker processes)",
            workers,
        )
        workers = 1
    return _executor_class(name)(workers=workers, **options)
