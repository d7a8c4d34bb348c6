"""``d6tflow.run``: decide what must run, run it in dependency order, report what happened.

The graph is built once and every task's state is checked once. Tasks are handed to an executor
(inline by default) as soon as all their dependencies are done; after a failure, independent
branches keep running and only what depends on the failed task is skipped.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import logging
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from d6tflow import interrupts, progress, settings
from d6tflow.errors import FlowFailedError, InvalidArgumentError, TaskFailure, UsageError
from d6tflow.executors import Executor, get_executor
from d6tflow.executors.shipping import check_not_in_memory
from d6tflow.graph import Graph, matching
from d6tflow.provenance import still_current
from d6tflow.status import State, Status
from d6tflow.stores import shared_cache
from d6tflow.summary import RunResult, TaskState, format_summary
from d6tflow.task import Task, as_task_list
from d6tflow.utils import confirm_prompt, gc_paused, gc_resumed, logger_level

logger = logging.getLogger("d6tflow")

# How long the run loop waits on running tasks before looking up (see _execute).
_WAIT_SLICE_S = 0.25
# luigi.build options the original passed through; they mean nothing without luigi.
_IGNORED_LUIGI_OPTIONS = {"local_scheduler", "detailed_summary", "log_level", "no_lock"}


def run(
    tasks: Any,
    forced: Any = None,
    forced_all: bool = False,
    forced_all_upstream: bool = False,
    confirm: bool = False,
    workers: int = 1,
    abort: bool = True,
    execution_summary: bool | None = None,
    executor: str | Executor | None = None,
    rerun_stale: bool | None = None,
    remote: Any = None,
    push: bool = True,
    trusted: bool | None = None,
    progress: bool | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run tasks and whatever they need that is not complete yet.

    >>> d6tflow.run(TaskTrain())                        # runs what is missing
    >>> d6tflow.run(TaskTrain(), forced_all=True)       # reruns TaskTrain itself
    >>> d6tflow.run(TaskTrain(), forced=TaskPreprocess())  # reruns it and what depends on it

    ``executor`` chooses how tasks execute ("inline", the default, or another registered one);
    keyword arguments beyond these go to it (e.g. ``address=`` for a cluster).
    ``forced_all_upstream`` reruns everything upstream too; ``confirm=True`` asks before deleting
    outputs. With ``abort=True`` a failure raises :class:`~d6tflow.errors.FlowFailedError` after
    the other branches ran; otherwise check the returned result (falsy when anything failed).
    Stale tasks (code, upstream output or input file changed) rerun; ``rerun_stale=False``
    (default: ``settings.rerun_stale``) only reports them and keeps their outputs.
    ``remote`` (a URL, or True for ``set_remote``'s) is a shared cache: a task about to run is
    pulled from there instead if it was made from the same code, upstream outputs and input
    files; what runs is pushed there after (``push=False``: only read). ``trusted=True``: its
    pickles may be loaded (docs/sharing.md). ``progress=False`` (default:
    ``settings.progress``) shows no progress while tasks run (d6tflow.progress says where it
    shows).
    """
    options = {k: v for k, v in kwargs.items() if k not in _IGNORED_LUIGI_OPTIONS}
    if options and executor is None and workers <= 1:
        raise UsageError(_unknown_arguments(sorted(options)))
    roots = as_task_list(tasks)
    summary = settings.execution_summary if execution_summary is None else execution_summary
    keep_stale = not (settings.rerun_stale if rerun_stale is None else rerun_stale)
    # d6tflow's own bookkeeping makes many objects and no cyclic garbage; the collector comes
    # back for tasks' run() (execute_task), for waits (_execute) and after the run, when the
    # graph is gone.
    with (
        gc_paused(),
        logger_level(logger, settings.log_level),
        shared_cache(remote, push, trusted),
    ):
        # Made first: an option the executor does not take stops the run before forced* deletes.
        runner = get_executor(executor, workers=workers, run_flow=run, **options)
        if not runner.runs_in_caller:
            try:
                check_not_in_memory()
            except BaseException:
                runner.shutdown()
                raise
        graph = Graph(roots)
        to_reset = _tasks_to_reset(graph, roots, forced, forced_all, forced_all_upstream)
        if to_reset:
            if confirm and not confirm_prompt("invalidating tasks before the run", to_reset):
                print("Aborted: nothing was run")
                runner.shutdown()
                return RunResult(cancelled=True)
            for task in to_reset:
                task.invalidate(confirm=False)
        show = settings.progress if progress is None else progress
        result = _execute(graph, runner, keep_stale, show)
        del graph, to_reset  # gone before the collector is back: it need not walk them
    result.summary = format_summary(result)
    if summary:
        print(result.summary)
    if result.failures and abort:
        raise FlowFailedError(result.failures, result)  # its message holds the tracebacks
    for failure in result.failures:
        logger.error("%s\n%s", failure, failure.traceback.rstrip())
    return result


def _unknown_arguments(names: list[str]) -> str:
    """The error for keywords ``run`` does not take, with the argument each one may have meant."""
    known = [n for n in inspect.signature(run).parameters if n not in ("tasks", "kwargs")]
    guesses = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        guesses.append(f"{name}= (did you mean {close[0]}=?)" if close else f"{name}=")
    return (
        f"d6tflow.run() got unknown argument(s) {', '.join(guesses)}. It takes "
        f"{', '.join(known)}. (Executor options such as grace_period= apply with workers > 1 or "
        "executor=...; with workers=1 tasks run in this process.)"
    )


def _tasks_to_reset(
    graph: Graph, roots: list[Task], forced: Any, forced_all: bool, forced_all_upstream: bool
) -> list[Task]:
    """The tasks whose outputs are deleted before running, per the forced* arguments."""
    selected: dict[Task, None] = {}
    if forced_all_upstream:
        for root in roots:
            selected.update(dict.fromkeys(graph.upstream_of(root)))
        return list(selected)
    if forced_all:
        forced = roots
    if forced is None:
        return []
    state = {task: status.state is not State.PENDING for task, status in graph.states().items()}
    for forced_task in as_task_list(forced, "forced"):
        targets = matching(graph, forced_task)
        if not targets:
            raise InvalidArgumentError(f"forced={forced_task!r} is not part of the flow being run")
        if forced_task not in graph:
            logger.warning(
                "forced=%r is not in the flow; forcing every %s in it instead",
                forced_task,
                forced_task.task_family,
            )
        for root in roots:
            between = graph.between(targets, root)
            selected.update(dict.fromkeys(t for t in graph.order if t in between and state[t]))
    return list(selected)


def _execute(graph: Graph, executor: Executor, keep_stale: bool, show: bool) -> RunResult:
    started = time.perf_counter()
    statuses = graph.states()
    result = RunResult()
    pending = _plan(graph, statuses, keep_stale, result)
    observer = progress.begin(len(pending), show)
    try:
        frontier = _Frontier(graph, pending, result.status)
        _run_frontier(frontier, executor, statuses, result, observer)
    finally:
        progress.end(observer)
    # Report in dependency order, not in the order parallel workers happened to finish.
    result.status = {task: result.status[task] for task in graph.order if task in result.status}
    result.duration = time.perf_counter() - started
    return result


def _plan(
    graph: Graph, statuses: dict[Task, Status], keep_stale: bool, result: RunResult
) -> dict[Task, None]:
    """The tasks to run, in no particular order. What needs no run gets its state in
    ``result.status`` (complete, or stale and kept); why each task must run goes to
    ``result.reasons``. Only the roots and, below any task that must run, its dependencies are
    considered: a task that is done is not looked below (that matters only when
    check_dependencies is off)."""
    status, reasons = result.status, result.reasons
    pending: dict[Task, None] = {}
    stack = list(reversed(graph.roots))
    while stack:
        task = stack.pop()
        if task in status or task in pending:
            continue
        verdict = statuses[task]
        if verdict.complete:
            status[task] = TaskState.COMPLETE
        elif verdict.state is State.STALE and keep_stale:
            status[task] = TaskState.STALE_KEPT
            reasons[task] = verdict.reasons
        else:
            pending[task] = None
            reasons[task] = verdict.reasons
            stack.extend(graph.deps[task])
    return pending


class _Frontier:
    """The tasks to run that are ready (all their dependencies done), and what a finished task
    makes ready or, when it failed, skipped."""

    def __init__(self, graph: Graph, pending: dict[Task, None], status: dict[Task, TaskState]):
        self.status = status
        self.waiting_on = {t: sum(1 for d in graph.deps[t] if d in pending) for t in pending}
        self.dependents: dict[Task, list[Task]] = {t: [] for t in pending}
        for task in pending:
            for dep in graph.deps[task]:
                if dep in pending:
                    self.dependents[dep].append(task)
        self.ready = deque(t for t in graph.order if t in pending and self.waiting_on[t] == 0)

    def next_ready(self) -> Task | None:
        """The next task to start, or None if none is ready."""
        while self.ready:
            task = self.ready.popleft()
            if task not in self.status:  # not skipped meanwhile
                return task
        return None

    def finish(self, task: Task, state: TaskState) -> int:
        """Record ``task``'s outcome; the number of tasks skipped because of it."""
        self.status[task] = state
        if state in (TaskState.DONE, TaskState.UP_TO_DATE, TaskState.PULLED):
            for child in self.dependents[task]:
                self.waiting_on[child] -= 1
                if self.waiting_on[child] == 0:
                    self.ready.append(child)
            return 0
        skipped = 0
        skip = list(self.dependents[task])  # everything downstream of a failure is skipped
        while skip:
            child = skip.pop()
            if child not in self.status:
                self.status[child] = TaskState.SKIPPED
                skipped += 1
                skip.extend(self.dependents[child])
        return skipped


def _run_frontier(
    frontier: _Frontier,
    executor: Executor,
    statuses: dict[Task, Status],
    result: RunResult,
    observer: progress.Progress | None,
) -> None:
    """Hand ready tasks to the executor (at most its capacity at once) until none is left;
    tell ``observer`` (if any) what starts and finishes."""
    running: dict[Future, Task] = {}
    # Tasks running elsewhere: a Ctrl-C is held back while this thread submits and waits, and
    # acted on after each wait slice. Raised anywhere, it could leave a lock of a future or of
    # the pool taken, and shutting down would then hang (d6tflow.interrupts).
    hold = contextlib.nullcontext() if executor.runs_in_caller else interrupts.held()
    with hold:
        try:
            while frontier.ready or running:
                while len(running) < executor.capacity:
                    task = frontier.next_ready()
                    if task is None:
                        break
                    if statuses[task].upstream_only and still_current(task):
                        frontier.finish(task, TaskState.UP_TO_DATE)
                        if observer is not None:
                            observer.task_finished(task, TaskState.UP_TO_DATE)
                        continue
                    if observer is not None:
                        observer.task_started(task)
                    running[executor.submit(task)] = task
                if running:
                    for future in _finished(running):
                        task = running.pop(future)
                        _record_outcome(task, future.result(), frontier, result, observer)
        finally:
            executor.shutdown()


def _finished(running: dict[Future, Task]) -> list[Future]:
    """The running tasks' futures that are done, waiting for one if none is."""
    # Inline futures are finished on submit: skip the cost of waiting on them.
    done = [f for f in running if f.done()]
    while not done:
        # Wait in slices: Python runs a Ctrl-C handler only when the main thread wakes, and an
        # untimed wait may not wake if the signal landed on another thread.
        with gc_resumed():
            finished, _ = wait(running, timeout=_WAIT_SLICE_S, return_when=FIRST_COMPLETED)
        interrupts.check()  # a Ctrl-C during the wait: acted on here, lock-free
        done = list(finished)
    return done


def _record_outcome(
    task: Task,
    outcome: Any,
    frontier: _Frontier,
    result: RunResult,
    observer: progress.Progress | None,
) -> None:
    skipped = 0
    if outcome.error is None:
        if not outcome.ran:
            result.reasons[task] = ("completed meanwhile by another run",)
        state = TaskState.PULLED if outcome.pulled else TaskState.DONE
        frontier.finish(task, state)
    else:
        # One line now; the traceback is printed once, at the end of the run (see run()).
        logger.error("%r failed: %s", task, _one_line(outcome.error))
        result.failures.append(TaskFailure(task, outcome.error, outcome.traceback))
        state = TaskState.FAILED
        skipped = frontier.finish(task, state)
    if observer is not None:
        observer.task_finished(task, state)
        if skipped:
            observer.tasks_skipped(skipped)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().partition("\n")[0]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
