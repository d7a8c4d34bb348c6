"""The functional API: tasks written as plain functions, wired with decorators.

>>> from d6tflow.functional import Workflow
>>> flow = Workflow()
>>> @flow.task(d6tflow.tasks.TaskPqPandas)
... def get_data(task):
...     task.save(pd.DataFrame({"a": range(3)}))
>>> @flow.task(d6tflow.tasks.TaskPqPandas)
... @flow.requires(get_data)
... @flow.params(multiplier=d6tflow.IntParameter(default=1))
... def scale(task):
...     task.save(task.inputLoad() * task.multiplier)
>>> flow.run(scale, params={"multiplier": 2})
>>> flow.outputLoad(scale)

Each decorated function becomes a task class named after the function; the function is its
``run()``, called with the task instance (``task.save``, ``task.inputLoad``, parameters as
attributes). ``@flow.task`` goes on top; ``@flow.requires``, ``@flow.persists`` and
``@flow.params`` below it, in any order.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from d6tflow import cache, inherit
from d6tflow.display import preview as _preview
from d6tflow.errors import MissingArgumentError, TaskDefinitionError, UnknownNameError, UsageError
from d6tflow.graph import taskflow_upstream
from d6tflow.invalidation import invalidate_tasks
from d6tflow.params import Parameter
from d6tflow.protocol import task_class_names
from d6tflow.scheduler import RunResult
from d6tflow.scheduler import run as _run
from d6tflow.stores import store_for
from d6tflow.task import Task
from d6tflow.task_data import TaskData, names_with_id, output_folder
from d6tflow.utils import confirm_prompt
from d6tflow.workflow import MultiRunResult, load_all, run_together

__all__ = ["Flow", "Workflow"]

# Configuration a decorator below @flow.task leaves on the function, applied when the class is made.
_PENDING = "__d6tflow_pending__"


class Workflow:
    """Collects the functions decorated with its decorators and runs them as tasks.

    ``flow.steps`` maps each function name to its task class.
    """

    def __init__(self) -> None:
        self.steps: dict[str, type[TaskData]] = {}
        #: Parameter sets passed to run(), per function name, in order.
        self.params_used: dict[str, list[dict[str, Any]]] = {}
        self._roots: list[Task] = []  # every task run() was asked for, to reset them later
        # The parameters of the last run of each function, and of the last run overall (for
        # functions that ran only because another needed them): ("single", params) or
        # ("multi", {exp: params}).
        self._last_by_name: dict[str, tuple[str, Any]] = {}
        self._last: tuple[str, Any] | None = None

    # -- decorators ------------------------------------------------------------------------------

    def task(self, task_type: type[TaskData]) -> Callable[[Callable], Callable]:
        """Turn the function into a task of type ``task_type`` (any TaskData subclass, e.g.
        ``d6tflow.tasks.TaskPqPandas`` or your own). Put it on top of the other decorators."""
        if not (isinstance(task_type, type) and issubclass(task_type, TaskData)):
            raise UsageError(
                f"@flow.task({task_type!r}): pass a task type such as "
                "d6tflow.tasks.TaskPqPandas or another subclass of d6tflow.tasks.TaskData"
            )

        def decorate(func: Callable) -> Callable:
            if hasattr(func, "task_class"):
                raise TaskDefinitionError(f"@flow.task is applied twice to {func.__name__}")
            raw = _unwrap(func)
            cls = type(
                raw.__name__,
                (task_type,),
                {
                    "run": raw,
                    "__module__": raw.__module__,
                    # The module's name for the function is the wrapper returned below; this
                    # path through it lets pickle find the class (process executors need it).
                    "__qualname__": f"{raw.__qualname__}.task_class",
                    "__doc__": raw.__doc__,
                },
            )
            # Decorators below @flow.task ran first; apply their settings in a fixed order so
            # the order in which they were written does not matter.
            pending = getattr(func, _PENDING, [])
            for kind in ("persists", "params", "requires"):
                for what, value in pending:
                    if what == kind:
                        self._apply(cls, what, value)
            self.steps[raw.__name__] = cls
            return _wrap(raw, cls)

        return decorate

    step = task  # the name in early versions of the functional API

    def persists(self, to_persist: list[str]) -> Callable[[Callable], Callable]:
        """The names of the function's outputs: ``task.save({"a": ..., "b": ...})``."""
        return self._configure("persists", list(to_persist))

    def requires(self, *funcs: Any) -> Callable[[Callable], Callable]:
        """The functions this one depends on: ``requires(f1)``, ``requires(f1, f2)`` or
        ``requires({"name1": f1, "name2": f2})``. Their parameters are inherited."""
        if not funcs:
            raise MissingArgumentError("@flow.requires() needs at least one decorated function")
        if isinstance(funcs[0], Mapping):
            return self._configure("requires", {k: self._step(f) for k, f in funcs[0].items()})
        return self._configure("requires", [self._step(f) for f in funcs])

    def params(self, **params: Parameter) -> Callable[[Callable], Callable]:
        """Parameters of this function: ``@flow.params(n=d6tflow.IntParameter(default=1))``."""
        _check_params(params)
        return self._configure("params", params)

    def add_global_params(self, **params: Parameter) -> None:
        """Add parameters to every function decorated so far."""
        _check_params(params)
        for cls in self.steps.values():
            self._apply(cls, "params", params)

    add_params = add_global_params

    def _configure(self, what: str, value: Any) -> Callable[[Callable], Callable]:
        def decorate(func: Callable) -> Callable:
            cls = getattr(func, "task_class", None)
            if cls is not None:  # written above @flow.task: the class exists already
                self._apply(cls, what, value)
                return func
            pending = [*getattr(func, _PENDING, []), (what, value)]
            wrapper = func if hasattr(func, _PENDING) else _wrap(func, None)
            setattr(wrapper, _PENDING, pending)
            return wrapper

        return decorate

    @staticmethod
    def _apply(cls: type[TaskData], what: str, value: Any) -> None:
        if what == "persists":
            cls.persist = value
        elif what == "params":
            for name, param in value.items():
                setattr(cls, name, param)
        elif isinstance(value, dict):
            inherit.requires(value)(cls)
        else:
            inherit.requires(*value)(cls)

    def _step(self, func: Any) -> type[TaskData]:
        """The task class of a decorated function (or of its name)."""
        if isinstance(func, str):
            try:
                return self.steps[func]
            except KeyError:
                raise UnknownNameError(
                    f"No function named {func!r} in this flow; decorated so far: "
                    f"{sorted(self.steps)}"
                ) from None
        cls = getattr(func, "task_class", None)
        if cls is None:
            name = getattr(func, "__name__", repr(func))
            raise UsageError(
                f"{name} is not a flow task: decorate it with @flow.task(d6tflow.tasks.<Type>) "
                "(on top of the other decorators), before it is used"
            )
        return cls

    # -- running ---------------------------------------------------------------------------------

    def _instances(self, funcs: Any, params: Mapping[str, Any] | None) -> list[Task]:
        items = funcs if isinstance(funcs, (list, tuple)) else [funcs]
        return [self._step(f)(**dict(params or {})) for f in items]

    def run(
        self,
        funcs: Any,
        params: Mapping[str, Any] | None = None,
        multi_params: Mapping[Any, Mapping[str, Any]] | None = None,
        *args: Any,
        **run_kwargs: Any,
    ) -> RunResult | MultiRunResult:
        """Run functions (one or a list) and what they need, as ``d6tflow.run`` does.

        ``params`` is one parameter set for all of them; ``multi_params={"exp1": {...},
        "exp2": {...}}`` runs each set (together: shared work once) and returns
        ``{exp: RunResult}``. Other keyword arguments go to ``d6tflow.run``
        (``forced_all_upstream=True``, ``confirm=False``, …); ``forced`` may name functions.
        """
        items = funcs if isinstance(funcs, (list, tuple)) else [funcs]
        names = [self._step(f).__name__ for f in items]
        if multi_params is not None:
            roots = {exp: self._instances(items, p) for exp, p in multi_params.items()}
            forced = run_kwargs.pop("forced", None)
            if forced is not None:
                run_kwargs["forced"] = [
                    t for p in multi_params.values() for t in self._forced(forced, p)
                ]
            results = run_together(roots, *args, **run_kwargs)
            self._record(names, ("multi", {exp: dict(p) for exp, p in multi_params.items()}))
            self._roots.extend(t for group in roots.values() for t in group)
            return results
        if "forced" in run_kwargs and run_kwargs["forced"] is not None:
            run_kwargs["forced"] = self._forced(run_kwargs["forced"], params)
        roots_single = self._instances(items, params)
        result = _run(roots_single, *args, **run_kwargs)
        self._record(names, ("single", dict(params or {})))
        self._roots.extend(roots_single)
        return result

    def _record(self, names: list[str], last: tuple[str, Any]) -> None:
        kind, params = last
        for name in names:
            used = self.params_used.setdefault(name, [])
            used.extend(params.values() if kind == "multi" else [params])
            self._last_by_name[name] = last
        self._last = last

    def _forced(self, forced: Any, params: Mapping[str, Any] | None) -> list[Task]:
        items = forced if isinstance(forced, (list, tuple)) else [forced]
        return [f if isinstance(f, Task) else self._step(f)(**dict(params or {})) for f in items]

    def _current(self, func: Any, params: Mapping[str, Any] | None) -> Any:
        """The task(s) of ``func`` a load refers to: with ``params``, that one; else those of
        the last run (``{exp: task}`` after a multi_params run); else the defaults."""
        cls = self._step(func)
        if params is not None:
            return cls(**params)
        kind, last = self._last_by_name.get(cls.__name__) or self._last or ("single", {})
        if kind == "multi":
            return {exp: cls(**p) for exp, p in last.items()}
        return cls(**last)

    def preview(
        self,
        func: Any,
        params: Mapping[str, Any] | None = None,
        multi_params: Mapping[Any, Mapping[str, Any]] | None = None,
        **preview_kwargs: Any,
    ) -> None:
        """Print the dependency tree of ``func`` with ``params`` (default: those of the last
        run); ``multi_params`` (or a dict of parameter sets passed as ``params``) previews each
        set."""
        cls = self._step(func)
        if multi_params is None and _looks_like_multi(cls, params):
            multi_params, params = params, None
        if multi_params is not None:
            tasks = [cls(**p) for p in multi_params.values()]
        else:
            current = self._current(func, params)
            tasks = list(current.values()) if isinstance(current, dict) else [current]
        _preview(tasks, **preview_kwargs)

    # -- outputs ---------------------------------------------------------------------------------

    def outputLoad(
        self,
        func: Any,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Load ``func``'s output for ``params`` (default: the parameters of the last run, also
        for functions that ran only because another needed them). After a ``multi_params``
        run: ``{exp: output}``."""
        current = self._current(func, params)
        if isinstance(current, dict):
            return {
                exp: t.outputLoad(keys=keys, as_dict=as_dict, cached=cached)
                for exp, t in current.items()
            }
        return current.outputLoad(keys=keys, as_dict=as_dict, cached=cached)

    def outputLoadAll(
        self,
        func: Any,
        keys: Any = None,
        as_dict: bool = False,
        cached: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> dict:
        """``{function name: output}`` for ``func`` and everything upstream of it (a function
        run with several parameter sets is keyed by task id); ``{exp: {...}}`` after a
        ``multi_params`` run."""
        current = self._current(func, params)
        if isinstance(current, dict):
            return {exp: load_all(t, keys, as_dict, cached) for exp, t in current.items()}
        return load_all(current, keys, as_dict, cached)

    # -- invalidation ----------------------------------------------------------------------------

    def _run_instances(self, cls: type[Task]) -> list[Task]:
        """Every task of class ``cls`` that ran through this flow, asked for or needed."""
        found: dict[Task, None] = {}
        for root in dict.fromkeys(self._roots):
            found.update((t, None) for t in taskflow_upstream(root) if type(t) is cls)
        return list(found)

    def reset(
        self,
        func: Any,
        params: Mapping[str, Any] | None = None,
        confirm: bool = False,
        upstream: bool = False,
    ) -> bool:
        """Delete the outputs of ``func``: for ``params`` if given, else for every parameter
        set it ran with through this flow (also when it ran only because another function
        needed it). ``upstream=True`` also resets everything those tasks depend on."""
        cls = self._step(func)
        tasks = [cls(**params)] if params is not None else self._run_instances(cls) or [cls()]
        if upstream:
            tasks = [u for t in tasks for u in taskflow_upstream(t)]
        return invalidate_tasks(tasks, confirm, f"resetting {cls.__name__}")

    def resetAll(self, confirm: bool = False) -> bool:
        """Delete the outputs of every task this flow ran (all parameter sets)."""
        tasks = [t for root in dict.fromkeys(self._roots) for t in taskflow_upstream(root)]
        return invalidate_tasks(tasks, confirm, "resetting every task of the flow")

    def delete(self, func: Any, confirm: bool = False) -> list[str]:
        """Delete every saved output of ``func``, for every parameter setting ever run (also in
        earlier sessions): the files of that function in its folder and its in-memory outputs.
        Other functions' outputs are untouched. Returns what was deleted."""
        cls = self._step(func)
        found = _outputs_of_class(cls)
        if confirm and found and not confirm_prompt(f"deleting outputs of {cls.__name__}", found):
            print("Cancelled")
            return []
        for item in found:
            if item in cache.data:
                del cache.data[item]
            else:
                store_for(item).remove(item)
        return found

    def deleteAll(self, confirm: bool = False) -> list[str]:
        """:meth:`delete` for every function of this flow."""
        found = [f for cls in self.steps.values() for f in _outputs_of_class(cls)]
        if confirm and found and not confirm_prompt("deleting outputs of the flow", found):
            print("Cancelled")
            return []
        deleted = []
        for name in self.steps:
            deleted.extend(self.delete(name))
        return deleted


Flow = Workflow  # the class name in early versions of the functional API


def _unwrap(func: Callable) -> Callable:
    return getattr(func, "__wrapped__", func)


def _wrap(func: Callable, cls: type[TaskData] | None) -> Callable:
    """A stand-in for the decorated function: same name and docstring, calls the function, and
    knows its task class (``.task_class``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    if cls is not None:
        wrapper.task_class = cls  # type: ignore[attr-defined]
    return wrapper


def _check_params(params: Mapping[str, Any]) -> None:
    for name, param in params.items():
        if not isinstance(param, Parameter):
            raise TaskDefinitionError(
                f"parameter {name!r}: expected a parameter such as d6tflow.IntParameter("
                f"default=0), got {param!r}"
            )


def _looks_like_multi(cls: type[Task], params: Any) -> bool:
    """A dict of parameter sets passed where one set is expected (the original's examples do)."""
    if not isinstance(params, Mapping) or not params:
        return False
    names = set(cls.get_param_names(include_significant=True))
    return all(isinstance(v, Mapping) for v in params.values()) and not (set(params) & names)


def _outputs_of_class(cls: type[TaskData]) -> list[str]:
    """The files (and in-memory outputs) written by tasks of class ``cls``, any parameters.

    They live in ``<base>/<target_dir or task family>/`` and start with ``<task family>_`` (the
    task id); files there of another class whose name extends this one are left alone.
    """
    owner = f"task class {cls.__name__}"
    # Spelled as a Path spells it, as the keys of in-memory outputs are (CacheTarget.key).
    folder = os.fspath(
        Path(output_folder(cls.path, cls.task_group, cls.target_dir, cls.task_family, owner))
    )
    name = cls.task_family
    with_id = names_with_id(cls)
    longer = [n for n in task_class_names() if n != name and n.startswith(f"{name}_")]

    def mine(filename: str) -> bool:
        if filename.startswith("."):  # temporary files and locks are d6tflow's own
            return False
        if not with_id:
            return True
        return filename.startswith(f"{name}_") and not any(
            filename.startswith(f"{n}_") for n in longer
        )

    found = []
    if os.path.isdir(folder):
        found.extend(os.path.join(folder, f) for f in sorted(os.listdir(folder)) if mine(f))
    found.extend(
        key
        for key in list(cache.data)
        if os.path.dirname(key) == folder and mine(os.path.basename(key))
    )
    return [p for p in found if not Path(p).is_dir()]
