"""Running a task in another process: what travels there, what comes back.

Both the process pool and Dask send a :class:`Shipment` to a worker process and get a
:class:`Returned` back; this module packs and unpacks them in the parent, ``worker.py`` runs them.

- The task goes with cloudpickle, so tasks defined in a script's ``__main__``, a notebook cell or
  inside a function travel by value.
- d6tflow's settings (data folder, naming, ``track_code``…), the working directory and
  ``sys.path`` go along, so the worker computes the same paths and imports the same modules.
- The code fingerprint of the task's class is computed here and pinned in the worker: the worker
  may not see the source (a notebook cell, a remote machine), and the manifest it writes must say
  what the next state check in this process will compute.
- In-memory outputs (``TaskCache``): the objects of the task's upstream in-memory outputs go
  along, and the task's own in-memory outputs come back; they are put into this process's
  ``d6tflow.data``. They are copies: they must be picklable, and a change made to one in a worker
  is not seen here.
- An exception that does not survive pickling comes back as a :class:`RemoteTaskError` (a
  ``RuntimeError``) carrying the original type name, message and traceback text.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import logging
import os
import pickle
import re
import sys
import types
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d6tflow import cache, settings
from d6tflow.errors import (
    DataFolderNotSharedError,
    NotShippableError,
    RemoteTaskError,
    WorkerDiedError,  # noqa: F401 - its import path before d6tflow.errors
)
from d6tflow.executors.base import FinishedFuture, TaskOutcome, execute_task
from d6tflow.protocol import runs_nothing
from d6tflow.stores import remote_settings

logger = logging.getLogger("d6tflow")


# -- the parent side -------------------------------------------------------------------------------


@dataclass
class Shipment:
    """What a worker needs to run one task. Plain data outside, cloudpickled blobs inside: the
    worker fixes ``sys.path`` and the working directory before it unpickles the task."""

    task: bytes
    inputs: bytes | None
    settings: dict[str, Any]
    cwd: str
    sys_path: list[str]
    #: Formats registered outside d6tflow (e.g. in your script), cloudpickled.
    formats: bytes | None
    label: str
    #: The pool writes "<job>.<pid>" there when the job starts, to tell who died with a worker.
    marker: str | None = None
    code: dict[str, str] | None = None
    #: ``{module name: content hash of its source}`` for your modules as this process has them
    #: (only for workers that outlive a run: see worker.forget_edited_modules).
    sources: dict[str, str] | None = None
    #: ``d6tflow.run`` (pickled by reference): runs the tasks the task yields from ``run()``.
    run_flow: Any = None
    #: The remote folders this process knows, with their options (stores.remote_settings).
    remotes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Returned:
    """What comes back: the outcome, and the task's in-memory outputs (cloudpickled)."""

    ran: bool = True
    pulled: bool = False
    outputs: bytes | None = None
    error: bytes | None = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    pid: int = field(default_factory=os.getpid)

    @property
    def failed(self) -> bool:
        return bool(self.error_type)


# -- pickling tasks --------------------------------------------------------------------------------
#
# A task is pickled with the standard (C) pickler when it can be, with cloudpickle when it holds
# something only cloudpickle can pickle (a lambda, a local function). Either way, two kinds of
# objects are pickled by hand:
# - task classes go as a blob pickled once per run (by value with cloudpickle when defined in
#   __main__, a notebook or a function): pickling a class again for each of a thousand tasks would
#   cost more than the rest of shipping them; a worker unpickles each blob once;
# - d6tflow's sentinels, compared by identity, must stay the very same objects in the worker.
# The result is plain pickle data: ``pickle.loads`` reads it.

# Task classes unpickled in this (worker) process, by token; the newest few hundred are kept.
_worker_classes: OrderedDict[str, type] = OrderedDict()
_WORKER_CLASSES_KEPT = 500


def _class_from_blob(token: str, blob: bytes) -> type:
    cls = _worker_classes.get(token)
    if cls is None:
        cls = _worker_classes[token] = pickle.loads(blob)
        while len(_worker_classes) > _WORKER_CLASSES_KEPT:
            _worker_classes.popitem(last=False)
    return cls


def _unset() -> Any:
    from d6tflow.task import UNSET

    return UNSET


def _no_value() -> Any:
    from d6tflow.params import NO_VALUE

    return NO_VALUE


class _Reducers:
    """How task classes and the sentinels are pickled, by type."""

    def __init__(self, class_cache: dict):
        import cloudpickle

        from d6tflow.params import NO_VALUE
        from d6tflow.task import UNSET, TaskMeta

        self.cache = class_cache
        self.dumps = cloudpickle.dumps
        self.unset = UNSET
        self.table = {TaskMeta: self.task_class, type(NO_VALUE): self.no_value, object: self.plain}

    def task_class(self, cls: type) -> Any:
        if cls.__module__.startswith("d6tflow."):
            return cls.__qualname__  # d6tflow's own flavours: by name, as pickle would
        found = self.cache.get(cls)
        if found is None:
            blob = self.dumps(cls, protocol=pickle.HIGHEST_PROTOCOL)
            found = self.cache[cls] = (uuid.uuid4().hex, blob)
        return (_class_from_blob, found)

    def no_value(self, obj: Any) -> Any:
        return (_no_value, ())

    def plain(self, obj: Any) -> Any:
        if obj is self.unset:
            return (_unset, ())
        return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


class _NeedsCloudpickle(Exception):
    """The standard pickler met something that must travel by value."""


class _FastPickler(pickle.Pickler):
    """The C pickler, refusing what it would pickle by a name the worker cannot look up: classes
    and functions of ``__main__`` or local to a function."""

    def __init__(self, file: Any, reducers: _Reducers) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.reducers = reducers

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        reducer = self.reducers.table.get(kind)
        if reducer is not None:
            return reducer(obj)
        if (kind is types.FunctionType or isinstance(obj, type)) and (
            getattr(obj, "__module__", None) == "__main__"
            or "<locals>" in getattr(obj, "__qualname__", "")
        ):
            raise _NeedsCloudpickle
        return NotImplemented


def _cloud_pickler_class() -> type:
    import cloudpickle

    class ShipPickler(cloudpickle.Pickler):
        """cloudpickle decides before any dispatch table: route our objects first."""

        def __init__(self, file: Any, reducers: _Reducers) -> None:
            super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
            self.reducers = reducers

        def reducer_override(self, obj: Any) -> Any:
            reducer = self.reducers.table.get(type(obj))
            if reducer is not None:
                return reducer(obj)
            return super().reducer_override(obj)

    return ShipPickler


_cloud_pickler: type | None = None


def dumps_task(task: Any, class_cache: dict | None = None) -> bytes:
    """The task as bytes. ``class_cache`` keeps the task classes' blobs between calls (during a
    run, classes don't change)."""
    global _cloud_pickler
    reducers = _Reducers({} if class_cache is None else class_cache)
    buffer = io.BytesIO()
    try:
        _FastPickler(buffer, reducers).dump(task)
        return buffer.getvalue()
    except (_NeedsCloudpickle, pickle.PicklingError, TypeError, AttributeError):
        pass  # something only cloudpickle can pickle (a lambda, a local function)
    if _cloud_pickler is None:
        _cloud_pickler = _cloud_pickler_class()
    buffer = io.BytesIO()
    _cloud_pickler(buffer, reducers).dump(task)
    return buffer.getvalue()


def loads_task(blob: bytes) -> Any:
    return pickle.loads(blob)


def memory_targets(task: Any) -> dict[str, Any]:
    """The task's in-memory outputs by output name ("data" for a single output)."""
    from d6tflow.targets import CacheTarget, Target
    from d6tflow.utils import flatten

    output = task.output()
    if isinstance(output, dict):
        found = {str(k): t for k, t in output.items()}
    elif isinstance(output, Target):
        found = {"data": output}
    else:
        found = {str(i): t for i, t in enumerate(flatten(output))}
    return {k: t for k, t in found.items() if isinstance(t, CacheTarget)}


def settings_snapshot(absolute_dir: bool = False) -> dict[str, Any]:
    """d6tflow's settings as plain values; ``absolute_dir``: the data folder as an absolute path
    (for workers whose working directory differs)."""
    found = {
        name: value
        for name, value in vars(settings).items()
        if not name.startswith("__")
        and (isinstance(value, (str, bool, int, float, Path, type(None))) or name == "dirpath")
    }
    if absolute_dir and "://" not in str(settings.dirpath):
        found["dirpath"] = Path(os.path.abspath(settings.dirpath))
        found["dir"] = str(found["dirpath"])
    return found


@dataclass
class Environment:
    """What every task of a run takes along, computed once per run by the executor (it holds
    still during a run): settings, working directory, ``sys.path``, your own formats."""

    absolute_paths: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    cwd: str = ""
    sys_path: list[str] = field(default_factory=list)
    formats: bytes | None = None
    remotes: dict[str, Any] = field(default_factory=dict)
    #: Task classes pickled so far (this process only; see dumps_task).
    classes: dict = field(default_factory=dict, repr=False)
    sources: dict[str, str] | None = None

    @classmethod
    def capture(cls, absolute_paths: bool = False, sources: bool = False) -> Environment:
        """``sources``: also the content hashes of your modules' source files, for workers that
        outlive a run (Dask) and may hold an older version of them."""
        import cloudpickle

        from d6tflow.formats import registered_formats

        own = {
            name: fmt
            for name, fmt in registered_formats().items()
            if not type(fmt).__module__.startswith("d6tflow.")
        }
        return cls(
            absolute_paths=absolute_paths,
            settings=settings_snapshot(absolute_dir=absolute_paths),
            cwd=os.getcwd(),
            sys_path=list(sys.path),
            formats=cloudpickle.dumps(own, protocol=pickle.HIGHEST_PROTOCOL) if own else None,
            remotes=remote_settings(),
            sources=user_module_sources() if sources else None,
        )


def check_not_in_memory() -> None:
    """A ``memory://`` folder lives in one process: workers would write to their own."""
    remotes = remote_settings()
    for what, url in (
        ("data folder", str(settings.dir)),
        ("shared cache", remotes["cache"][0] if remotes["cache"] else ""),
    ):
        if url.startswith("memory://"):
            raise DataFolderNotSharedError(
                f"The {what} {url} is in this process's memory: worker processes cannot reach "
                "it. Run with workers=1 (inline), or use a folder every worker reaches (a local "
                "folder, s3://…)."
            )


def user_module_sources() -> dict[str, str]:
    """``{name: content hash of the source file}`` of your modules imported in this process."""
    from d6tflow.code_source import is_user_module
    from d6tflow.fingerprint import file_hash

    found = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(path, str) or not path.endswith(".py"):
            continue
        if is_user_module(name):
            with contextlib.suppress(OSError):
                found[name] = file_hash(path)
    return found


def pack(task: Any, env: Environment | None = None, run_flow: Any = None) -> Shipment:
    """A task ready to travel (with ``run_flow``, the executor's, for the tasks it may yield).
    Raises if the task or its in-memory inputs do not pickle."""
    import cloudpickle

    from d6tflow.code_fingerprint import code_of

    if env is None:
        env = Environment.capture()
    if env.absolute_paths:
        task = _with_absolute_path(task)
    inputs = {}
    for dep in task._graph_deps():
        for key, target in memory_targets(dep).items():
            if target.key in cache.data:
                inputs[(dep.task_id, key)] = cache.data[target.key]
    try:
        task_blob = dumps_task(task, env.classes)
    except Exception as e:
        raise NotShippableError(
            f"{task!r} cannot be sent to a worker process: {e}. Every attribute and parameter of "
            "a task must be picklable to run with workers > 1 (or run it with workers=1)."
        ) from e
    try:
        inputs_blob = None
        if inputs:
            inputs_blob = cloudpickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise NotShippableError(
            f"the in-memory inputs of {task!r} cannot be sent to a worker process: {e}. Objects "
            "kept in memory (TaskCache) must be picklable to run with workers > 1; or save them "
            "to a file format."
        ) from e
    return Shipment(
        task=task_blob,
        inputs=inputs_blob,
        settings=env.settings,
        cwd=env.cwd,
        sys_path=env.sys_path,
        formats=env.formats,
        label=repr(task),
        code=code_of(type(task)) if settings.track_code else None,
        sources=env.sources,
        run_flow=run_flow,
        remotes=env.remotes,
    )


def ship_or_finish(
    task: Any,
    env: Callable[[], Environment],
    run_flow: Any,
    check: Callable[[Any], None] | None = None,
) -> Shipment | FinishedFuture:
    """The start of ``submit`` for executors that run tasks in other processes: the task packed
    for a worker, or its outcome when it needs none (an aggregator's run only yields tasks) or
    cannot travel (it, or an in-memory input, does not pickle: the task fails, the run goes on).
    ``env()`` gives the run's :class:`Environment`, captured once by the executor; ``check(task)``
    runs first, and what it raises stops the run (e.g. a folder the workers cannot reach).
    ``run_flow``: the executor's, for the tasks the task yields."""
    if runs_nothing(task):
        return FinishedFuture(execute_task(task, run_flow))
    if check is not None:
        check(task)
    try:
        return pack(task, env(), run_flow)
    except Exception as e:
        import traceback

        return FinishedFuture(TaskOutcome(error=e, traceback=traceback.format_exc()))


def _with_absolute_path(task: Any) -> Any:
    """A twin of the task whose own folder (``path=``, a flow's path) is absolute."""
    path = task.path
    context = task._context
    relative = path is not None and not _is_url(path) and not os.path.isabs(path)
    context_relative = (
        context is not None
        and context[0] is not None
        and not _is_url(context[0])
        and not os.path.isabs(context[0])
    )
    if not relative and not context_relative:
        return task
    return task._relocated(
        os.path.abspath(path) if relative else path,
        (os.path.abspath(context[0]), context[1]) if context_relative else context,
    )


def _is_url(path: Any) -> bool:
    return "://" in str(path)


def unpack(task: Any, returned: Returned) -> TaskOutcome:
    """The outcome of a task that ran elsewhere; its in-memory outputs go into ``d6tflow.data``."""
    import cloudpickle

    if returned.failed:
        error: BaseException | None = None
        if returned.error is not None:
            with contextlib.suppress(Exception):
                error = cloudpickle.loads(returned.error)
        text = _restore_filenames(returned.traceback, task)
        if not isinstance(error, BaseException):
            error = RemoteTaskError(returned.error_type, returned.error_message, text)
        return TaskOutcome(error=error, traceback=text)
    if returned.outputs is not None:
        try:
            outputs = cloudpickle.loads(returned.outputs)
        except Exception as e:
            message = f"the in-memory outputs of {task!r} could not be unpickled here: {e!r}"
            return TaskOutcome(error=RemoteTaskError(type(e).__name__, message), traceback=message)
        targets = memory_targets(task)
        for key, obj in outputs.items():
            cache.data[targets[key].key] = obj
    return TaskOutcome(ran=returned.ran, pulled=returned.pulled)


_DYNAMIC_FRAME = re.compile(r'^(\s*)File "<dynamic-code>", line (\d+), in (\S+)$')


def _restore_filenames(text: str, task: Any) -> str:
    """Code sent by value (a script's ``__main__``, a notebook cell, a function's local class)
    loses its file name on the way ("<dynamic-code>"). Put back the file and the source line, as
    in the traceback of the same failure inline."""
    if "<dynamic-code>" not in text:
        return text
    codes = _codes_near(task)
    out = []
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        match = _DYNAMIC_FRAME.match(line.rstrip("\n"))
        if match is None:
            out.append(line)
            continue
        indent, number, name = match.group(1), int(match.group(2)), match.group(3)
        filename = codes.get((name, number))
        if filename is None:
            out.append(line)
            continue
        out.append(f'{indent}File "{filename}", line {number}, in {name}\n')
        source = linecache.getline(filename, number).strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if source and following != source:
            out.append(f"{indent}  {source}\n")
    return "".join(out)


def _codes_near(task: Any) -> dict[tuple[str, int], str]:
    """(function name, line) -> file, for the code of the task's classes and of ``__main__``."""
    found: dict[tuple[str, int], str] = {}
    namespaces = [vars(klass) for klass in type(task).__mro__]
    main = sys.modules.get("__main__")
    if main is not None:
        namespaces.append(vars(main))
        namespaces.extend(vars(v) for v in vars(main).values() if isinstance(v, type))
    stack = []
    for namespace in namespaces:
        for value in list(namespace.values()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            code = getattr(value, "__code__", None)
            if isinstance(code, types.CodeType):
                stack.append(code)
    seen: set[int] = set()
    while stack:
        code = stack.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        for _, _, line in code.co_lines():
            if line is not None:
                found.setdefault((code.co_name, line), code.co_filename)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found
