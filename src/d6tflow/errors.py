"""One exception hierarchy for d6tflow.

Each error subclasses the built-in exception the original d6tflow raised in the same situation
(RuntimeError, ValueError, TypeError), so ``except RuntimeError`` in existing user code
keeps working.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class D6tflowError(Exception):
    """Base class of every error d6tflow raises on purpose."""


class ParameterError(D6tflowError, ValueError):
    """A parameter value is invalid: wrong type, not an allowed choice, out of range."""


class MissingParameterError(ParameterError):
    """A required parameter (one without a default) was not given."""


class TaskDefinitionError(D6tflowError, TypeError):
    """A task class or a ``requires()`` result is not usable as written."""


class TaskFamilyClashError(TaskDefinitionError):
    """Two task classes of one name (from different modules) write to the same folder: their
    task ids are the same, so each would overwrite and load the other's outputs."""


class FolderNameError(D6tflowError, ValueError):
    """A folder setting (``env``, ``task_group``, ``target_dir``, ``task_family``) would put
    outputs outside the data folder, or is not a name."""


class CycleError(D6tflowError, RuntimeError):
    """The dependency graph has a cycle; ``tasks`` lists the tasks on it, in order."""

    def __init__(self, tasks: list[Any]):
        self.tasks = tasks
        chain = " -> ".join(repr(t) for t in [*tasks, tasks[0]])
        super().__init__(
            f"Dependency cycle: {chain}. A task cannot require itself, even indirectly."
        )


class TaskNotCompleteError(D6tflowError, RuntimeError):
    """Loading an output that does not exist yet."""


class OutputError(D6tflowError, RuntimeError):
    """Saving or loading an output failed, or run() finished without saving its outputs."""


class OutputsNotSavedError(OutputError):
    """A task's ``run()`` ended without saving every output it declares."""

    def __init__(self, task: Any, missing: list[str]):
        self.task, self.missing = task, missing
        super().__init__(
            f"{task!r}.run() finished without saving output(s) {missing}. Call self.save(...) in "
            "run() (with a dict of every persist key for several outputs)."
        )


class TaskFailure(NamedTuple):
    """One failed task: the exception it raised and the formatted traceback."""

    task: Any
    exception: BaseException
    traceback: str

    def __str__(self) -> str:
        return f"{self.task!r} failed: {type(self.exception).__name__}: {self.exception}"


class FlowFailedError(D6tflowError, RuntimeError):
    """``d6tflow.run(..., abort=True)`` had failing tasks.

    ``failures`` holds a :class:`TaskFailure` per failed task (task, exception, traceback);
    ``result`` is the full :class:`~d6tflow.scheduler.RunResult`.
    """

    def __init__(self, failures: list[TaskFailure], result: Any = None):
        self.failures = failures
        self.result = result
        parts = [
            f"{len(failures)} task(s) failed; completed tasks stay complete, so rerunning after a "
            "fix runs only the failed tasks and what depends on them."
        ]
        for failure in failures:
            parts.append(f"\n{failure}\n{failure.traceback.rstrip()}")
        super().__init__("\n".join(parts))

    @property
    def exceptions(self) -> list[BaseException]:
        return [f.exception for f in self.failures]
