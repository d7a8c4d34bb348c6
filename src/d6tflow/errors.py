"""One exception hierarchy for d6tflow.

Every error d6tflow raises on purpose is a :class:`D6tflowError` and also a subclass of the
built-in exception d6tflow (and, where it said so, the original d6tflow) raised in the same
situation: ``RuntimeError``, ``ValueError``, ``TypeError``, ``KeyError``, ``FileNotFoundError``…
so ``except ValueError`` in existing user code keeps working. docs/running.md ("Errors") lists
them. This module imports nothing from d6tflow: every layer may raise these.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "AcceptRefusedError",
    "ConfigurationError",
    "CycleError",
    "D6tflowError",
    "DataFolderNotSharedError",
    "FlowFailedError",
    "FolderNameError",
    "InvalidArgumentError",
    "MetadataMissingError",
    "MissingArgumentError",
    "MissingDependencyError",
    "MissingExtraError",
    "MissingFileError",
    "MissingParameterError",
    "NoOutputFormatError",
    "NotShippableError",
    "OutputError",
    "OutputKeyError",
    "OutputsNotSavedError",
    "ParameterError",
    "PersistMismatchError",
    "RemoteStorageError",
    "RemoteTaskError",
    "TaskDefinitionError",
    "TaskFailure",
    "TaskFamilyClashError",
    "TaskNotCompleteError",
    "TransferError",
    "UnknownExecutorError",
    "UnknownNameError",
    "UnknownTaskClassError",
    "UntrustedPickleError",
    "UsageError",
    "WorkerDiedError",
]


class D6tflowError(Exception):
    """Base class of every error d6tflow raises on purpose."""


class UsageError(D6tflowError, TypeError):
    """A d6tflow function got the wrong kind of argument (a task class where an instance is
    needed, or the reverse; an unknown keyword; something that is not a task, flow or format)."""


class MissingArgumentError(UsageError, IndexError):
    """A call needs at least one task, function or flow and got none (``@d6tflow.requires()``,
    ``@flow.requires()``, ``invalidate_orphans()``). An ``IndexError`` too, as the original's
    ``d6tflow.requires()`` raised."""


class InvalidArgumentError(D6tflowError, ValueError):
    """An argument has the right type but a value d6tflow cannot use (``forced=`` a task outside
    the flow, ``start_method='fork'``)."""


class UnknownNameError(D6tflowError, KeyError):
    """A name d6tflow looks up is not registered: a format, a flow of a ``WorkflowMulti``, a
    function of a functional ``Workflow``."""

    def __str__(self) -> str:  # KeyError would otherwise show the message in quotes
        return str(self.args[0]) if self.args else ""


class UnknownExecutorError(UnknownNameError, ValueError):
    """``executor=`` names no registered executor."""


class UnknownTaskClassError(UnknownNameError, ValueError):
    """No task class of that name was defined in this process."""


class ConfigurationError(D6tflowError, RuntimeError):
    """The call needs a setting that is not there: a ``Workflow`` without a default task, or
    ``set_dir`` while d6tpipe manages the data folder."""


class MissingFileError(D6tflowError, FileNotFoundError):
    """A file d6tflow reads is not there: a ``FlowImport`` module, a Dask output folder."""


class MetadataMissingError(MissingFileError):
    """``metaLoad()``: an upstream task saved no metadata (it never called ``metaSave``)."""


class MissingDependencyError(D6tflowError, ImportError):
    """An optional package a feature needs is not installed (``executor='dask'`` without
    ``distributed``)."""


class MissingExtraError(MissingDependencyError):
    """A task flavour's library is not installed (``TaskPqPolars`` without polars): the message
    names the task's output and the ``pip install 'd6tflow[<extra>]'`` that installs it."""


class ParameterError(D6tflowError, ValueError):
    """A parameter value is invalid: wrong type, not an allowed choice, out of range."""


class MissingParameterError(ParameterError):
    """A required parameter (one without a default) was not given."""


class TaskDefinitionError(D6tflowError, TypeError):
    """A task class or a ``requires()`` result is not usable as written."""


class NoOutputFormatError(TaskDefinitionError):
    """A task or target class has no output format to save and load with."""


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


class AcceptRefusedError(D6tflowError, ValueError):
    """``d6tflow.accept`` was asked to vouch for outputs that differ from their record in more
    than code (an upstream output, an input file, a missing output): it accepts code only."""


class TaskNotCompleteError(D6tflowError, RuntimeError):
    """Loading an output that does not exist yet."""


class OutputError(D6tflowError, RuntimeError):
    """Saving or loading an output failed, or run() finished without saving its outputs."""


class OutputKeyError(D6tflowError, IndexError, KeyError):
    """A key asked for is not one of the task's ``persist`` names (``outputLoad(keys=...)``,
    ``inputLoad(task=...)``). An ``IndexError``, as in the original."""

    def __str__(self) -> str:  # KeyError would otherwise show the message in quotes
        return str(self.args[0]) if self.args else ""


class PersistMismatchError(D6tflowError, ValueError):
    """``save(dict)`` got keys that are not exactly the task's ``persist`` names."""


class UntrustedPickleError(OutputError):
    """A pickled output (or metadata) came from a remote that is not marked trusted: unpickling
    runs whatever code its writer put in it. ``set_remote(url, trusted=True)`` (or
    ``trusted=True`` on the pull or run) allows it."""


class RemoteStorageError(D6tflowError, OSError):
    """A remote folder could not be reached or read (server down, wrong endpoint or
    credentials): the message names the folder and the file system's own error. Nothing local
    is lost: a commit writes its record only after its uploads."""


class TransferError(OutputError):
    """A push or pull could not move an output as its record says: the remote object does not
    have the content its record names, a local output differs from the remote one (``force=True``
    overwrites), or the remote was unreachable. Nothing half-copied is published."""


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


class RemoteTaskError(D6tflowError, RuntimeError):
    """A task failed in a worker process with an exception that could not be sent back as it is.

    ``type_name``, ``message`` and ``remote_traceback`` describe the original exception.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = ""):
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> Any:
        return (type(self), (self.type_name, self.message, self.remote_traceback))


class WorkerDiedError(D6tflowError, RuntimeError):
    """The process running a task died (killed, out of memory, a crash in native code)."""


class NotShippableError(D6tflowError, TypeError):
    """A task, or an in-memory object it needs, cannot be pickled to go to a worker process."""


class DataFolderNotSharedError(D6tflowError, ValueError):
    """Dask workers on other machines cannot reach the data folder."""
