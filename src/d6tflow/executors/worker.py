"""The worker side of ``shipping.py``: what a worker process does with a :class:`Shipment`.

The same code runs in a process-pool worker and on a Dask worker (where several tasks may run at
once, in threads).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator
from typing import Any

from d6tflow import cache, settings
from d6tflow.executors.base import TaskOutcome, execute_task
from d6tflow.executors.shipping import (
    RemoteTaskError,
    Returned,
    Shipment,
    loads_task,
    memory_targets,
)

_lock = threading.Lock()
# Keys of d6tflow.data in use by tasks running in this process (Dask runs several in threads).
_in_use: dict[str, int] = {}
_last_settings: dict[str, Any] | None = None
_last_remotes: dict[str, Any] | None = None
_last_formats: bytes | None = None
_in_job = 0
_terminating = False  # a SIGTERM is being acted on: the running task unwinds


#: Exit status of a worker that outlived its parent and did not stop within the grace period.
_PARENT_GONE = 70


class _Terminated(BaseException):
    """SIGTERM while a task runs: unwind (so staged files are removed), then exit."""


def init_worker(grace_period: float = 5.0) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle; SIGTERM cleans up, then exits; and
    the worker exits when the process that started the pool dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent, grace_period), name="d6tflow-parent", daemon=True
        ).start()


def _exit_with(parent: Any, grace_period: float) -> None:
    """Wait for the end of the process that started the pool, then stop as the pool would.

    Killed (``kill -9``, out of memory), the parent tells nobody: idle workers would wait for
    work forever (every worker holds the task queue open), and the fork server and resource
    tracker live as long as a worker does. With forkserver the worker's actual parent is the fork
    server; the sentinel multiprocessing gives it is a pipe the starting process holds open (with
    spawn too; a process handle on Windows), so it reads as closed once that process is gone.
    """
    parent.join()
    if os.name == "posix":
        # As a stop by the pool: a running task unwinds and removes its staged files.
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_period)
    os._exit(_PARENT_GONE)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _terminating
    if not _in_job:
        os._exit(128 + signum)
    if not _terminating:
        _terminating = True
        raise _Terminated()
    # A second SIGTERM (the pool's stop and the parent watch can both send one): the task is
    # unwinding already; raising again could cut short the removal of its staged files.


def _prepare_process(shipment: Shipment, chdir: bool) -> None:
    """Make this process look like the parent: imports, working directory, d6tflow settings."""
    global _last_settings, _last_formats, _last_remotes
    _use_path(shipment.sys_path)
    if chdir and _cwd() != shipment.cwd and os.path.isdir(shipment.cwd):
        os.chdir(shipment.cwd)
    if shipment.settings != _last_settings:
        for name, value in shipment.settings.items():
            setattr(settings, name, value)
        # Tasks a task yields run here; their progress is not this process's to show (its
        # output may be the user's terminal, under the parent's display).
        settings.progress = False
        logging.getLogger("d6tflow").setLevel(settings.log_level)
        _last_settings = shipment.settings
    if shipment.remotes != _last_remotes:
        from d6tflow.stores import apply_remote_settings

        apply_remote_settings(shipment.remotes)
        _last_remotes = shipment.remotes
    if shipment.formats is not None and shipment.formats != _last_formats:
        from d6tflow.formats import register, registered_formats

        known = registered_formats()
        for name, fmt in pickle.loads(shipment.formats).items():
            if name not in known:
                register(type(fmt))
        _last_formats = shipment.formats


logger = logging.getLogger("d6tflow")

# The content hash of the source each of your modules had when this worker imported it.
_imported_sources: dict[str, str] = {}


def forget_edited_modules(sources: dict[str, str]) -> None:
    """A worker that outlives a run (Dask) keeps the modules it imported. If one of yours was
    edited since (the parent has another source), forget all of yours, so the task about to be
    unpickled imports today's code: else it would run the old code and record the new code's
    fingerprint, a stale result counted as current. All of them, because the others hold
    references to the edited one."""
    edited = [
        name
        for name, digest in sources.items()
        if name in sys.modules and _source_of(name) not in (None, digest)
    ]
    if not edited:
        return
    import importlib

    logger.info("modules edited since this worker imported them: %s; importing again", edited)
    for name in list(_imported_sources) + [n for n in sources if n in sys.modules]:
        sys.modules.pop(name, None)
        _imported_sources.pop(name, None)
    importlib.invalidate_caches()


def _source_of(name: str) -> str | None:
    """The hash of the source the module had when imported here (taken now if not known yet)."""
    digest = _imported_sources.get(name)
    if digest is None:
        path = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(path, str):
            return None
        from d6tflow.fingerprint import file_hash

        try:
            digest = _imported_sources[name] = file_hash(path)
        except OSError:
            return None
    return digest


def _note_sources(sources: dict[str, str]) -> None:
    """Remember the source of each of your modules just imported (by unpickling the task)."""
    for name in sources:
        if name in sys.modules:
            _source_of(name)


def _use_path(parent_path: list[str]) -> None:
    """Find modules where the parent process finds them. Its own folders (the script's, the
    project's: anything not installed) go first, in its order: a worker that outlives a run
    (Dask) still has the folders of earlier runs on its path, and another project's module of
    the same name must not be found before this one's. Installed locations are only added
    where missing, so the worker's own packages are not shadowed."""
    from d6tflow.code_source import is_installed_path

    own = [entry for entry in parent_path if not is_installed_path(entry)]
    if sys.path[: len(own)] != own:
        sys.path[:] = own + [entry for entry in sys.path if entry not in own]
    for entry in parent_path:
        if entry not in sys.path:
            sys.path.append(entry)


def _cwd() -> str | None:
    """The working directory, or None if it was deleted (a Dask worker outlives the folders of
    the flows it ran: it may still be in one that is gone)."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        return None


def run_shipment(shipment: Shipment, chdir: bool = True) -> Returned:
    """Run one shipped task in this (worker) process."""
    global _in_job
    if shipment.marker is not None:
        with contextlib.suppress(OSError):
            open(f"{shipment.marker}.{os.getpid()}", "w").close()
    with _lock:
        _prepare_process(shipment, chdir)
    _in_job += 1
    try:
        try:
            if shipment.sources:
                forget_edited_modules(shipment.sources)
            task = loads_task(shipment.task)
            if shipment.sources:
                _note_sources(shipment.sources)
            inputs = pickle.loads(shipment.inputs) if shipment.inputs is not None else {}
        except Exception as e:
            return _failure(e, f"{shipment.label} could not be unpickled in the worker process")
        with _using(_keys_of(task, inputs)) as placed:
            if shipment.code is not None:
                from d6tflow.code_fingerprint import pin_code

                pin_code(type(task), shipment.code)
            for path, obj in placed.items():
                cache.data[path] = obj
            outcome = execute_task(task, shipment.run_flow)
            if shipment.sources:  # modules the task imported as it ran
                _note_sources(shipment.sources)
            if outcome.error is not None:
                return _failure(outcome.error, traceback_text=outcome.traceback)
            outputs = {
                key: cache.data[target.key]
                for key, target in memory_targets(task).items()
                if target.key in cache.data
            }
            return _success(task, outcome, outputs)
    except _Terminated:
        os._exit(128 + signal.SIGTERM)
    finally:
        _in_job -= 1


def _keys_of(task: Any, inputs: dict) -> dict[str, Any]:
    """Where the shipped inputs go in this process's d6tflow.data, and the task's own keys."""
    placed: dict[str, Any] = {}
    if inputs:
        for dep in task._graph_deps():
            for key, target in memory_targets(dep).items():
                if (dep.task_id, key) in inputs:
                    placed[target.key] = inputs[(dep.task_id, key)]
    own = {target.key: None for target in memory_targets(task).values()}
    return {**own, **placed}


@contextlib.contextmanager
def _using(keys: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Mark keys of d6tflow.data as in use while the task runs; afterwards, drop every entry no
    running task uses, so a worker neither grows nor serves a stale cached load next time."""
    with _lock:
        for key in keys:
            _in_use[key] = _in_use.get(key, 0) + 1
    try:
        yield {k: v for k, v in keys.items() if v is not None}
    finally:
        with _lock:
            for key in keys:
                _in_use[key] -= 1
                if not _in_use[key]:
                    del _in_use[key]
            for key in [k for k in cache.data if k not in _in_use]:
                cache.data.pop(key, None)


def _success(task: Any, outcome: TaskOutcome, outputs: dict[str, Any]) -> Returned:
    import cloudpickle

    if not outputs:
        return Returned(ran=outcome.ran, pulled=outcome.pulled)
    try:
        blob = cloudpickle.dumps(outputs, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        return _failure(
            e,
            f"the in-memory output of {task!r} cannot be sent back from the worker process: "
            f"{e}. Objects kept in memory (TaskCache) must be picklable to run with workers > 1; "
            "or save them to a file format",
        )
    return Returned(ran=outcome.ran, pulled=outcome.pulled, outputs=blob)


def _failure(error: BaseException, context: str = "", traceback_text: str = "") -> Returned:
    import cloudpickle

    text = traceback_text or "".join(
        traceback.format_exception(type(error), error, error.__traceback__)
    )
    if context:
        error = RemoteTaskError(type(error).__name__, f"{context}: {error}", text)
    blob: bytes | None = None
    try:
        blob = cloudpickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
        cloudpickle.loads(blob)  # an exception whose __init__ needs other arguments fails here
    except Exception:
        blob = None
    return Returned(
        error=blob,
        error_type=_type_name(error),
        error_message=str(error),
        traceback=text,
    )


def _type_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


@contextlib.contextmanager
def skip_main() -> Iterator[None]:
    """While inside: new worker processes don't re-run the user's script.

    multiprocessing makes every new worker import the parent's ``__main__`` (as ``__mp_main__``),
    which re-runs a script that has no ``if __name__ == "__main__":`` guard: the flow itself would
    start again in each worker. Tasks travel by value with cloudpickle, so workers don't need it;
    a main module that names itself ``__main__`` is the documented way to be skipped.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    spec = getattr(main, "__spec__", None)
    main.__spec__ = types.SimpleNamespace(name="__main__")  # type: ignore[assignment]
    try:
        yield
    finally:
        main.__spec__ = spec
