"""Run each task in the calling process, one at a time."""

from __future__ import annotations

from typing import Any

from d6tflow.executors.base import Executor, FinishedFuture, execute_task


class InlineExecutor(Executor):
    """The default: tasks run in this process, so in-memory outputs and debuggers just work."""

    runs_in_caller = True

    def submit(self, task: Any) -> FinishedFuture:
        return FinishedFuture(execute_task(task, self.run_flow))
