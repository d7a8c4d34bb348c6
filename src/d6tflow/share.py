"""Sharing a flow's definition: FlowExport writes importable task stubs, FlowImport loads them.

A colleague who has your data folder but not your code imports the stubs and loads any output:

>>> d6tflow.FlowExport(flows=flow, save=True, path_export="tasks_d6tpipe.py").generate()
>>> # elsewhere, with the data folder:
>>> from tasks_d6tpipe import TaskTrain
>>> model = TaskTrain().outputLoad()

Each stub is an ``external`` task of the same class name, output type, ``persist``, folder and
parameters (defaults = the exported task's values), so it finds exactly the exported outputs.
The stubs carry no ``run()`` and no ``requires()``.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from d6tflow import params as _params
from d6tflow import tasks as _tasks
from d6tflow.errors import MissingFileError, UsageError
from d6tflow.graph import Graph
from d6tflow.params import ChoiceParameter, FrozenOrderedDict, NumericalParameter, Parameter
from d6tflow.task import Task

__all__ = ["FlowExport", "FlowImport", "dotdict"]

_HEADER = "\nimport d6tflow\nimport datetime\n\n"


class dotdict(dict):  # lowercase: the original's name
    """A dict whose items are also attributes: ``d.key`` is ``d["key"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class FlowExport:
    """Write task stubs for ``tasks`` (instances) and for every task of ``flows`` (Workflows or
    WorkflowMulti: their default task and everything upstream of it).

    ``generate()`` returns the code; with ``save=True`` it also writes it to ``path_export``,
    otherwise it prints it. Tasks with ``export = False`` are left out. One class is written per
    task class: when several tasks of a class are exported (different parameters), the first
    one's values become the defaults; the others load by passing their parameters.
    """

    def __init__(
        self,
        tasks: Task | Iterable[Task] | None = None,
        flows: Any = None,
        save: bool = False,
        path_export: str | os.PathLike = "tasks_d6tpipe.py",
    ):
        self.tasks = _as_list(tasks)
        for task in self.tasks:
            if not isinstance(task, Task):
                hint = " Pass an instance: TaskX()." if isinstance(task, type) else ""
                raise UsageError(f"FlowExport(tasks=...): {task!r} is not a task instance.{hint}")
        self.flows = _as_list(flows)
        self.save = save
        self.path_export = path_export

    def _tasks_to_export(self) -> list[Task]:
        found: list[Task] = list(self.tasks)
        for flow in self.flows:
            for workflow in getattr(flow, "workflow_objs", {"": flow}).values():
                root = workflow.get_task()
                # Upstream tasks first: the file reads from sources to results.
                found.extend(Graph([root]).order)
        by_class: dict[type, Task] = {}
        for task in found:
            if getattr(task, "export", True) and isinstance(task, _tasks.TaskData):
                by_class.setdefault(type(task), task)
        return list(by_class.values())

    def generate(self) -> str:
        """The module's source code (also written to ``path_export`` if ``save``)."""
        code = _HEADER + "".join(_class_code(t) for t in self._tasks_to_export())
        if self.save:
            path = Path(self.path_export)
            if path.parent != Path():
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code, encoding="utf-8")
        else:
            print(code)
        return code


class FlowImport:
    """Import task stubs written by :class:`FlowExport`: ``FlowImport(".", "tasks_d6tpipe")``.

    ``.tasks`` holds the task classes by name (``flow_import.tasks.TaskTrain``). With
    ``path_data``, stubs that do not name their own folder read their outputs from
    ``path_data`` instead of the data folder (``d6tflow.set_dir``).
    """

    def __init__(
        self,
        path: str | os.PathLike = ".",
        module: str = "tasks_d6tpipe",
        path_data: str | os.PathLike | None = None,
    ):
        file = Path(path) / (module if module.endswith(".py") else f"{module}.py")
        if not file.exists():
            raise MissingFileError(
                f"FlowImport: {file} does not exist; write it with "
                "d6tflow.FlowExport(..., save=True).generate()"
            )
        name = f"d6tflow_import_{Path(module).stem}_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[name] = self.module
        spec.loader.exec_module(self.module)
        self.dirpath = Path(path_data) if path_data is not None else None
        self.tasks = dotdict(
            {
                key: value
                for key, value in vars(self.module).items()
                if isinstance(value, type)
                and issubclass(value, Task)
                and value.__module__ == self.module.__name__
            }
        )
        if self.dirpath is not None:
            for cls in self.tasks.values():
                if cls.path is None:
                    cls.path = os.fspath(self.dirpath)


def _as_list(items: Any) -> list[Any]:
    if items is None:
        return []
    return list(items) if isinstance(items, (list, tuple)) else [items]


def _base_class(cls: type) -> type:
    """The d6tflow task flavour the class derives from (``TaskPqPandas``, …)."""
    for klass in cls.__mro__:
        if getattr(_tasks, klass.__name__, None) is klass:
            return klass
    return _tasks.TaskData


def _class_code(task: Task) -> str:
    cls = type(task)
    base = _base_class(cls)
    lines = [f"class {cls.__name__}(d6tflow.tasks.{base.__name__}):", "    external=True"]
    lines.append(f"    persist={list(task.persist)!r}")
    fmt = getattr(cls, "format", None)
    if fmt != getattr(base, "format", None) and isinstance(fmt, str):
        lines.append(f"    format={json.dumps(fmt)}")
    if getattr(cls, "target_class", None) is not getattr(base, "target_class", None):
        target = cls.target_class
        lines.append(
            f"    # outputs are read by {target.__module__}.{target.__qualname__}: set "
            "target_class to it"
        )
    if getattr(task, "pipename", None) is not None:
        lines.append(f"    pipename={task.pipename!r}")
    if task.path is not None:
        path = str(task.path)  # a URL stays as it is; a local path in its normal form
        lines.append(f"    path={json.dumps(path if '://' in path else str(Path(path)))}")
    if getattr(task, "task_group", None) is not None:
        lines.append(f"    task_group={json.dumps(str(task.task_group))}")
    if getattr(cls, "target_dir", None) is not None:
        lines.append(f"    target_dir={json.dumps(str(cls.target_dir))}")
    if getattr(cls, "save_attrib", True) is False:
        lines.append("    save_attrib=False")
    in_id = task.to_str_params(only_significant=True, only_public=True)
    for name, param in cls.get_params():
        lines.append(f"    {name}={_param_code(param, task.param_kwargs[name], name in in_id)}")
    return "\n".join(lines) + "\n\n"


def _literal(value: Any) -> str:
    """Python source for a parameter value (dicts kept by parameters as frozen mappings)."""
    if isinstance(value, FrozenOrderedDict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _extra_args(param: Parameter) -> str:
    """Constructor arguments a parameter class needs besides the default."""
    simple_types = {int: "int", float: "float", str: "str"}
    if isinstance(param, ChoiceParameter):
        args = f", choices={sorted(param.choices, key=repr)!r}"
        if param.var_type is not str and param.var_type in simple_types:
            args += f", var_type={simple_types[param.var_type]}"
        return args
    if isinstance(param, NumericalParameter):
        args = f", min_value={param.min_value!r}, max_value={param.max_value!r}"
        if param.var_type in simple_types:
            args += f", var_type={simple_types[param.var_type]}"
        return args
    return ""


def _param_code(param: Parameter, value: Any, in_task_id: bool) -> str:
    """``d6tflow.<Type>(default=<value>)``, checked to serialize as the original does (so the
    stub computes the same task id); otherwise a plain Parameter holding the serialized text."""
    serialized = "None" if value is None else param.serialize(value)
    tail = "" if in_task_id else ", significant=False"
    kind = type(param).__name__
    candidates = []
    # The stub says d6tflow.<kind>: every public parameter class of params is one of d6tflow's.
    if not kind.startswith("_") and getattr(_params, kind, None) is type(param):
        extra = _extra_args(param)
        candidates.append(f"d6tflow.{kind}(default={_literal(value)}{extra}{tail})")
        candidates.append(f"d6tflow.{kind}(default={serialized!r}{extra}{tail})")
    for code in candidates:
        if _round_trips(code, value, serialized):
            return code
    return f"d6tflow.Parameter(default={serialized!r}{tail})"


def _round_trips(code: str, value: Any, serialized: str) -> bool:
    try:
        param = eval(code, {"d6tflow": _params, "datetime": datetime})
        default = param.default
        if value is None:
            return default is None
        return param.serialize(param.normalize(default)) == serialized
    except Exception:
        return False
