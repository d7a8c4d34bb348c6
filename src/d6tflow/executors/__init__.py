"""How a ready task is executed. The scheduler decides *what* runs and *when*; an executor only
runs the tasks it is handed. Register a new one by name with :func:`register_executor`."""

from __future__ import annotations

import logging
from typing import Any

from d6tflow.executors.base import Executor, TaskOutcome, execute_task
from d6tflow.executors.inline import InlineExecutor

__all__ = ["Executor", "InlineExecutor", "TaskOutcome", "execute_task", "get_executor"]

logger = logging.getLogger("d6tflow")

_executors: dict[str, type[Executor]] = {"inline": InlineExecutor}


def register_executor(name: str, cls: type[Executor]) -> None:
    _executors[name] = cls


def get_executor(executor: str | Executor | None, workers: int = 1, **options: Any) -> Executor:
    """An executor instance: one given, one registered by name, or inline by default."""
    if isinstance(executor, Executor):
        return executor
    name = executor or "inline"
    if name == "inline" and workers > 1:
        # Code written for the original passes workers=N; it must keep running, one task at a time.
        logger.warning(
            "workers=%d: parallel execution is not available in this version yet; "
            "running one task at a time",
            workers,
        )
        workers = 1
    try:
        cls = _executors[name]
    except KeyError:
        raise ValueError(f"Unknown executor {name!r}; known: {sorted(_executors)}") from None
    return cls(workers=workers, **options)
