"""The executor interface and what executing one task means."""

from __future__ import annotations

import traceback
import types
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from d6tflow.errors import FlowFailedError, OutputError
from d6tflow.provenance import run_and_commit
from d6tflow.task_data import TaskData
from d6tflow.utils import flatten, gc_resumed, map_structure

if TYPE_CHECKING:
    from d6tflow.task import Task


class TaskOutcome(NamedTuple):
    """What came of running one task; ``error`` is None on success. Picklable, so it can come
    back from another process. ``ran`` is False when another run had completed it meanwhile."""

    error: BaseException | None = None
    traceback: str = ""
    ran: bool = True


class FinishedFuture:
    """A Future that is done from the start: what inline execution returns, without the locks
    of ``concurrent.futures.Future`` (it is created once per task)."""

    __slots__ = ("_outcome",)

    def __init__(self, outcome: TaskOutcome):
        self._outcome = outcome

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> TaskOutcome:
        return self._outcome


class Executor(ABC):
    """Runs ready tasks. ``submit`` returns a Future of a :class:`TaskOutcome`; the scheduler keeps
    at most ``capacity`` tasks submitted and not yet finished."""

    #: True if ``submit`` runs the task in the calling thread (Ctrl-C must reach its code at
    #: once); False if tasks run elsewhere, so the scheduler holds a Ctrl-C back while it
    #: submits and waits, and acts on it where no lock is held (see d6tflow.interrupts).
    runs_in_caller: ClassVar[bool] = False

    def __init__(self, workers: int = 1, **options: Any):
        self.workers = workers

    @property
    def capacity(self) -> int:
        return self.workers

    @abstractmethod
    def submit(self, task: Task) -> Future | FinishedFuture:
        """Start ``task`` (all its dependencies are complete) and return a Future of its outcome
        (a ``concurrent.futures.Future``, or a :class:`FinishedFuture` if it ran already)."""

    def shutdown(self) -> None:
        """Release workers; called once when the run ends, also after errors or Ctrl-C."""


def execute_task(task: Task) -> TaskOutcome:
    """Run one task in this process: its ``run()``, tasks it yields, then check its outputs."""
    try:
        with gc_resumed():  # the scheduler pauses the collector for its own work, not for this
            ran = _run(task)
    except Exception as e:
        return TaskOutcome(error=e, traceback=traceback.format_exc())
    return TaskOutcome(ran=ran)


def _run(task: Task) -> bool:
    if getattr(task, "_run_is_graph_only", False):
        return True  # an aggregator's yielded tasks are graph dependencies, already complete
    if isinstance(task, TaskData) and getattr(type(task).complete, "_d6tflow_builtin", False):
        return run_and_commit(task, lambda: _run_body(task, check_outputs=False))
    _run_body(task, check_outputs=True)
    return True


def _run_body(task: Task, check_outputs: bool) -> None:
    result = task.run()
    if isinstance(result, types.GeneratorType):
        _drive_dynamic(task, result)
    missing = _missing_outputs(task) if check_outputs else []
    if missing:
        raise OutputError(
            f"{task!r}.run() finished without saving output(s) {missing}. "
            "Call self.save(...) in run() (with a dict of every persist key for several outputs)."
        )


def _drive_dynamic(task: Task, gen: Any) -> None:
    """Tasks yielded from run() are run to completion, then the generator gets their outputs."""
    from d6tflow.scheduler import run as run_flow

    try:
        yielded = next(gen)
        while True:
            result = run_flow(flatten(yielded), execution_summary=False, abort=False)
            if not result:
                raise FlowFailedError(result.failures, result)
            yielded = gen.send(map_structure(lambda t: t.output(), yielded))
    except StopIteration:
        pass


def _missing_outputs(task: Task) -> list[str]:
    if not getattr(type(task).complete, "_d6tflow_builtin", False):
        return []  # a custom complete() decides for itself
    output = task.output()
    targets = output.items() if isinstance(output, dict) else [(None, t) for t in flatten(output)]
    return [str(key if key is not None else t.path) for key, t in targets if not t.exists()]
