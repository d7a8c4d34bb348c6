"""The executor interface and what executing one task means."""

from __future__ import annotations

import logging
import os
import traceback
import types
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from d6tflow.errors import FlowFailedError, OutputsNotSavedError, UsageError
from d6tflow.protocol import judged_by_engine, runs_nothing
from d6tflow.provenance import MEANWHILE, PULLED, RAN, run_and_commit
from d6tflow.utils import flatten, gc_resumed, map_structure

if TYPE_CHECKING:
    from d6tflow.protocol import EngineTask as Task

#: How the tasks a task yields from ``run()`` are run: ``d6tflow.run``, which the scheduler hands
#: to its executor (the executors are below the scheduler and never import it).
RunFlow = Callable[..., Any]


class TaskOutcome(NamedTuple):
    """What came of running one task; ``error`` is None on success. Picklable, so it can come
    back from another process. ``ran`` is False when another run had completed it meanwhile;
    ``pulled``: its outputs came from the shared cache (``run(remote=...)``) instead."""

    error: BaseException | None = None
    traceback: str = ""
    ran: bool = True
    pulled: bool = False


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

    #: ``d6tflow.run``, set by the scheduler before the first ``submit``: what runs the tasks a
    #: task yields from ``run()`` (in whichever process executes it).
    run_flow: RunFlow | None = None

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


def execute_task(task: Task, run_flow: RunFlow | None) -> TaskOutcome:
    """Run one task in this process: its ``run()``, the tasks it yields (run by ``run_flow``),
    then check its outputs."""
    try:
        with gc_resumed():  # the scheduler pauses the collector for its own work, not for this
            how = _run(task, run_flow)
    except Exception as e:
        text = user_traceback(e)
        explained = _hook(task, "on_failure", e)
        if isinstance(explained, str) and explained:
            text += f"\n{task!r}.on_failure: {explained}\n"
        return TaskOutcome(error=e, traceback=text)
    if how == RAN:
        _hook(task, "on_success")
    return TaskOutcome(ran=how != MEANWHILE, pulled=how == PULLED)


# The d6tflow package's folder: its frames lead from the run loop to a task's run().
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_traceback(error: BaseException) -> str:
    """``error``'s traceback from the first frame of the user's code on: the frames of d6tflow
    that lead to a task's ``run()`` say nothing about what went wrong. Frames of d6tflow that
    the user's code called (``self.save`` …) stay; an error raised by d6tflow itself around the
    task (outputs not saved) is its message alone."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _hook(task: Task, name: str, *args: Any) -> Any:
    """Call the task's luigi hook ``name`` if it has one; an error in it is logged, not raised:
    the task's own outcome stands."""
    hook = getattr(task, name, None)
    if hook is None:
        return None
    try:
        return hook(*args)
    except Exception:
        logging.getLogger("d6tflow").exception("%r.%s raised", task, name)
        return None


def _run(task: Task, run_flow: RunFlow | None) -> str:
    if runs_nothing(task):
        return RAN  # an aggregator's yielded tasks are graph dependencies, already complete
    if not judged_by_engine(task):  # a custom complete() decides for itself
        _run_body(task, run_flow)
        return RAN
    if hasattr(task, "_file_paths"):  # a data task: outputs staged, then committed with a record
        return run_and_commit(task, lambda: _run_body(task, run_flow))
    _run_body(task, run_flow)
    missing = _missing_outputs(task)
    if missing:
        raise OutputsNotSavedError(task, missing)
    return RAN


def _run_body(task: Task, run_flow: RunFlow | None) -> None:
    result = task.run()
    if isinstance(result, types.GeneratorType):
        _drive_dynamic(task, result, run_flow)


def _drive_dynamic(task: Task, gen: Any, run_flow: RunFlow | None) -> None:
    """Tasks yielded from run() are run to completion, then the generator gets their outputs."""
    if run_flow is None:
        raise UsageError(
            f"{task!r}.run() yields tasks, and its executor was given no run_flow to run them "
            "with: start executors through d6tflow.run(...)"
        )
    try:
        yielded = next(gen)
        while True:
            # abort=True: a failure comes back as the error of this task (its traceback inside),
            # not logged a second time by the inner run.
            result = run_flow(flatten(yielded), execution_summary=False, abort=True)
            if not result:
                raise FlowFailedError(result.failures, result)
            yielded = gen.send(map_structure(lambda t: t.output(), yielded))
    except StopIteration:
        pass


def _missing_outputs(task: Task) -> list[str]:
    output = task.output()
    targets = output.items() if isinstance(output, dict) else [(None, t) for t in flatten(output)]
    return [str(key if key is not None else t.path) for key, t in targets if not t.exists()]
